package org.ondevice.core;

import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * The app's classification path on a real exported bundle against the Python side's {@code ondevice.Classifier}:
 * {@link Bundle#open}, {@link BundleClassifier#encode} at the length it picks, and {@link Predictions} (for a
 * multi-label bundle, sigmoid scores and the labels above their thresholds). The JVM has no
 * ExecuTorch or LiteRT, so the model's part is the logits the Python side got from the bundle's artifact for the
 * ids it made (classify.jsonl); a text that Java encodes otherwise finds no logits and fails.
 */
public class ClassifierParityTest {
    /**
     * Python's probabilities come from a float32 softmax (a float64 sigmoid for a multi-label bundle); the core's are
     * in double precision.
     */
    private static final double FLOAT32_SOFTMAX = 1e-6;

    /** A BundleClassifier whose model is the table of logits Python recorded, by input. */
    static final class Recorded extends BundleClassifier {
        private final Map<String, float[]> logits = new HashMap<>();

        Recorded(String format) {
            super(new DirectorySource(Golden.bundle()), format, null);
        }

        static String key(int[] ids, int[] mask, int[] types, int seqLen) {
            return seqLen + " " + Arrays.toString(ids) + Arrays.toString(mask) + Arrays.toString(types);
        }

        void record(int[] ids, int[] mask, int[] types, float[] values) {
            logits.put(key(ids, mask, types, ids.length), values);
        }

        @Override
        protected void openModel(Bundle bundle, Manifest.Artifact artifact) {}

        @Override
        protected float[] run(int[] inputIds, int[] attentionMask, int[] tokenTypeIds, int seqLen)
                throws BundleException {
            float[] out = logits.get(key(inputIds, attentionMask, tokenTypeIds, seqLen));
            if (out == null) {
                throw new BundleException("no logits: the Python side gave the model other inputs");
            }
            return out;
        }

        @Override
        protected void closeModel() {}
    }

    @Test
    public void labelsAndScoresEqualPython() throws Exception {
        List<Map<String, Object>> records = Golden.lines("classify.jsonl");
        Recorded classifier = new Recorded(Json.string(records.get(0), "format"));
        for (Map<String, Object> rec : records) {
            classifier.record(Golden.ints(rec.get("input_ids")), Golden.ints(rec.get("attention_mask")),
                    Golden.ints(rec.get("token_type_ids")), Golden.floats(Json.array(rec, "logits")));
        }
        classifier.load();
        List<String> failures = new ArrayList<>();
        for (Map<String, Object> rec : records) {
            String text = Json.string(rec, "text");
            Object pair = rec.get("text_pair");
            String where = Golden.show(text) + (pair == null ? "" : " | " + Golden.show((String) pair));
            Tokenizer.Encoding e = pair == null ? classifier.encode(text) : classifier.encodePair(text, (String) pair);
            if (e.seqLen != (int) Json.integer(rec, "seq_len")
                    || !Arrays.equals(e.inputIds, Golden.ints(rec.get("input_ids")))
                    || !Arrays.equals(e.attentionMask, Golden.ints(rec.get("attention_mask")))
                    || !Arrays.equals(e.tokenTypeIds, Golden.ints(rec.get("token_type_ids")))) {
                failures.add(where + ": other inputs at length " + e.seqLen + " (python " + rec.get("seq_len") + ")");
                continue;
            }
            List<Result> results =
                    pair == null ? classifier.classify(text) : classifier.classifyPair(text, (String) pair);
            List<Object> scores = Json.array(rec, "scores");
            if (!results.get(0).label().equals(Json.string(rec, "label"))) {
                failures.add(where + ": python " + rec.get("label") + ", java " + results.get(0).label());
            }
            // A multi-label bundle: the labels above their thresholds, perhaps none.
            List<String> applying = Predictions.applying(results);
            if (classifier.bundle().manifest().multiLabel && !applying.equals(Json.strings(rec, "labels"))) {
                failures.add(where + ": python applies " + rec.get("labels") + ", java " + applying);
            }
            for (Result r : results) {
                double want = ((Number) scores.get(r.index())).doubleValue();
                if (Math.abs(r.probability() - want) > FLOAT32_SOFTMAX) {
                    failures.add(where + ": " + r.label() + " python " + want + ", java " + r.probability());
                }
            }
        }
        classifier.close();
        assertTrue(failures.size() + " of " + records.size() + " differ:\n"
                + String.join("\n", failures.subList(0, Math.min(20, failures.size()))), failures.isEmpty());
        assertTrue("too few records to mean anything", records.size() >= 100);
    }
}
