package org.ondevice.core;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The byte-level BPE and Unigram halves of {@link TokenizerJson}: every field they read is checked. */
final class TokenizerJsonModels {
    private TokenizerJsonModels() {}

    static ByteLevelBpeTokenizer byteLevelBpe(Map<String, Object> tj, WordPieceTokenizer.Settings ids) {
        Map<String, Object> model = Json.object(tj, "model");
        ByteLevelBpeTokenizer.Settings s = new ByteLevelBpeTokenizer.Settings();
        Object dropout = model.get("dropout");
        if (dropout instanceof Number && ((Number) dropout).doubleValue() > 0) {
            throw new Json.JsonException("its BPE model has dropout, which makes ids random");
        }
        Map<String, Object> pre = byteLevel(tj.get("pre_tokenizer"));
        s.addPrefixSpace = Json.bool(pre, "add_prefix_space", true);
        s.useRegex = Json.bool(pre, "use_regex", true);
        s.ignoreMerges = Json.bool(model, "ignore_merges", false);
        s.byteFallback = Json.bool(model, "byte_fallback", false);
        s.fuseUnk = Json.bool(model, "fuse_unk", false);
        s.continuingSubwordPrefix = optionalString(model, "continuing_subword_prefix");
        s.endOfWordSuffix = optionalString(model, "end_of_word_suffix");
        Map<String, Integer> vocab = new HashMap<>();
        for (Map.Entry<String, Object> e : Json.object(model, "vocab").entrySet()) {
            vocab.put(e.getKey(), ((Long) e.getValue()).intValue());
        }
        Object unk = model.get("unk_token");
        if (unk instanceof String) {
            s.unkId = vocab.get(unk);
            if (s.unkId == null) {
                throw new Json.JsonException("its unknown token " + unk + " is not in the vocabulary");
            }
        }
        Map<Long, int[]> merges = new HashMap<>();
        List<Object> list = Json.array(model, "merges");
        for (int rank = 0; rank < list.size(); rank++) {
            Object m = list.get(rank);
            String left;
            String right;
            if (m instanceof String) {
                String[] parts = ((String) m).split(" ", -1);
                if (parts.length != 2) {
                    throw new Json.JsonException("its merge " + m + " is not two tokens");
                }
                left = parts[0];
                right = parts[1];
            } else if (m instanceof List && ((List<?>) m).size() == 2) {
                left = (String) ((List<?>) m).get(0);
                right = (String) ((List<?>) m).get(1);
            } else {
                throw new Json.JsonException("its merge number " + rank + " is not two tokens");
            }
            String merged = left + (right.startsWith(s.continuingSubwordPrefix)
                    ? right.substring(s.continuingSubwordPrefix.length()) : right);
            Integer a = vocab.get(left);
            Integer b = vocab.get(right);
            Integer c = vocab.get(merged);
            if (a == null || b == null || c == null) {
                throw new Json.JsonException("its merge " + left + " " + right + " names a token not in the vocabulary");
            }
            merges.put(ByteLevelBpeTokenizer.pair(a, b), new int[] {rank, c});
        }
        s.clsId = ids.clsId;
        s.sepId = ids.sepId;
        s.padId = ids.padId;
        s.pair = ids.pair;
        TextNormalizer normalizer = TextNormalizer.read(tj.get("normalizer"));
        return new ByteLevelBpeTokenizer(vocab, merges, s, normalizer, addedTokens(tj, normalizer),
                vocabSize(vocab.values(), tj));
    }

    static UnigramTokenizer unigram(Map<String, Object> tj, WordPieceTokenizer.Settings ids) {
        Map<String, Object> model = Json.object(tj, "model");
        UnigramTokenizer.Settings s = new UnigramTokenizer.Settings();
        List<String> pieces = new ArrayList<>();
        List<Object> vocab = Json.array(model, "vocab");
        double[] scores = new double[vocab.size()];
        for (int k = 0; k < vocab.size(); k++) {
            List<?> entry = (List<?>) vocab.get(k);
            pieces.add((String) entry.get(0));
            scores[k] = ((Number) entry.get(1)).doubleValue();
        }
        if (model.get("unk_id") != null) {
            s.unkId = (int) Json.integer(model, "unk_id");
            if (s.unkId < 0 || s.unkId >= pieces.size()) {
                throw new Json.JsonException("its unk_id " + s.unkId + " is outside the vocabulary");
            }
        }
        s.byteFallback = Json.bool(model, "byte_fallback", false);
        readMetaspace(tj.get("pre_tokenizer"), s);
        s.clsId = ids.clsId;
        s.sepId = ids.sepId;
        s.padId = ids.padId;
        s.pair = ids.pair;
        List<Integer> all = new ArrayList<>();
        for (int k = 0; k < pieces.size(); k++) {
            all.add(k);
        }
        TextNormalizer normalizer = TextNormalizer.read(tj.get("normalizer"));
        return new UnigramTokenizer(pieces, scores, s, normalizer, addedTokens(tj, normalizer),
                vocabSize(all, tj));
    }

    /** Added tokens, those matched after normalization included (the normalizer's pass over them first). */
    private static AddedTokens addedTokens(Map<String, Object> tj, TextNormalizer normalizer) {
        List<WordPieceTokenizer.AddedToken> raw = TokenizerJson.addedTokens(tj, false);
        List<WordPieceTokenizer.AddedToken> normalized = new ArrayList<>();
        for (WordPieceTokenizer.AddedToken t : TokenizerJson.addedTokens(tj, true)) {
            normalized.add(new WordPieceTokenizer.AddedToken(normalizer.apply(t.content), t.id, t.lstrip, t.rstrip));
        }
        return new AddedTokens(raw, normalized);
    }

    /** Ids in the vocabulary and among the added tokens, as {@code get_vocab_size(with_added_tokens=True)}. */
    private static int vocabSize(Iterable<Integer> vocabIds, Map<String, Object> tj) {
        java.util.Set<Integer> all = new java.util.HashSet<>();
        for (int id : vocabIds) {
            all.add(id);
        }
        for (WordPieceTokenizer.AddedToken t : TokenizerJson.addedTokens(tj, false)) {
            all.add(t.id);
        }
        for (WordPieceTokenizer.AddedToken t : TokenizerJson.addedTokens(tj, true)) {
            all.add(t.id);
        }
        return all.size();
    }

    private static String optionalString(Map<String, Object> map, String key) {
        Object v = map.get(key);
        return v == null ? "" : Json.string(map, key);
    }

    /** ByteLevel, alone or as the one step of a Sequence. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> byteLevel(Object spec) {
        if (spec instanceof Map) {
            Map<String, Object> m = (Map<String, Object>) spec;
            String type = Json.string(m, "type");
            if (type.equals("ByteLevel")) {
                return m;
            }
            if (type.equals("Sequence")) {
                List<Object> steps = Json.array(m, "pretokenizers");
                if (steps.size() == 1) {
                    return byteLevel(steps.get(0));
                }
            }
            throw new Json.JsonException("its pre_tokenizer is " + type + "; with a BPE model this app implements"
                    + " ByteLevel only");
        }
        throw new Json.JsonException("its pre_tokenizer is " + Json.kind(spec) + "; with a BPE model this app"
                + " implements ByteLevel only");
    }

    /** Metaspace, alone or after WhitespaceSplit in a Sequence. */
    @SuppressWarnings("unchecked")
    private static void readMetaspace(Object spec, UnigramTokenizer.Settings s) {
        String refusal = "; with a Unigram model this app implements Metaspace, alone or after WhitespaceSplit";
        if (!(spec instanceof Map)) {
            throw new Json.JsonException("its pre_tokenizer is " + Json.kind(spec) + refusal);
        }
        Map<String, Object> m = (Map<String, Object>) spec;
        String type = Json.string(m, "type");
        if (type.equals("Sequence")) {
            List<Object> steps = Json.array(m, "pretokenizers");
            if (steps.size() == 2 && steps.get(0) instanceof Map
                    && "WhitespaceSplit".equals(((Map<?, ?>) steps.get(0)).get("type"))) {
                s.whitespaceSplit = true;
                m = (Map<String, Object>) steps.get(1);
            } else if (steps.size() == 1) {
                m = (Map<String, Object>) steps.get(0);
            } else {
                throw new Json.JsonException("its pre_tokenizer is a Sequence of " + steps.size() + " steps" + refusal);
            }
            type = Json.string(m, "type");
        }
        if (!type.equals("Metaspace")) {
            throw new Json.JsonException("its pre_tokenizer is " + type + refusal);
        }
        String rep = Json.string(m, "replacement");
        if (rep.codePointCount(0, rep.length()) != 1) {
            throw new Json.JsonException("its Metaspace replacement is not one character");
        }
        s.replacement = rep.codePointAt(0);
        s.split = Json.bool(m, "split", true);
        Object scheme = m.get("prepend_scheme");
        s.prependScheme = scheme == null ? "always" : Json.string(m, "prepend_scheme");
        if (m.get("add_prefix_space") != null && !Json.bool(m, "add_prefix_space", true)) {
            s.prependScheme = "never";
        }
        if (!s.prependScheme.equals("always") && !s.prependScheme.equals("first") && !s.prependScheme.equals("never")) {
            throw new Json.JsonException("its Metaspace prepend_scheme " + s.prependScheme + " is unknown");
        }
    }
}
