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
    /** Ids of the text with the special tokens (first and separator), neither truncated nor padded. */
    int[] ids(String text);

    /** The id that ends every sequence, kept last when a text is truncated. */
    int sepId();

    /** The id that fills a sequence after its last token. */
    int padId();

    /** Ids the vocabulary holds, added tokens included. */
    int vocabSize();

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

    /** Model inputs for one text at one fixed length. */
    final class Encoding {
        /** Token ids, the first special token first, the separator last, then padding; length {@code seqLen}. */
        public final int[] inputIds;
        /** 1 for each real token, 0 for padding. */
        public final int[] attentionMask;
        /** The segment of each token: all 0 for one text. */
        public final int[] tokenTypeIds;
        /** Tokens the text needs with its special tokens, before truncation. */
        public final int tokens;
        public final int seqLen;

        Encoding(int[] inputIds, int[] attentionMask, int tokens, int seqLen) {
            this.inputIds = inputIds;
            this.attentionMask = attentionMask;
            this.tokenTypeIds = new int[seqLen];
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
            return new Encoding(inputIds, mask, ids.length, seqLen);
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
