package org.ondevice.core;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * SentencePiece Unigram (XLM-RoBERTa, ALBERT, CamemBERT), giving the ids of the {@code tokenizers} library: added
 * tokens are found in the raw text; the rest is normalized (usually SentencePiece's precompiled map, see {@link
 * Precompiled}), optionally split on whitespace, given the Metaspace treatment (spaces become ▁, a ▁ is put in front,
 * the text is split before each ▁), and each piece is segmented by Viterbi over the vocabulary's log-probabilities.
 *
 * <p>Metaspace's {@code prepend_scheme "first"} puts the ▁ only before a word that starts the text; the library
 * decides that by the word's offset in the original text, this by its place in the normalized text, which differ
 * only when the normalizer deletes characters at the very start. The checkpoints named above use "always".
 */
public final class UnigramTokenizer implements Tokenizer {
    /** The score penalty of an unknown character below the vocabulary's lowest score, as in SentencePiece. */
    private static final double UNK_PENALTY = 10.0;

    /** What the pre-tokenizer and the model are configured with. */
    static final class Settings {
        boolean whitespaceSplit;
        int replacement = 0x2581;
        /** "always", "first" or "never". */
        String prependScheme = "always";
        boolean split = true;
        Integer unkId;
        boolean byteFallback;
        int clsId;
        int sepId;
        int padId;
        PairTemplate pair;
    }

    private final Map<String, Integer> ids;
    private final double[] scores;
    private final double minScore;
    private final int maxPieceChars;
    private final Settings settings;
    private final TextNormalizer normalizer;
    private final AddedTokens added;
    private final int vocabSize;

    UnigramTokenizer(List<String> pieces, double[] scores, Settings settings, TextNormalizer normalizer,
            AddedTokens added, int vocabSize) {
        this.ids = new HashMap<>();
        double min = Double.POSITIVE_INFINITY;
        int longest = 1;
        for (int k = 0; k < pieces.size(); k++) {
            ids.put(pieces.get(k), k);
            min = Math.min(min, scores[k]);
            longest = Math.max(longest, pieces.get(k).length());
        }
        this.scores = scores;
        this.minScore = min;
        this.maxPieceChars = longest;
        this.settings = settings;
        this.normalizer = normalizer;
        this.added = added;
        this.vocabSize = vocabSize;
    }

    @Override
    public int clsId() {
        return settings.clsId;
    }

    @Override
    public int sepId() {
        return settings.sepId;
    }

    @Override
    public PairTemplate pairTemplate() {
        return settings.pair;
    }

    @Override
    public int padId() {
        return settings.padId;
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public int[] textIds(String text) {
        final List<Integer> out = new ArrayList<>();
        final boolean[] first = {true};
        added.splitRaw(text, new AddedTokens.Sink() {
            @Override
            public void text(String segment) {
                segment(segment, first[0], out);
                first[0] = false;
            }

            @Override
            public void token(int id) {
                out.add(id);
                first[0] = false;
            }
        });
        int[] result = new int[out.size()];
        for (int k = 0; k < result.length; k++) {
            result[k] = out.get(k);
        }
        return result;
    }

    private void segment(String raw, final boolean atStart, final List<Integer> out) {
        final boolean[] first = {atStart};
        added.splitNormalized(normalizer.apply(raw), new AddedTokens.Sink() {
            @Override
            public void text(String normalized) {
                words(normalized, first[0], out);
                first[0] = false;
            }

            @Override
            public void token(int id) {
                out.add(id);
                first[0] = false;
            }
        });
    }

    private void words(String s, boolean atStart, List<Integer> out) {
        List<String> words = new ArrayList<>();
        List<Boolean> starts = new ArrayList<>();
        if (settings.whitespaceSplit) {
            int i = 0;
            while (i < s.length()) {
                int cp = s.codePointAt(i);
                if (WordPieceTokenizer.isWhitespace(cp)) {
                    i += Character.charCount(cp);
                    continue;
                }
                int j = i;
                while (j < s.length() && !WordPieceTokenizer.isWhitespace(s.codePointAt(j))) {
                    j += Character.charCount(s.codePointAt(j));
                }
                words.add(s.substring(i, j));
                starts.add(atStart && i == 0);
                i = j;
            }
        } else {
            words.add(s);
            starts.add(atStart);
        }
        String rep = new String(Character.toChars(settings.replacement));
        for (int w = 0; w < words.size(); w++) {
            String word = words.get(w).replace(" ", rep);
            boolean prepend = settings.prependScheme.equals("always")
                    || (settings.prependScheme.equals("first") && starts.get(w));
            if (prepend && !word.startsWith(rep)) {
                word = rep + word;
            }
            if (!settings.split) {
                viterbi(word, out);
                continue;
            }
            // Split before each replacement character, which stays with the text after it.
            int from = 0;
            int at = word.indexOf(rep, rep.length());
            while (at >= 0) {
                if (at > from) {
                    viterbi(word.substring(from, at), out);
                }
                from = at;
                at = word.indexOf(rep, at + rep.length());
            }
            viterbi(word.substring(from), out);
        }
    }

    /**
     * The best segmentation by total score, as the library's optimized Viterbi finds it: positions are code point
     * boundaries, a position's best path is replaced only by a strictly better one (so among equals the first found,
     * which starts earliest, stays), a character that no piece covers alone is one unknown piece scored below every
     * other, and neighbouring unknown pieces are fused into one [UNK].
     */
    private void viterbi(String s, List<Integer> out) {
        if (s.isEmpty()) {
            return;
        }
        int n = s.length();
        double unkScore = minScore - UNK_PENALTY;
        double[] best = new double[n + 1];
        int[] from = new int[n + 1];
        int[] piece = new int[n + 1];
        Arrays.fill(from, -1);
        for (int start = 0; start < n; ) {
            int cp = s.codePointAt(start);
            int single = start + Character.charCount(cp);
            boolean hasSingle = false;
            double base = best[start];
            int end = start;
            for (int len = 0; len < maxPieceChars && end < n; len++) {
                end += Character.charCount(s.codePointAt(end));
                Integer id = ids.get(s.substring(start, end));
                if (id == null) {
                    continue;
                }
                double score = base + scores[id];
                if (from[end] < 0 || score > best[end]) {
                    best[end] = score;
                    from[end] = start;
                    piece[end] = id;
                }
                if (end == single) {
                    hasSingle = true;
                }
            }
            if (!hasSingle) {
                if (settings.unkId == null) {
                    throw new IllegalStateException("an unknown character and no unk_id");
                }
                double score = base + unkScore;
                if (from[single] < 0 || score > best[single]) {
                    best[single] = score;
                    from[single] = start;
                    piece[single] = settings.unkId;
                }
            }
            start = single;
        }
        List<String> tokens = new ArrayList<>();
        StringBuilder unk = new StringBuilder();
        for (int end = n; end > 0; end = from[end]) {
            int start = from[end];
            String text = s.substring(start, end);
            if (settings.unkId != null && piece[end] == settings.unkId) {
                unk.insert(0, text);
            } else {
                if (unk.length() > 0) {
                    tokens.add(unk.toString());
                    unk.setLength(0);
                }
                tokens.add(text);
            }
        }
        if (unk.length() > 0) {
            tokens.add(unk.toString());
        }
        Collections.reverse(tokens);
        for (String t : tokens) {
            Integer id = ids.get(t);
            if (id != null) {
                out.add(id);
                continue;
            }
            if (settings.byteFallback && byteFallback(t, out)) {
                continue;
            }
            out.add(settings.unkId);
        }
    }

    private boolean byteFallback(String t, List<Integer> out) {
        List<Integer> bytes = new ArrayList<>();
        for (byte b : t.getBytes(StandardCharsets.UTF_8)) {
            Integer id = ids.get(String.format("<0x%02X>", b & 0xFF));
            if (id == null) {
                return false;
            }
            bytes.add(id);
        }
        out.addAll(bytes);
        return true;
    }
}
