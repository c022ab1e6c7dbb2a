package org.ondevice.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** The record's shape is the one `ondevice profile` reads (schema "ondevice.profile", version 1). */
public class BenchmarkRecordTest {
    @Test
    public void peakMemoryFromProcStatus() {
        String status = "Name:\tjava\nVmPeak:\t 1000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t 100 kB\n";
        assertEquals(Long.valueOf(20480L * 1024), BenchmarkRecord.peakRssBytes(status));
        assertNull(BenchmarkRecord.peakRssBytes("Name:\tjava\n"));
    }

    private static Map<String, Object> section(Object... keyValues) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            m.put((String) keyValues[i], keyValues[i + 1]);
        }
        return m;
    }

    @Test
    @SuppressWarnings("unchecked")
    public void completeRecord() {
        Map<String, Object> r = BenchmarkRecord.build("2026-11-23T13:00:00+00:00", false,
                section("path", "ondevice/model.int8-dynamic.pte", "format", "executorch", "sha256", "ab", "size_bytes",
                        10L),
                section("name", BenchmarkRecord.TARGET), section("model", "Pixel"), section("name", "executorch"),
                section("threads", 2L, "warmup", 3L, "runs", 4L), new double[] {4, 1, 3, 2}, 12.5, 7.25, null,
                new float[] {0.5f, -1f});
        Map<String, Object> back = (Map<String, Object>) Json.parse(Json.write(r));
        assertEquals(Arrays.asList("schema", "schema_version", "created", "complete", "incomplete_reason", "emulated",
                "artifact", "target", "device", "runtime", "settings", "timing", "memory", "operators", "outputs"),
                Arrays.asList(back.keySet().toArray(new String[0])));
        assertEquals("ondevice.profile", back.get("schema"));
        assertEquals(1L, back.get("schema_version"));
        assertEquals(true, back.get("complete"));
        Map<String, Object> t = (Map<String, Object>) back.get("timing");
        assertEquals(Arrays.asList("load_ms", "first_inference_ms", "samples_ms", "p50_ms", "p90_ms", "p99_ms",
                "mean_ms", "std_ms", "min_ms", "max_ms"), Arrays.asList(t.keySet().toArray(new String[0])));
        assertEquals(4, ((List<Object>) t.get("samples_ms")).size());
        assertEquals(2.5, (Double) t.get("p50_ms"), 0);
        assertEquals(2.5, (Double) t.get("mean_ms"), 0);
        assertEquals(1.0, (Double) t.get("min_ms"), 0);
        assertEquals(4.0, (Double) t.get("max_ms"), 0);
        assertEquals(12.5, (Double) t.get("load_ms"), 0);
        assertTrue(((Map<String, Object>) back.get("memory")).containsKey("peak_rss_bytes"));
        assertEquals(Arrays.asList(0.5, -1.0), ((Map<String, Object>) back.get("outputs")).get("logits"));
    }

    @Test
    public void failureSaysWhy() {
        Map<String, Object> r = BenchmarkRecord.failure("2026-11-23T13:00:00+00:00", "no such model");
        assertEquals(false, r.get("complete"));
        assertEquals("no such model", r.get("incomplete_reason"));
        assertEquals("no such model", r.get("error"));
    }
}
