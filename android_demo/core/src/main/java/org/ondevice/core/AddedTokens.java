package org.ondevice.core;

import java.util.ArrayList;
import java.util.List;

/**
 * The added tokens of a {@code tokenizer.json} (such as {@code <s>} or {@code <mask>}), found in the raw text before
 * normalization as the {@code tokenizers} library finds them: leftmost first, the longest where several start at one
 * place, with the whitespace that lstrip/rstrip take; the text between them is tokenized by the model.
 */
final class AddedTokens {
    /** What a split of the text gives: a run of text to tokenize, or an added token's id. */
    interface Sink {
        void text(String segment);

        void token(int id);
    }

    private final List<WordPieceTokenizer.AddedToken> raw;
    private final List<WordPieceTokenizer.AddedToken> normalized;

    /**
     * @param raw the tokens matched in the text as given
     * @param normalized the tokens matched in each run of text after normalization, their content normalized
     */
    AddedTokens(List<WordPieceTokenizer.AddedToken> raw, List<WordPieceTokenizer.AddedToken> normalized) {
        this.raw = new ArrayList<>(raw);
        this.normalized = new ArrayList<>(normalized);
    }

    /** Calls the sink for each non-empty run of the raw text and each raw-matched added token, in order. */
    void splitRaw(String text, Sink sink) {
        split(text, raw, sink);
    }

    /** The same, in a normalized run of text, with the tokens matched after normalization. */
    void splitNormalized(String text, Sink sink) {
        split(text, normalized, sink);
    }

    static void split(String text, List<WordPieceTokenizer.AddedToken> tokens, Sink sink) {
        int start = 0;
        int i = 0;
        while (i < text.length()) {
            WordPieceTokenizer.AddedToken match = null;
            for (WordPieceTokenizer.AddedToken t : tokens) {
                if (text.startsWith(t.content, i) && (match == null || t.content.length() > match.content.length())) {
                    match = t;
                }
            }
            if (match == null) {
                i++;
                continue;
            }
            int from = i;
            int to = i + match.content.length();
            if (match.lstrip) {
                while (from > start && WordPieceTokenizer.isWhitespace(text.charAt(from - 1))) {
                    from--;
                }
            }
            if (match.rstrip) {
                while (to < text.length() && WordPieceTokenizer.isWhitespace(text.charAt(to))) {
                    to++;
                }
            }
            if (from > start) {
                sink.text(text.substring(start, from));
            }
            sink.token(match.id);
            start = to;
            i = to;
        }
        if (start < text.length()) {
            sink.text(text.substring(start));
        }
    }
}
