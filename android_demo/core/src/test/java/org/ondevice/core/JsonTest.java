package org.ondevice.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {
    @Test
    @SuppressWarnings("unchecked")
    public void readsValuesAndEscapes() {
        Map<String, Object> m = (Map<String, Object>) Json.parse(
                "{\"a\": [1, -2.5e3, true, null], \"s\": \"q\\\"\\\\\\/\\n\\u00e9\\ud83d\\ude00\", \"big\": 12345678901234}");
        assertEquals(Arrays.asList(1L, -2500.0, true, null), m.get("a"));
        assertEquals("q\"\\/\n\u00e9\ud83d\ude00", m.get("s"));
        assertEquals(12345678901234L, m.get("big"));
    }

    @Test
    public void badTextNamesTheOffset() {
        for (String bad : new String[] {"{\"a\": }", "[1, 2", "{\"a\" 1}", "\"abc", "[1] x", "{\"a\": tru}"}) {
            try {
                Json.parse(bad);
                fail("accepted " + bad);
            } catch (Json.JsonException e) {
                assertTrue(e.getMessage(), e.getMessage().matches(".* at offset \\d+"));
            }
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    public void writesWhatItReads() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", "tab\there \"quoted\"");
        m.put("values", Arrays.asList(1L, 2.5, null, false));
        m.put("nested", new LinkedHashMap<String, Object>());
        Map<String, Object> back = (Map<String, Object>) Json.parse(Json.write(m));
        assertEquals(m, back);
        assertNull(((List<Object>) back.get("values")).get(2));
    }
}
