package org.ondevice.core;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Byte-level BPE (RoBERTa, ModernBERT), giving the ids of the {@code tokenizers} library: added tokens are found in
 * the raw text; the rest is normalized, given a leading space when {@code add_prefix_space} says so, split by the
 * GPT-2 pattern ({@link #splitGpt2}), each piece's UTF-8 bytes are written in the byte-to-unicode alphabet, and each
 * piece is merged pair by pair, the lowest-ranked merge first (the leftmost among equals), into vocabulary ids.
 */
public final class ByteLevelBpeTokenizer implements Tokenizer {
    /** What the model and pre-tokenizer are configured with. */
    static final class Settings {
        boolean addPrefixSpace;
        boolean useRegex = true;
        boolean ignoreMerges;
        boolean byteFallback;
        boolean fuseUnk;
        String continuingSubwordPrefix = "";
        String endOfWordSuffix = "";
        Integer unkId;
        int clsId;
        int sepId;
        int padId;
        PairTemplate pair;
    }

    private static final char[] BYTE_CHAR = byteChars();

    private final Map<String, Integer> vocab;
    /** (left id, right id) to {rank, merged id}. */
    private final Map<Long, int[]> merges;
    private final Settings settings;
    private final TextNormalizer normalizer;
    private final AddedTokens added;
    private final int vocabSize;

    ByteLevelBpeTokenizer(Map<String, Integer> vocab, Map<Long, int[]> merges, Settings settings,
            TextNormalizer normalizer, AddedTokens added, int vocabSize) {
        this.vocab = vocab;
        this.merges = merges;
        this.settings = settings;
        this.normalizer = normalizer;
        this.added = added;
        this.vocabSize = vocabSize;
    }

    static long pair(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
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
        added.splitRaw(text, new AddedTokens.Sink() {
            @Override
            public void text(String segment) {
                segment(segment, out);
            }

            @Override
            public void token(int id) {
                out.add(id);
            }
        });
        int[] ids = new int[out.size()];
        for (int k = 0; k < ids.length; k++) {
            ids[k] = out.get(k);
        }
        return ids;
    }

    private void segment(String raw, final List<Integer> out) {
        added.splitNormalized(normalizer.apply(raw), new AddedTokens.Sink() {
            @Override
            public void text(String normalized) {
                pieces(normalized, out);
            }

            @Override
            public void token(int id) {
                out.add(id);
            }
        });
    }

    private void pieces(String s, List<Integer> out) {
        if (settings.addPrefixSpace && s.charAt(0) != ' ') {
            s = " " + s;
        }
        List<String> pieces = settings.useRegex ? splitGpt2(s) : Collections.singletonList(s);
        for (String piece : pieces) {
            byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
            StringBuilder mapped = new StringBuilder(bytes.length);
            for (byte b : bytes) {
                mapped.append(BYTE_CHAR[b & 0xFF]);
            }
            word(mapped.toString(), out);
        }
    }

    // ---- the GPT-2 split pattern ----
    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    // matched from each position with Oniguruma's semantics: the first alternative that matches wins, each
    // quantifier greedy, \s+(?!\S) backing off one character so that a run of spaces leaves the last one to the word
    // that follows it. Every character is matched by some alternative, so the pieces cover the text.

    private static boolean letter(int cp) {
        return CharClasses.in(TextClasses.LETTER, cp);
    }

    private static boolean number(int cp) {
        return CharClasses.in(TextClasses.NUMBER, cp);
    }

    private static boolean space(int cp) {
        return CharClasses.in(TextClasses.SPACE, cp);
    }

    private static boolean other(int cp) {
        return !space(cp) && !letter(cp) && !number(cp);
    }

    static List<String> splitGpt2(String s) {
        List<String> out = new ArrayList<>();
        int i = 0;
        while (i < s.length()) {
            int end = matchAt(s, i);
            out.add(s.substring(i, end));
            i = end;
        }
        return out;
    }

    private static final String[] CONTRACTIONS = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};

    private static int matchAt(String s, int i) {
        for (String c : CONTRACTIONS) {
            if (s.startsWith(c, i)) {
                return i + c.length();
            }
        }
        for (int cls = 0; cls < 3; cls++) {
            // " ?X+": with the space first, then without.
            int start = s.charAt(i) == ' ' && i + 1 < s.length() && inClass(cls, s.codePointAt(i + 1)) ? i + 1 : i;
            int j = runOf(s, start, cls);
            if (j > start) {
                return j;
            }
        }
        int j = i;
        while (j < s.length() && space(s.codePointAt(j))) {
            j += Character.charCount(s.codePointAt(j));
        }
        // \s+(?!\S): the whole run at the end of the text, else the run less its last character, if that leaves one.
        if (j == s.length()) {
            return j;
        }
        int last = j - Character.charCount(s.codePointBefore(j));
        if (last > i) {
            return last;
        }
        return j; // \s+
    }

    private static boolean inClass(int cls, int cp) {
        return cls == 0 ? letter(cp) : cls == 1 ? number(cp) : other(cp);
    }

    private static int runOf(String s, int start, int cls) {
        int j = start;
        while (j < s.length() && inClass(cls, s.codePointAt(j))) {
            j += Character.charCount(s.codePointAt(j));
        }
        return j;
    }

    // ---- BPE ----

    private void word(String w, List<Integer> out) {
        if (w.isEmpty()) {
            return;
        }
        if (settings.ignoreMerges) {
            Integer whole = vocab.get(w);
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        int[] cps = w.codePoints().toArray();
        List<Integer> symbols = new ArrayList<>();
        Integer unk = null;
        for (int k = 0; k < cps.length; k++) {
            String s = new String(cps, k, 1);
            if (k > 0) {
                s = settings.continuingSubwordPrefix + s;
            }
            if (k == cps.length - 1) {
                s = s + settings.endOfWordSuffix;
            }
            Integer id = vocab.get(s);
            if (id != null) {
                if (unk != null) {
                    symbols.add(unk);
                    unk = null;
                }
                symbols.add(id);
                continue;
            }
            if (settings.byteFallback && byteFallback(s, symbols)) {
                continue;
            }
            if (settings.unkId != null) {
                if (unk != null && !settings.fuseUnk) {
                    symbols.add(unk);
                }
                unk = settings.unkId;
            }
        }
        if (unk != null) {
            symbols.add(unk);
        }
        merge(symbols, out);
    }

    private boolean byteFallback(String s, List<Integer> symbols) {
        List<Integer> ids = new ArrayList<>();
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            Integer id = vocab.get(String.format("<0x%02X>", b & 0xFF));
            if (id == null) {
                return false;
            }
            ids.add(id);
        }
        symbols.addAll(ids);
        return true;
    }

    /** Applies the merges, lowest rank first and leftmost among equals, as the library's merge queue does. */
    private void merge(List<Integer> symbols, List<Integer> out) {
        int n = symbols.size();
        final int[] id = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        boolean[] removed = new boolean[n];
        for (int k = 0; k < n; k++) {
            id[k] = symbols.get(k);
            prev[k] = k - 1;
            next[k] = k + 1 < n ? k + 1 : -1;
        }
        // Entries {rank, pos, merged id}.
        PriorityQueue<int[]> queue = new PriorityQueue<>(Math.max(1, n), (a, b) -> a[0] != b[0]
                ? Integer.compare(a[0], b[0]) : Integer.compare(a[1], b[1]));
        for (int k = 0; k + 1 < n; k++) {
            int[] m = merges.get(pair(id[k], id[k + 1]));
            if (m != null) {
                queue.add(new int[] {m[0], k, m[1]});
            }
        }
        while (!queue.isEmpty()) {
            int[] top = queue.poll();
            int pos = top[1];
            if (removed[pos] || next[pos] == -1) {
                continue;
            }
            int right = next[pos];
            int[] current = merges.get(pair(id[pos], id[right]));
            if (current == null || current[1] != top[2]) {
                continue; // an entry made stale by an earlier merge
            }
            id[pos] = top[2];
            removed[right] = true;
            next[pos] = next[right];
            if (next[right] != -1) {
                prev[next[right]] = pos;
            }
            if (prev[pos] >= 0) {
                int[] m = merges.get(pair(id[prev[pos]], id[pos]));
                if (m != null) {
                    queue.add(new int[] {m[0], prev[pos], m[1]});
                }
            }
            if (next[pos] != -1) {
                int[] m = merges.get(pair(id[pos], id[next[pos]]));
                if (m != null) {
                    queue.add(new int[] {m[0], pos, m[1]});
                }
            }
        }
        for (int k = 0; k < n; k++) {
            if (!removed[k]) {
                out.add(id[k]);
            }
        }
    }

    /** GPT-2's map of the 256 byte values to printable characters. */
    private static char[] byteChars() {
        char[] table = new char[256];
        boolean[] direct = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            direct[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            direct[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            direct[b] = true;
        }
        int n = 0;
        for (int b = 0; b < 256; b++) {
            table[b] = direct[b] ? (char) b : (char) (256 + n++);
        }
        return table;
    }
}
