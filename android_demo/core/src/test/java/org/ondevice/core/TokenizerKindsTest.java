package org.ondevice.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import org.junit.Test;

/**
 * The byte-level BPE and Unigram tokenizers on small hand-made tokenizer.json files: merge order, Viterbi, unknown
 * pieces, the GPT-2 split, grapheme clusters, truncation and refusals. Parity with Python on real tokenizers is
 * tests/android/test_java_tokenizers.py, through tokenize.sh.
 */
public class TokenizerKindsTest {
    private static final String ROBERTA_PP = "{\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 2],"
            + " \"cls\": [\"<s>\", 0], \"trim_offsets\": true, \"add_prefix_space\": false}";
    private static final String ADDED = "[{\"id\": 0, \"content\": \"<s>\"}, {\"id\": 1, \"content\": \"<pad>\"},"
            + " {\"id\": 2, \"content\": \"</s>\"}, {\"id\": 3, \"content\": \"<unk>\"}]";

    static String bpe(String merges) {
        return "{\"added_tokens\": " + ADDED + ", \"normalizer\": null,"
                + " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true},"
                + " \"post_processor\": " + ROBERTA_PP + ","
                + " \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null,"
                + " \"vocab\": {\"<s>\": 0, \"<pad>\": 1, \"</s>\": 2, \"<unk>\": 3, \"a\": 4, \"b\": 5, \"c\": 6,"
                + " \"ab\": 7, \"bc\": 8, \"abc\": 9, \"\\u0120\": 10, \"\\u0120a\": 11},"
                + " \"merges\": " + merges + "}}";
    }

    private static String unigram(String preTokenizer) {
        return "{\"added_tokens\": " + ADDED + ", \"normalizer\": null, \"pre_tokenizer\": " + preTokenizer + ","
                + " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\":"
                + " \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\":"
                + " {\"id\": \"</s>\", \"type_id\": 0}}], \"pair\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
                + " {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\","
                + " \"ids\": [0], \"tokens\": [\"<s>\"]}, \"</s>\": {\"id\": \"</s>\", \"ids\": [2],"
                + " \"tokens\": [\"</s>\"]}}},"
                + " \"model\": {\"type\": \"Unigram\", \"unk_id\": 3, \"byte_fallback\": false, \"vocab\": [[\"<s>\","
                + " 0.0], [\"<pad>\", 0.0], [\"</s>\", 0.0], [\"<unk>\", 0.0], [\"\\u2581a\", -1.0], [\"b\", -2.0],"
                + " [\"\\u2581ab\", -2.5], [\"\\u2581\", -3.0], [\"a\", -4.0]]}}";
    }

    private static final String METASPACE = "{\"type\": \"Metaspace\", \"replacement\": \"\\u2581\","
            + " \"prepend_scheme\": \"always\", \"split\": true}";

    @Test
    public void mergesApplyLowestRankFirst() throws Exception {
        // "b c" ranks first, so "abc" is a + bc, then a bc; "a b" alone would give ab + c.
        Tokenizer strings = TokenizerJson.read(bpe("[\"b c\", \"a b\", \"a bc\"]"));
        assertArrayEquals(new int[] {0, 9, 2}, strings.ids("abc"));
        // "a b" first: ab + c, which no merge joins although "abc" is in the vocabulary.
        Tokenizer pairs = TokenizerJson.read(bpe("[[\"a\", \"b\"], [\"b\", \"c\"]]"));
        assertArrayEquals(new int[] {0, 7, 6, 2}, pairs.ids("abc"));
        // Bytes with no vocabulary entry and no unk token are dropped, as the library drops them.
        assertArrayEquals(new int[] {0, 10, 4, 2}, strings.ids(" a\u00e9")); // no merge joins Ġ and a
        assertEquals(1, strings.padId());
    }

    @Test
    public void gpt2SplitKeepsTheLastSpaceForTheNextWord() {
        assertEquals(Arrays.asList("a", " ", " b", "   "), ByteLevelBpeTokenizer.splitGpt2("a  b   "));
        assertEquals(Arrays.asList("it", "'s", " ", " a", "'ll", "!?", " 42", " \u00e9t\u00e9"),
                ByteLevelBpeTokenizer.splitGpt2("it's  a'll!? 42 \u00e9t\u00e9"));
        assertEquals(Arrays.asList(" ", "\n", "x"), ByteLevelBpeTokenizer.splitGpt2(" \nx"));
    }

    @Test
    public void viterbiPicksTheBestPathAndFusesUnknowns() throws Exception {
        Tokenizer tok = TokenizerJson.read(unigram(METASPACE));
        assertArrayEquals(new int[] {0, 6, 2}, tok.ids("ab")); // ▁ab (-2.5) beats ▁a b (-3)
        assertArrayEquals(new int[] {0, 6, 5, 2}, tok.ids("abb")); // ▁ab b (-4.5) beats ▁a b b (-5)
        assertArrayEquals(new int[] {0, 7, 3, 2}, tok.ids("xyz")); // ▁ then one <unk> for xyz
        assertArrayEquals(new int[] {0, 4, 7, 4, 2}, tok.ids("a  a")); // ▁a ▁ ▁a
        assertArrayEquals(new int[] {0, 2}, tok.ids(""));
    }

    @Test
    public void whitespaceSplitDropsRunsOfSpaces() throws Exception {
        Tokenizer tok = TokenizerJson.read(unigram("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\":"
                + " \"WhitespaceSplit\"}, " + METASPACE + "]}"));
        assertArrayEquals(new int[] {0, 4, 4, 2}, tok.ids("a  \t a "));
        assertArrayEquals(new int[] {0, 4, 0, 4, 2}, tok.ids("a<s>a"));
    }

    @Test
    public void truncationKeepsTheSeparatorLast() throws Exception {
        Tokenizer tok = TokenizerJson.read(unigram(METASPACE));
        Tokenizer.Encoding e = tok.encode("a a a a a a a a", 5);
        assertArrayEquals(new int[] {0, 4, 4, 4, 2}, e.inputIds);
        assertArrayEquals(new int[] {1, 1, 1, 1, 1}, e.attentionMask);
        assertArrayEquals(new int[5], e.tokenTypeIds);
        assertEquals(10, e.tokens);
        assertTrue(e.truncated());
        Tokenizer.Encoding padded = tok.encode("a", Arrays.asList(8, 4));
        assertArrayEquals(new int[] {0, 4, 2, 1}, padded.inputIds);
        assertArrayEquals(new int[] {1, 1, 1, 0}, padded.attentionMask);
    }

    @Test
    public void graphemeClusters() {
        assertEquals(2, Graphemes.clusterEnd("e\u0301x", 0));
        assertEquals(2, Graphemes.clusterEnd("\r\nx", 0));
        assertEquals(1, Graphemes.clusterEnd("\n\u0301", 0));
        assertEquals(4, Graphemes.clusterEnd("\ud83c\uddeb\ud83c\uddf7\ud83c\udde9\ud83c\uddea", 0)); // 🇫🇷|🇩🇪
        assertEquals(5, Graphemes.clusterEnd("\ud83d\udc68\u200d\ud83d\udc69x", 0)); // 👨‍👩
        assertEquals(2, Graphemes.clusterEnd("\u0600\u0661", 0)); // a prepended mark joins what follows
        assertEquals(3, Graphemes.clusterEnd("\u0915\u094d\u0937", 0)); // क्ष, a conjunct
        assertEquals(3, Graphemes.clusterEnd("\u1112\u1161\u11ab", 0)); // Hangul L V T
    }

    @Test
    public void unsupportedPartsAreRefusedWithTheReason() {
        refused(unigram("{\"type\": \"Whitespace\"}"), "its pre_tokenizer is Whitespace; with a Unigram model");
        refused(bpe("[]").replace("\"normalizer\": null", "\"normalizer\": {\"type\": \"BertNormalizer\"}"),
                "its normalizer BertNormalizer is not one this app implements");
        refused(bpe("[\"a b c\"]"), "its merge a b c is not two tokens");
        refused(bpe("[\"a x\"]"), "names a token not in the vocabulary");
        refused(bpe("[]").replace("\"type\": \"BPE\"", "\"type\": \"WordLevel\""), "its model is WordLevel");
        refused(unigram(METASPACE).replace("\"normalizer\": null", "\"normalizer\": {\"type\": \"Replace\","
                + " \"pattern\": {\"Regex\": \"[ab]+\"}, \"content\": \"\"}"), "regex [ab]+ is not one");
    }

    private static void refused(String json, String reason) {
        try {
            TokenizerJson.read(json);
            fail("accepted a tokenizer.json that should be refused for: " + reason);
        } catch (BundleException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("tokenizer.json cannot be used: "));
            assertTrue(e.getMessage(), e.getMessage().contains(reason));
        }
    }
}
