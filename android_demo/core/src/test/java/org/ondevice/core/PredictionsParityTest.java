package org.ondevice.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** Labels and probabilities from logits, against the Python side's; and latency figures against numpy's. */
public class PredictionsParityTest {
    @Test
    public void labelsAndProbabilities() throws Exception {
        List<String> failures = new ArrayList<>();
        List<Map<String, Object>> records = Golden.lines("softmax.jsonl");
        for (Map<String, Object> rec : records) {
            float[] logits = Golden.floats(Json.array(rec, "logits"));
            List<String> labels = Json.strings(rec, "labels");
            List<Result> results = Predictions.rank(logits, labels);
            List<Object> expected = Json.array(rec, "probabilities");
            String label = Json.string(rec, "label");
            if (!results.get(0).label().equals(label)) {
                failures.add(rec.get("logits") + ": python " + label + ", java " + results.get(0).label());
                continue;
            }
            for (Result r : results) {
                double want = ((Number) expected.get(r.index())).doubleValue();
                if (Math.abs(r.probability() - want) > 1e-12 || !r.label().equals(labels.get(r.index()))) {
                    failures.add(rec.get("logits") + ": " + r.label() + " python " + want + ", java "
                            + r.probability());
                }
            }
        }
        assertTrue(failures.size() + " of " + records.size() + " differ:\n" + String.join("\n", failures),
                failures.isEmpty());
        assertTrue("too few records to mean anything", records.size() >= 200);
    }

    @Test
    public void resultsAreOrderedAndImmutable() {
        List<Result> r = Predictions.rank(new float[] {0.5f, 2f, 2f}, java.util.Arrays.asList("a", "b", "c"));
        assertEquals("b", r.get(0).label());
        assertEquals("c", r.get(1).label());
        assertEquals("a", r.get(2).label());
        assertEquals(1.0, r.get(0).probability() + r.get(1).probability() + r.get(2).probability(), 1e-12);
        try {
            r.add(r.get(0));
            throw new AssertionError("results must not be modifiable");
        } catch (UnsupportedOperationException expected) {
            // as it should be
        }
    }

    @Test
    public void wrongNumberOfLogitsIsRefusedWithTheReason() {
        try {
            Predictions.rank(new float[] {1f, 2f}, java.util.Arrays.asList("a", "b", "c"));
            throw new AssertionError("expected a refusal");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("2 logits for 3 labels"));
        }
    }

    @Test
    public void latencyFiguresMatchNumpy() throws Exception {
        List<Map<String, Object>> records = Golden.lines("latency.jsonl");
        for (Map<String, Object> rec : records) {
            List<Object> values = Json.array(rec, "samples_ms");
            double[] samples = new double[values.size()];
            for (int i = 0; i < samples.length; i++) {
                samples[i] = ((Number) values.get(i)).doubleValue();
            }
            LatencyStats s = LatencyStats.of(samples);
            String where = samples.length + " samples";
            assertEquals(where + " p50", number(rec, "p50_ms"), s.p50, 1e-9 * Math.abs(s.p50));
            assertEquals(where + " p90", number(rec, "p90_ms"), s.p90, 1e-9 * Math.abs(s.p90));
            assertEquals(where + " p99", number(rec, "p99_ms"), s.p99, 1e-9 * Math.abs(s.p99));
            assertEquals(where + " mean", number(rec, "mean_ms"), s.mean, 1e-9 * Math.abs(s.mean));
            assertEquals(where + " std", number(rec, "std_ms"), s.std, 1e-9 * Math.abs(s.mean));
        }
    }

    private static double number(Map<String, Object> rec, String key) {
        return ((Number) rec.get(key)).doubleValue();
    }
}
