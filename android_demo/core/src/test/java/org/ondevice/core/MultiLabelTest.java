package org.ondevice.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * Multi-label post-processing and the manifest's problem_type and thresholds, with the rules of the Python side's
 * {@code ondevice.manifest}: thresholds, one number in (0, 1) per label, are required for a multi-label bundle and
 * refused for any other. The manifest cases start from the golden bundle's own manifest, made multi-label.
 */
public class MultiLabelTest {
    private static final List<String> ABC = Arrays.asList("a", "b", "c");

    @Test
    public void eachLabelAppliesAboveItsOwnThreshold() {
        // sigmoid: 0.5, 0.881, 0.047; a needs more than 0.5, b more than 0.9, c more than 0.01
        List<Result> r = Predictions.rankMultiLabel(new float[] {0f, 2f, -3f}, ABC, Arrays.asList(0.5, 0.9, 0.01));
        assertEquals("b", r.get(0).label()); // most probable first, even though it does not apply
        assertEquals(Arrays.asList("c"), Predictions.applying(r));
        double sum = 0;
        for (Result x : r) {
            sum += x.probability();
        }
        assertTrue("sigmoids, not a softmax", sum > 1.4);
        List<Result> none = Predictions.rankMultiLabel(new float[] {-9f, -9f, -9f}, ABC, Arrays.asList(0.5, 0.5, 0.5));
        assertTrue(Predictions.applying(none).isEmpty());
        // single-label: the top label alone applies
        assertEquals(Arrays.asList("b"), Predictions.applying(Predictions.rank(new float[] {0f, 2f, -3f}, ABC)));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> golden() throws Exception {
        File f = new File(Golden.bundle(), Manifest.FILE);
        return (Map<String, Object>) Json.parse(new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8));
    }

    private static String refusal(Map<String, Object> m) {
        try {
            Manifest.parse(Json.write(m));
        } catch (BundleException e) {
            return e.getMessage();
        }
        fail("accepted: " + m.get("problem_type") + " " + m.get("thresholds"));
        return null;
    }

    @Test
    public void manifestReadsProblemTypeAndThresholds() throws Exception {
        Map<String, Object> m = golden();
        int k = Manifest.parse(Json.write(m)).labels.size();
        List<Object> halves = new ArrayList<>();
        for (int i = 0; i < k; i++) {
            halves.add(0.5);
        }
        m.put("problem_type", Manifest.MULTI_LABEL);
        m.put("thresholds", halves);
        Manifest parsed = Manifest.parse(Json.write(m));
        assertTrue(parsed.multiLabel);
        assertEquals(k, parsed.thresholds.size());
        m.put("thresholds", new ArrayList<Object>(halves.subList(1, k)));
        assertEquals("ondevice.json: thresholds lists " + (k - 1) + " thresholds for the " + k
                + " labels; export the bundle again", refusal(m));
        List<Object> bad = new ArrayList<>(halves);
        bad.set(1, 1L);
        m.put("thresholds", bad);
        assertTrue(refusal(m), refusal(m).startsWith("ondevice.json: thresholds[1] must be a number between 0 and 1"));
        bad.set(1, "0.5");
        assertTrue(refusal(m), refusal(m).contains("thresholds[1] must be a number between 0 and 1 (exclusive), not"));
        m.remove("thresholds");
        assertEquals("ondevice.json: thresholds is missing; export the bundle again", refusal(m));
        m.put("thresholds", halves);
        m.put("problem_type", "regression");
        assertTrue(refusal(m), refusal(m).startsWith("ondevice.json: problem_type must be single_label_classification"));
        m.put("problem_type", Manifest.SINGLE_LABEL);
        assertTrue(refusal(m), refusal(m).contains("thresholds apply to multi_label_classification only"));
        m.remove("thresholds");
        assertFalse(Manifest.parse(Json.write(m)).multiLabel);
        m.remove("problem_type"); // written before multi-label: single-label
        assertFalse(Manifest.parse(Json.write(m)).multiLabel);
    }
}
