package org.ondevice.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * Pairs of texts: longest-first truncation, BERT's template for a vocab.txt alone, and what the manifest says about
 * pairs and token types. Parity with Python on real tokenizers is tests/android/test_java_tokenizers.py.
 */
public class PairEncodingTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    @Test
    public void longestFirstKeepsWhatTokenizersKeeps() {
        // {first, second, budget, kept of first, kept of second}, from tokenizers 0.23 on word-level texts.
        int[][] cases = {
            {3, 2, 5, 3, 2}, // both fit
            {10, 2, 6, 4, 2}, // only the longer is cut
            {2, 10, 6, 2, 4},
            {10, 9, 6, 3, 3}, // both are cut to half
            {10, 9, 7, 4, 3}, // an odd budget: the longer gets the extra token
            {9, 10, 7, 3, 4},
            {5, 5, 7, 3, 4}, // equal lengths: the second gets it
            {3, 2, 2, 1, 1},
            {3, 2, 1, 1, 0},
            {3, 2, 0, 0, 0},
        };
        for (int[] c : cases) {
            assertArrayEquals(Arrays.toString(c), new int[] {c[3], c[4]}, PairTemplate.keep(c[0], c[1], c[2]));
        }
    }

    private static WordPieceTokenizer vocabTxtOnly() {
        Map<String, Integer> vocab = new HashMap<>();
        String[] tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b"};
        for (int i = 0; i < tokens.length; i++) {
            vocab.put(tokens[i], i);
        }
        WordPieceTokenizer.Settings s = new WordPieceTokenizer.Settings();
        s.padId = 0;
        s.unkId = 1;
        s.clsId = 2;
        s.sepId = 3;
        return new WordPieceTokenizer(vocab, s, java.util.Collections.<WordPieceTokenizer.AddedToken>emptyList());
    }

    @Test
    public void vocabTxtAloneGetsBertsTemplate() {
        WordPieceTokenizer tok = vocabTxtOnly();
        Tokenizer.Encoding e = tok.encodePair("a a", "b", 8);
        assertArrayEquals(new int[] {2, 4, 4, 3, 5, 3, 0, 0}, e.inputIds);
        assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1, 0, 0}, e.attentionMask);
        assertArrayEquals(new int[] {0, 0, 0, 0, 1, 1, 0, 0}, e.tokenTypeIds);
        assertEquals(6, e.tokens);
        // Too long: the longer text is cut, the separators stay.
        e = tok.encodePair("a a a a", "b", 6);
        assertArrayEquals(new int[] {2, 4, 4, 3, 5, 3}, e.inputIds);
        assertTrue(e.truncated());
        // The length is chosen for the untruncated pair.
        assertEquals(16, tok.encodePair("a a a a", "b", Arrays.asList(6, 16, 32)).seqLen);
    }

    @Test
    public void aLengthWithoutRoomForTheSpecialTokensIsRefused() {
        try {
            vocabTxtOnly().encodePair("a", "b", 2);
            fail("a pair was put into 2 tokens");
        } catch (IllegalArgumentException e) {
            assertEquals("a sequence length must hold the pair's 3 special tokens, got 2", e.getMessage());
        }
    }

    /** A copy of the golden bundle whose manifest's tokenizer section carries {@code key: value}. */
    @SuppressWarnings("unchecked")
    private File bundleWith(String key, Object value) throws Exception {
        return bundleWith(m -> ((Map<String, Object>) m.get("tokenizer")).put(key, value));
    }

    /** A copy of the golden bundle with its manifest changed by {@code change}. */
    @SuppressWarnings("unchecked")
    private File bundleWith(java.util.function.Consumer<Map<String, Object>> change) throws Exception {
        File dir = tmp.newFolder();
        for (File f : Golden.bundle().listFiles()) {
            Files.copy(f.toPath(), new File(dir, f.getName()).toPath(), StandardCopyOption.REPLACE_EXISTING);
        }
        File m = new File(dir, Manifest.FILE);
        Map<String, Object> manifest =
                (Map<String, Object>) Json.parse(new String(Files.readAllBytes(m.toPath()), StandardCharsets.UTF_8));
        change.accept(manifest);
        Files.write(m.toPath(), Json.write(manifest).getBytes(StandardCharsets.UTF_8));
        return dir;
    }

    /** Every artifact of the manifest takes these inputs, in this order. */
    @SuppressWarnings("unchecked")
    private File bundleTaking(String... names) throws Exception {
        return bundleWith(m -> {
            for (Object a : (List<Object>) m.get("artifacts")) {
                List<Object> inputs = new java.util.ArrayList<>();
                for (String name : names) {
                    Map<String, Object> input = new HashMap<>();
                    input.put("name", name);
                    input.put("dtype", "int32");
                    inputs.add(input);
                }
                ((Map<String, Object>) a).put("inputs", inputs);
            }
        });
    }

    @Test
    public void theModelGetsTheInputsItsManifestLists() throws Exception {
        int[] ids = {1};
        int[] mask = {2};
        int[] types = {3};
        Flat two = new Flat(Golden.bundle());
        two.load();
        assertArrayEquals(new int[][] {ids, mask}, two.inputs(ids, mask, types));
        Flat three = new Flat(bundleTaking("token_type_ids", "input_ids", "attention_mask"));
        three.load();
        assertArrayEquals(new int[][] {types, ids, mask}, three.inputs(ids, mask, types));
        try {
            new Flat(bundleTaking("input_ids", "attention_mask", "position_ids")).load();
            fail("an input the app does not make was accepted");
        } catch (BundleException e) {
            assertTrue(e.getMessage(), e.getMessage().endsWith(" takes an input position_ids that this app does not"
                    + " make (it makes input_ids, attention_mask, token_type_ids): update the app"));
        }
    }

    /** A classifier of the bundle whose model gives one logit per label, all 0, and keeps the last input. */
    private static final class Flat extends BundleClassifier {
        int[] lastTypes;

        Flat(File dir) throws Exception {
            super(new DirectorySource(dir), format(), null);
        }

        @SuppressWarnings("unchecked")
        private static String format() throws Exception {
            File facts = new File(Golden.dir(), "bundle_facts.json");
            String text = new String(Files.readAllBytes(facts.toPath()), StandardCharsets.UTF_8);
            return Json.string((Map<String, Object>) Json.parse(text), "format");
        }

        @Override
        protected void openModel(Bundle bundle, Manifest.Artifact artifact) {}

        @Override
        protected float[] run(int[] inputIds, int[] attentionMask, int[] tokenTypeIds, int seqLen) {
            lastTypes = tokenTypeIds;
            return new float[bundle().labels().size()];
        }

        @Override
        protected void closeModel() {}
    }

    @Test
    public void theManifestSaysWhetherTheModelTakesPairs() throws Exception {
        Bundle plain = Bundle.open(new DirectorySource(Golden.bundle()));
        assertFalse(plain.manifest().textPair); // older bundles have neither setting
        assertFalse(plain.manifest().tokenTypeIds);
        Flat one = new Flat(Golden.bundle());
        one.load();
        try {
            one.classifyPair("a premise", "a hypothesis");
            fail("a pair was classified by a model of one text");
        } catch (BundleException e) {
            assertEquals("this model classifies one text, not a pair: its ondevice.json does not say text_pair",
                    e.getMessage());
        }
        Flat pair = new Flat(bundleWith("text_pair", true));
        pair.load();
        List<Result> results = pair.classifyPair("a premise", "and a hypothesis");
        assertEquals(pair.bundle().labels().size(), results.size());
        // The model got the pair's token types: BERT's, 1 for the second text.
        Tokenizer.Encoding e = pair.encodePair("a premise", "and a hypothesis");
        assertArrayEquals(e.tokenTypeIds, pair.lastTypes);
        assertEquals(1, e.tokenTypeIds[e.tokens - 1]);
        assertTrue(Bundle.open(new DirectorySource(bundleWith("token_type_ids", true))).manifest().tokenTypeIds);
    }

    @Test
    public void aSettingThatIsNotTrueOrFalseIsRefused() throws Exception {
        try {
            Bundle.open(new DirectorySource(bundleWith("text_pair", "yes")));
            fail("text_pair \"yes\" was accepted");
        } catch (BundleException e) {
            assertEquals("ondevice.json: tokenizer.text_pair must be true or false, not a string; export the bundle"
                    + " again", e.getMessage());
        }
    }
}
