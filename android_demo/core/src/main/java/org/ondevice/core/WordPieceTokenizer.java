package org.ondevice.core;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * BERT's WordPiece tokenizer, giving the same ids as the Hugging Face {@code tokenizers} library that the Python side
 * uses (BertNormalizer, BertPreTokenizer, WordPiece, then [CLS] ... [SEP]).
 *
 * <p>The steps, in the library's order: special tokens written in the text are matched first, on the raw text; the
 * rest is cleaned (control characters dropped, every whitespace character made a space), CJK ideographs get spaces
 * around them, accents are stripped (NFD, non-spacing marks dropped) and the text is lower-cased, as the settings say;
 * it is split on whitespace and around each punctuation character; each word becomes the longest vocabulary pieces
 * from the left, continuation pieces carrying "##", or one [UNK] when a piece cannot be found or the word is longer
 * than {@code max_input_chars_per_word}. Character classes come from {@link CharClasses}, taken from
 * {@code tokenizers} itself, not from the platform, whose Unicode version differs between Android releases.
 */
public final class WordPieceTokenizer implements Tokenizer {
    /** What the normalizer and the model are configured with. */
    public static final class Settings {
        public boolean cleanText = true;
        public boolean handleChineseChars = true;
        public boolean stripAccents = true;
        public boolean lowercase = true;
        public String continuingSubwordPrefix = "##";
        public int maxInputCharsPerWord = 100;
        public int clsId = 101;
        public int sepId = 102;
        public int padId = 0;
        public int unkId = 100;
        /** How two texts are joined; null for BERT's {@code [CLS] A [SEP] B [SEP]}, as a vocab.txt alone gives. */
        public PairTemplate pair;
    }

    /** A token that is matched in the raw text before normalization, such as [CLS] or [MASK]. */
    public static final class AddedToken {
        final String content;
        final int id;
        final boolean lstrip;
        final boolean rstrip;

        public AddedToken(String content, int id, boolean lstrip, boolean rstrip) {
            this.content = content;
            this.id = id;
            this.lstrip = lstrip;
            this.rstrip = rstrip;
        }
    }

    private final Map<String, Integer> vocab;
    private final Settings settings;
    private final List<AddedToken> addedTokens;

    public WordPieceTokenizer(Map<String, Integer> vocab, Settings settings, List<AddedToken> addedTokens) {
        this.vocab = new HashMap<>(vocab);
        this.settings = settings;
        this.addedTokens = new ArrayList<>(addedTokens);
    }

    public Settings settings() {
        return settings;
    }

    @Override
    public int vocabSize() {
        return vocab.size();
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
        return settings.pair != null ? settings.pair : PairTemplate.bert(settings.clsId, settings.sepId);
    }

    @Override
    public int padId() {
        return settings.padId;
    }

    /** Ids of the text without [CLS] and [SEP], neither truncated nor padded. */
    @Override
    public int[] textIds(String text) {
        final List<Integer> out = new ArrayList<>();
        // Special tokens are found leftmost first, the longest where several start at one place.
        AddedTokens.split(text, addedTokens, new AddedTokens.Sink() {
            @Override
            public void text(String segment) {
                words(segment, out);
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

    /** The smallest of the lengths that holds the text's tokens; the longest when none does. */
    public static int pickLength(List<Integer> seqLens, int tokens) {
        return Encoding.pickLength(seqLens, tokens);
    }

    // ---- normalization ----

    /** The normalizer's output for text that holds no special token. */
    String normalize(String text) {
        StringBuilder sb = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            if (settings.cleanText) {
                if (CharClasses.in(CharClasses.REMOVED, cp)) {
                    continue;
                }
                if (isWhitespace(cp)) {
                    cp = ' ';
                }
            }
            if (settings.handleChineseChars && CharClasses.in(CharClasses.CJK, cp)) {
                sb.append(' ').appendCodePoint(cp).append(' ');
            } else {
                sb.appendCodePoint(cp);
            }
        }
        String s = sb.toString();
        if (settings.stripAccents) {
            String nfd = Normalizer.normalize(s, Normalizer.Form.NFD);
            sb.setLength(0);
            for (int i = 0; i < nfd.length(); ) {
                int cp = nfd.codePointAt(i);
                i += Character.charCount(cp);
                if (!CharClasses.in(CharClasses.NONSPACING_MARK, cp)) {
                    sb.appendCodePoint(cp);
                }
            }
            s = sb.toString();
        }
        if (settings.lowercase) {
            sb.setLength(0);
            for (int i = 0; i < s.length(); ) {
                int cp = s.codePointAt(i);
                i += Character.charCount(cp);
                // Each character is lower-cased alone (no final-sigma rule); the one character whose lower case is
                // two characters without a language condition is İ.
                if (cp == 0x130) {
                    sb.append("i\u0307");
                } else {
                    sb.appendCodePoint(Character.toLowerCase(cp));
                }
            }
            s = sb.toString();
        }
        return s;
    }

    /** Unicode's White_Space property, as Rust's {@code char::is_whitespace} has it. */
    static boolean isWhitespace(int cp) {
        return (cp >= 0x9 && cp <= 0xD)
                || cp == 0x20
                || cp == 0x85
                || cp == 0xA0
                || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A)
                || cp == 0x2028
                || cp == 0x2029
                || cp == 0x202F
                || cp == 0x205F
                || cp == 0x3000;
    }

    // ---- pre-tokenization and WordPiece ----

    private void words(String segment, List<Integer> out) {
        if (segment.isEmpty()) {
            return;
        }
        String s = normalize(segment);
        int wordStart = -1;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            int next = i + Character.charCount(cp);
            boolean space = isWhitespace(cp);
            boolean punct = !space && CharClasses.in(CharClasses.PUNCTUATION, cp);
            if (space || punct) {
                if (wordStart >= 0) {
                    wordPiece(s.substring(wordStart, i), out);
                    wordStart = -1;
                }
                if (punct) {
                    wordPiece(s.substring(i, next), out);
                }
            } else if (wordStart < 0) {
                wordStart = i;
            }
            i = next;
        }
        if (wordStart >= 0) {
            wordPiece(s.substring(wordStart), out);
        }
    }

    private void wordPiece(String word, List<Integer> out) {
        int[] cps = word.codePoints().toArray();
        if (cps.length > settings.maxInputCharsPerWord) {
            out.add(settings.unkId);
            return;
        }
        List<Integer> pieces = new ArrayList<>();
        int start = 0;
        while (start < cps.length) {
            Integer id = null;
            int end = cps.length;
            while (start < end) {
                String piece = new String(cps, start, end - start);
                if (start > 0) {
                    piece = settings.continuingSubwordPrefix + piece;
                }
                id = vocab.get(piece);
                if (id != null) {
                    break;
                }
                end--;
            }
            if (id == null) {
                out.add(settings.unkId);
                return;
            }
            pieces.add(id);
            start = end;
        }
        out.addAll(pieces);
    }
}
