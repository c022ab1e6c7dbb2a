package org.ondevice.core;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a Hugging Face {@code tokenizer.json} into the tokenizer it describes: WordPiece (BERT), byte-level BPE
 * (RoBERTa, ModernBERT) or SentencePiece Unigram (XLM-RoBERTa, ALBERT, CamemBERT). Any other kind, or a part of one
 * that this app does not implement, is refused with the reason: ids made by a tokenizer that differs from the Python
 * side's would be silently wrong.
 */
public final class TokenizerJson {
    static final String FILE = "tokenizer.json";

    private TokenizerJson() {}

    /**
     * The tokenizer of a bundle: its special ids must be the ones the manifest gives ({@code s}), which also carries
     * the WordPiece settings.
     */
    static Tokenizer read(String text, WordPieceTokenizer.Settings s) throws BundleException {
        return read(text, s, "WordPiece");
    }

    /** The same, for a manifest that names the kind (tokenizer.json's model type) the bundle was exported with. */
    static Tokenizer read(String text, WordPieceTokenizer.Settings s, String kind) throws BundleException {
        return read(text, s, true, kind);
    }

    /**
     * The tokenizer of a {@code tokenizer.json} alone (the command-line entry): the special ids come from its
     * post-processor, the padding id from its padding section, else its {@code <pad>} or {@code [PAD]} token, else 0.
     */
    public static Tokenizer read(String text) throws BundleException {
        return read(text, null, false, null);
    }

    private static Tokenizer read(String text, WordPieceTokenizer.Settings manifest, boolean checkIds,
            String expectedKind) throws BundleException {
        try {
            Object doc = Json.parse(text);
            if (!(doc instanceof Map)) {
                throw new Json.JsonException("not a JSON object");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> tj = (Map<String, Object>) doc;
            String kind = Json.string(Json.object(tj, "model"), "type");
            if (expectedKind != null && !expectedKind.equals(kind)) {
                throw new Json.JsonException("it holds a " + kind + " tokenizer but " + Manifest.FILE + " says "
                        + expectedKind + ": the files do not belong together; export the bundle again");
            }
            int[] special = specialIds(tj.get("post_processor"));
            WordPieceTokenizer.Settings s = manifest != null ? manifest : new WordPieceTokenizer.Settings();
            if (checkIds) {
                if (special[0] != s.clsId || special[1] != s.sepId) {
                    throw new Json.JsonException("its post-processor's special ids " + special[0] + ", " + special[1]
                            + " differ from the manifest's " + s.clsId + ", " + s.sepId);
                }
            } else {
                s.clsId = special[0];
                s.sepId = special[1];
                s.padId = padId(tj);
            }
            s.pair = pairTemplate(tj.get("post_processor"), special);
            switch (kind) {
                case "WordPiece":
                    return readWordPiece(tj, s);
                case "BPE":
                    return TokenizerJsonModels.byteLevelBpe(tj, s);
                case "Unigram":
                    return TokenizerJsonModels.unigram(tj, s);
                default:
                    throw new Json.JsonException("its model is " + kind + "; this app implements WordPiece, BPE"
                            + " (byte-level) and Unigram");
            }
        } catch (Json.JsonException | ClassCastException | IllegalArgumentException e) {
            throw new BundleException(FILE + " cannot be used: " + e.getMessage());
        }
    }

    private static int padId(Map<String, Object> tj) {
        Object padding = tj.get("padding");
        if (padding instanceof Map && ((Map<?, ?>) padding).get("pad_id") instanceof Long) {
            return ((Long) ((Map<?, ?>) padding).get("pad_id")).intValue();
        }
        Object list = tj.get("added_tokens");
        if (list instanceof List) {
            for (Object o : (List<?>) list) {
                Object content = ((Map<?, ?>) o).get("content");
                if ("<pad>".equals(content) || "[PAD]".equals(content)) {
                    return ((Long) ((Map<?, ?>) o).get("id")).intValue();
                }
            }
        }
        return 0;
    }

    private static WordPieceTokenizer readWordPiece(Map<String, Object> tj, WordPieceTokenizer.Settings s) {
        Map<String, Object> norm = Json.object(tj, "normalizer");
        requireType(norm, "normalizer", "BertNormalizer");
        s.cleanText = Json.bool(norm, "clean_text", true);
        s.handleChineseChars = Json.bool(norm, "handle_chinese_chars", true);
        s.lowercase = Json.bool(norm, "lowercase", true);
        s.stripAccents = Json.bool(norm, "strip_accents", s.lowercase);
        requireType(Json.object(tj, "pre_tokenizer"), "pre_tokenizer", "BertPreTokenizer");
        Map<String, Object> model = Json.object(tj, "model");
        requireType(model, "model", "WordPiece");
        s.continuingSubwordPrefix = Json.string(model, "continuing_subword_prefix");
        s.maxInputCharsPerWord = (int) Json.integer(model, "max_input_chars_per_word");
        Map<String, Integer> vocab = new HashMap<>();
        for (Map.Entry<String, Object> e : Json.object(model, "vocab").entrySet()) {
            vocab.put(e.getKey(), ((Long) e.getValue()).intValue());
        }
        Integer unk = vocab.get(Json.string(model, "unk_token"));
        if (unk == null) {
            throw new Json.JsonException("the unknown token is not in the vocabulary");
        }
        s.unkId = unk;
        List<WordPieceTokenizer.AddedToken> added = addedTokens(tj, false);
        if (!addedTokens(tj, true).isEmpty()) {
            throw new Json.JsonException("an added token is matched after normalization, which this app's"
                    + " WordPiece tokenizer does not implement");
        }
        return new WordPieceTokenizer(vocab, s, added);
    }

    /** The added tokens matched in the raw text ({@code normalized} false) or in the normalized text (true). */
    static List<WordPieceTokenizer.AddedToken> addedTokens(Map<String, Object> tj, boolean normalized) {
        List<WordPieceTokenizer.AddedToken> added = new ArrayList<>();
        Object list = tj.get("added_tokens");
        if (list instanceof List) {
            for (Object o : (List<?>) list) {
                @SuppressWarnings("unchecked")
                Map<String, Object> a = (Map<String, Object>) o;
                String content = Json.string(a, "content");
                if (Json.bool(a, "single_word", false)) {
                    throw new Json.JsonException("added token " + content + " is matched as a single word, which"
                            + " this app's tokenizer does not implement");
                }
                if (Json.bool(a, "normalized", false) == normalized && !content.isEmpty()) {
                    added.add(new WordPieceTokenizer.AddedToken(content, (int) Json.integer(a, "id"),
                            Json.bool(a, "lstrip", false), Json.bool(a, "rstrip", false)));
                }
            }
        }
        return added;
    }

    private static void requireType(Map<String, Object> part, String what, String type) {
        String actual = Json.string(part, "type");
        if (!actual.equals(type)) {
            throw new Json.JsonException("its " + what + " is " + actual + "; this app implements " + type + " only");
        }
    }

    /**
     * The ids the post-processor puts before and after one text: BertProcessing, RobertaProcessing, or a
     * TemplateProcessing whose single-text template is a special token, the text, a special token.
     */
    private static int[] specialIds(Object pp) {
        if (!(pp instanceof Map)) {
            throw new Json.JsonException("it has no post-processor adding the special tokens around the text");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> p = (Map<String, Object>) pp;
        String type = Json.string(p, "type");
        if (type.equals("BertProcessing") || type.equals("RobertaProcessing")) {
            List<Object> cls = Json.array(p, "cls");
            List<Object> sep = Json.array(p, "sep");
            return new int[] {((Long) cls.get(1)).intValue(), ((Long) sep.get(1)).intValue()};
        }
        if (!type.equals("TemplateProcessing")) {
            throw new Json.JsonException("its post-processor is " + type + "; this app implements BertProcessing,"
                    + " RobertaProcessing and TemplateProcessing");
        }
        List<Object> single = Json.array(p, "single");
        Map<String, Object> specials = Json.object(p, "special_tokens");
        int first = single.size() == 3 ? specialId(single.get(0), specials) : -1;
        int last = single.size() == 3 ? specialId(single.get(2), specials) : -1;
        if (first < 0 || last < 0
                || !(single.get(1) instanceof Map && ((Map<?, ?>) single.get(1)).containsKey("Sequence"))) {
            throw new Json.JsonException("its post-processor's template is not a special token, the text, a special"
                    + " token");
        }
        return new int[] {first, last};
    }

    /** The pair template of the post-processor that {@link #specialIds} accepted, whose ids it gave. */
    @SuppressWarnings("unchecked")
    private static PairTemplate pairTemplate(Object pp, int[] special) {
        Map<String, Object> p = (Map<String, Object>) pp;
        switch (Json.string(p, "type")) {
            case "BertProcessing":
                return PairTemplate.bert(special[0], special[1]);
            case "RobertaProcessing":
                return PairTemplate.roberta(special[0], special[1]);
            default:
                return PairTemplate.template(p);
        }
    }

    private static int specialId(Object piece, Map<String, Object> specials) {
        if (!(piece instanceof Map) || !(((Map<?, ?>) piece).get("SpecialToken") instanceof Map)) {
            return -1;
        }
        Object name = ((Map<?, ?>) ((Map<?, ?>) piece).get("SpecialToken")).get("id");
        Object token = specials.get(name);
        if (!(token instanceof Map)) {
            return -1;
        }
        @SuppressWarnings("unchecked")
        List<Object> ids = Json.array((Map<String, Object>) token, "ids");
        return ids.size() == 1 ? ((Long) ids.get(0)).intValue() : -1;
    }
}
