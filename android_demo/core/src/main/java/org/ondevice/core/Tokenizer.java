package org.ondevice.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * Text to model inputs, with the ids the Python side's {@code tokenizers} gives: WordPiece, byte-level BPE or
 * SentencePiece Unigram, read from the bundle's {@code tokenizer.json} by {@link TokenizerJson}.
 */
public interface Tokenizer {
    /** Ids of the text alone, without special tokens, neither truncated nor padded. */
    int[] textIds(String text);

    /** The id that starts every sequence. */
    int clsId();

    /** The id that ends every sequence, kept last when a text is truncated. */
    int sepId();

    /** How the post-processor joins two texts: its special tokens and token types. */
    PairTemplate pairTemplate();

    /** The id that fills a sequence after its last token. */
    int padId();

    /** Ids the vocabulary holds, added tokens included. */
    int vocabSize();

    /** Ids of the text with the special tokens (first and separator), neither truncated nor padded. */
    default int[] ids(String text) {
        int[] inner = textIds(text);
        int[] out = new int[inner.length + 2];
        out[0] = clsId();
        System.arraycopy(inner, 0, out, 1, inner.length);
        out[out.length - 1] = sepId();
        return out;
    }

    /**
     * Ids, attention mask and token types at a fixed length: too long a text keeps its first {@code seqLen - 1} ids
     * and ends with the separator, as the Python side's {@code Tokenizer.token_ids} does; a shorter one is padded.
     */
    default Encoding encode(String text, int seqLen) {
        return Encoding.fit(ids(text), seqLen, padId(), sepId());
    }

    /** {@link #encode(String, int)} at the smallest of the lengths that holds the text (the longest if none does). */
    default Encoding encode(String text, List<Integer> seqLens) {
        int[] ids = ids(text);
        return Encoding.fit(ids, Encoding.pickLength(seqLens, ids.length), padId(), sepId());
    }

    /** Tokens the text needs with its special tokens, before truncation. */
    default int countTokens(String text) {
        return ids(text).length;
    }

    /**
     * A pair of texts at a fixed length, as the Python side encodes it with {@code tokenizers}: each text's ids,
     * cut longest first to what the pair's special tokens leave (see {@link PairTemplate#keep}), joined by the
     * post-processor's pair template with its token types, then padded.
     */
    default Encoding encodePair(String a, String b, int seqLen) {
        return pairTemplate().fit(textIds(a), textIds(b), seqLen, padId());
    }

    /** {@link #encodePair(String, String, int)} at the smallest of the lengths that holds the untruncated pair. */
    default Encoding encodePair(String a, String b, List<Integer> seqLens) {
        int[] first = textIds(a);
        int[] second = textIds(b);
        PairTemplate template = pairTemplate();
        int tokens = first.length + second.length + template.added();
        return template.fit(first, second, Encoding.pickLength(seqLens, tokens), padId());
    }

    /** Model inputs for one text, or a pair of texts, at one fixed length. */
    final class Encoding {
        /** Token ids with the special tokens, then padding; length {@code seqLen}. */
        public final int[] inputIds;
        /** 1 for each real token, 0 for padding. */
        public final int[] attentionMask;
        /** The segment of each token: all 0 for one text; for a pair, as the post-processor's template says. */
        public final int[] tokenTypeIds;
        /** Tokens the input needs with its special tokens, before truncation. */
        public final int tokens;
        public final int seqLen;

        Encoding(int[] inputIds, int[] attentionMask, int[] tokenTypeIds, int tokens, int seqLen) {
            this.inputIds = inputIds;
            this.attentionMask = attentionMask;
            this.tokenTypeIds = tokenTypeIds;
            this.tokens = tokens;
            this.seqLen = seqLen;
        }

        public boolean truncated() {
            return tokens > seqLen;
        }

        static Encoding fit(int[] ids, int seqLen, int padId, int sepId) {
            if (seqLen < 2) {
                throw new IllegalArgumentException("a sequence length must hold two special tokens, got " + seqLen);
            }
            int[] inputIds = new int[seqLen];
            int[] mask = new int[seqLen];
            Arrays.fill(inputIds, padId);
            int n = Math.min(ids.length, seqLen);
            System.arraycopy(ids, 0, inputIds, 0, n);
            if (ids.length > seqLen) {
                inputIds[seqLen - 1] = sepId;
            }
            Arrays.fill(mask, 0, n, 1);
            return new Encoding(inputIds, mask, new int[seqLen], ids.length, seqLen);
        }

        /** The smallest of the lengths that holds the text's tokens; the longest when none does. */
        public static int pickLength(List<Integer> seqLens, int tokens) {
            List<Integer> sorted = new ArrayList<>(seqLens);
            Collections.sort(sorted);
            for (int n : sorted) {
                if (n >= tokens) {
                    return n;
                }
            }
            return sorted.get(sorted.size() - 1);
        }
    }
}
