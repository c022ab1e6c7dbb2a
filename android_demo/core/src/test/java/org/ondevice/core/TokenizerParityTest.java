package org.ondevice.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.BeforeClass;
import org.junit.Test;

/** The Java tokenizer against the ids the Python tokenizer gave for the same texts, read from the same bundle. */
public class TokenizerParityTest {
    private static Bundle bundle;

    @BeforeClass
    public static void open() throws Exception {
        bundle = Bundle.open(new DirectorySource(Golden.bundle()));
    }

    private static void check(String golden) throws Exception {
        check(golden, bundle);
    }

    /** Every record: the untruncated ids, and ids + mask at the length Python picked from the bundle's lengths. */
    private static void check(String golden, Bundle bundle) throws Exception {
        Tokenizer tok = bundle.tokenizer();
        List<Integer> seqLens = bundle.manifest().seqLens;
        List<String> failures = new ArrayList<>();
        int n = 0;
        for (Map<String, Object> rec : Golden.lines(golden)) {
            n++;
            String text = (String) rec.get("text");
            int[] full = Golden.ints(rec.get("full_ids"));
            int[] ids = tok.ids(text);
            if (!Arrays.equals(full, ids)) {
                failures.add(Golden.show(text) + "\n    python " + Arrays.toString(full) + "\n    java   "
                        + Arrays.toString(ids));
            } else if (rec.containsKey("seq_len")) {
                Tokenizer.Encoding e = tok.encode(text, seqLens);
                int seqLen = ((Long) rec.get("seq_len")).intValue();
                if (e.seqLen != seqLen
                        || !Arrays.equals(Golden.ints(rec.get("input_ids")), e.inputIds)
                        || !Arrays.equals(Golden.ints(rec.get("attention_mask")), e.attentionMask)) {
                    failures.add(Golden.show(text) + "\n    python length " + seqLen + " " + rec.get("input_ids")
                            + "\n    java   length " + e.seqLen + " " + Arrays.toString(e.inputIds));
                }
            }
            if (failures.size() >= 10) {
                break;
            }
        }
        assertTrue(golden + ": " + failures.size() + " of the first " + n + " texts differ:\n"
                + String.join("\n", failures), failures.isEmpty());
    }

    @Test
    public void sst2DevSentences() throws Exception {
        check("tokens_sst2.jsonl");
    }

    @Test
    public void hardCases() throws Exception {
        check("tokens_hard.jsonl");
    }

    @Test
    public void everyCodePoint() throws Exception {
        check("tokens_codepoints.jsonl");
    }

    /** Bundles whose tokenizer.json keeps case, or lower-cases but keeps accents. */
    private static void checkVariant(String variant) throws Exception {
        Bundle b = Bundle.open(new DirectorySource(new java.io.File(Golden.dir(), "bundle-" + variant)));
        check("tokens_hard_" + variant + ".jsonl", b);
        check("tokens_codepoints_" + variant + ".jsonl", b);
    }

    @Test
    public void casedTokenizer() throws Exception {
        checkVariant("cased");
    }

    @Test
    public void lowercaseKeepingAccents() throws Exception {
        checkVariant("keep_accents");
    }

    @Test
    public void truncationKeepsSepLast() {
        WordPieceTokenizer tok = (WordPieceTokenizer) bundle.tokenizer();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 500; i++) {
            sb.append("word ");
        }
        WordPieceTokenizer.Encoding e = tok.encode(sb.toString(), 16);
        assertEquals(16, e.inputIds.length);
        assertEquals(tok.settings().clsId, e.inputIds[0]);
        assertEquals(tok.settings().sepId, e.inputIds[15]);
        assertEquals(502, e.tokens);
        assertTrue(e.truncated());
        int[] ones = new int[16];
        Arrays.fill(ones, 1);
        assertTrue(Arrays.equals(ones, e.attentionMask));
    }

    @Test
    public void smallestLengthThatFits() {
        List<Integer> lens = Arrays.asList(64, 16, 32);
        assertEquals(16, WordPieceTokenizer.pickLength(lens, 2));
        assertEquals(16, WordPieceTokenizer.pickLength(lens, 16));
        assertEquals(32, WordPieceTokenizer.pickLength(lens, 17));
        assertEquals(64, WordPieceTokenizer.pickLength(lens, 1000));
    }
}
