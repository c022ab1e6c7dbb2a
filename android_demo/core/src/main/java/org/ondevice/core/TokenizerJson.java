package org.ondevice.core;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a Hugging Face {@code tokenizer.json} of the BERT kind into a {@link WordPieceTokenizer}, refusing, with the
 * reason, any other kind: ids made by a tokenizer this app does not implement would be silently wrong.
 */
final class TokenizerJson {
    static final String FILE = "tokenizer.json";

    private TokenizerJson() {}

    static WordPieceTokenizer read(String text, WordPieceTokenizer.Settings s) throws BundleException {
        try {
            Object doc = Json.parse(text);
            if (!(doc instanceof Map)) {
                throw new Json.JsonException("not a JSON object");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> tj = (Map<String, Object>) doc;
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
            checkPostProcessor(tj.get("post_processor"), s);
            List<WordPieceTokenizer.AddedToken> added = new ArrayList<>();
            Object list = tj.get("added_tokens");
            if (list instanceof List) {
                for (Object o : (List<?>) list) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> a = (Map<String, Object>) o;
                    String content = Json.string(a, "content");
                    if (Json.bool(a, "normalized", false) || Json.bool(a, "single_word", false)) {
                        throw new Json.JsonException("added token " + content + " is matched after normalization or"
                                + " as a single word, which this app's tokenizer does not implement");
                    }
                    added.add(new WordPieceTokenizer.AddedToken(content, (int) Json.integer(a, "id"),
                            Json.bool(a, "lstrip", false), Json.bool(a, "rstrip", false)));
                }
            }
            return new WordPieceTokenizer(vocab, s, added);
        } catch (Json.JsonException | ClassCastException e) {
            throw new BundleException(FILE + " cannot be used: " + e.getMessage());
        }
    }

    private static void requireType(Map<String, Object> part, String what, String type) {
        String actual = Json.string(part, "type");
        if (!actual.equals(type)) {
            throw new Json.JsonException("its " + what + " is " + actual + "; this app implements " + type + " only");
        }
    }

    /** [CLS] text [SEP], with the ids the manifest gives: anything else would give other ids than Python's. */
    private static void checkPostProcessor(Object pp, WordPieceTokenizer.Settings s) {
        if (!(pp instanceof Map)) {
            throw new Json.JsonException("it has no post-processor adding [CLS] and [SEP]");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> p = (Map<String, Object>) pp;
        String type = Json.string(p, "type");
        if (type.equals("BertProcessing")) {
            List<Object> cls = Json.array(p, "cls");
            List<Object> sep = Json.array(p, "sep");
            if (((Long) cls.get(1)).intValue() != s.clsId || ((Long) sep.get(1)).intValue() != s.sepId) {
                throw new Json.JsonException("its post-processor's [CLS]/[SEP] ids differ from the manifest's");
            }
            return;
        }
        if (!type.equals("TemplateProcessing")) {
            throw new Json.JsonException("its post-processor is " + type + "; this app implements [CLS] text [SEP]");
        }
        List<Object> single = Json.array(p, "single");
        Map<String, Object> specials = Json.object(p, "special_tokens");
        if (single.size() != 3
                || specialId(single.get(0), specials) != s.clsId
                || !(single.get(1) instanceof Map && ((Map<?, ?>) single.get(1)).containsKey("Sequence"))
                || specialId(single.get(2), specials) != s.sepId) {
            throw new Json.JsonException("its post-processor's template is not [CLS] text [SEP] with the manifest's ids");
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
