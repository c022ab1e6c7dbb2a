package org.ondevice.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * How the tokenizer's post-processor joins two texts: the special tokens before, between and after them and the
 * token type (segment) of every token. BERT's {@code [CLS] A [SEP] B [SEP]} with types 0 then 1, RoBERTa's
 * {@code <s> A </s></s> B </s>} with types all 0 (as {@code tokenizers}' RobertaProcessing gives them), or the pair
 * template of a TemplateProcessing, as XLM-R's and newer BERT checkpoints carry it.
 *
 * <p>A pair too long for its length is cut as {@code tokenizers}' longest-first truncation cuts it
 * ({@link #keep}), the special tokens kept, so that the ids equal the Python side's.
 */
public final class PairTemplate {
    /** Per piece: the special token's ids, or null where a text goes. */
    private final int[][] specials;
    /** Per piece: 0 for the first text, 1 for the second, -1 for a special token. */
    private final int[] sequence;
    private final int[] typeIds;
    private final int added;

    private PairTemplate(List<int[]> specials, List<Integer> sequence, List<Integer> typeIds) {
        this.specials = specials.toArray(new int[0][]);
        this.sequence = new int[sequence.size()];
        this.typeIds = new int[typeIds.size()];
        int n = 0;
        for (int i = 0; i < this.sequence.length; i++) {
            this.sequence[i] = sequence.get(i);
            this.typeIds[i] = typeIds.get(i);
            n += this.specials[i] == null ? 0 : this.specials[i].length;
        }
        this.added = n;
    }

    /** BERT's pair: what a WordPiece bundle without tokenizer.json (vocab.txt only) gets, as BertProcessing. */
    static PairTemplate bert(int clsId, int sepId) {
        return new Builder().special(clsId, 0).text(0, 0).special(sepId, 0).text(1, 1).special(sepId, 1).build();
    }

    /** RoBERTa's pair: two separators between the texts, every token of type 0. */
    static PairTemplate roberta(int clsId, int sepId) {
        return new Builder().special(clsId, 0).text(0, 0).special(sepId, 0).special(sepId, 0).text(1, 0)
                .special(sepId, 0).build();
    }

    /** The pair template of a TemplateProcessing post-processor: its "pair" pieces and "special_tokens". */
    static PairTemplate template(Map<String, Object> processor) {
        Map<String, Object> specials = Json.object(processor, "special_tokens");
        Builder b = new Builder();
        int[] seen = new int[2];
        for (Object piece : Json.array(processor, "pair")) {
            if (!(piece instanceof Map)) {
                throw new Json.JsonException("its post-processor's pair template holds " + Json.kind(piece));
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> p = (Map<String, Object>) piece;
            if (p.get("SpecialToken") instanceof Map) {
                @SuppressWarnings("unchecked")
                Map<String, Object> s = (Map<String, Object>) p.get("SpecialToken");
                String name = Json.string(s, "id");
                if (!(specials.get(name) instanceof Map)) {
                    throw new Json.JsonException("its post-processor's pair template names " + name
                            + ", which its special_tokens lack");
                }
                @SuppressWarnings("unchecked")
                List<Object> ids = Json.array((Map<String, Object>) specials.get(name), "ids");
                int[] values = new int[ids.size()];
                for (int k = 0; k < values.length; k++) {
                    values[k] = ((Long) ids.get(k)).intValue();
                }
                b.special(values, (int) Json.integer(s, "type_id"));
            } else if (p.get("Sequence") instanceof Map) {
                @SuppressWarnings("unchecked")
                Map<String, Object> s = (Map<String, Object>) p.get("Sequence");
                String id = Json.string(s, "id");
                if (!id.equals("A") && !id.equals("B")) {
                    throw new Json.JsonException("its post-processor's pair template names a text " + id);
                }
                int which = id.equals("A") ? 0 : 1;
                seen[which]++;
                b.text(which, (int) Json.integer(s, "type_id"));
            } else {
                throw new Json.JsonException("its post-processor's pair template holds a piece that is neither a"
                        + " special token nor a text");
            }
        }
        if (seen[0] != 1 || seen[1] != 1) {
            throw new Json.JsonException("its post-processor's pair template does not hold each text once");
        }
        return b.build();
    }

    /** Special tokens the template adds to a pair. */
    public int added() {
        return added;
    }

    /**
     * The pair's ids, mask and token types at {@code seqLen}: the texts' own ids ({@link Tokenizer#textIds}) cut
     * longest first to what the special tokens leave, joined by the template, then padded with {@code padId} (mask
     * and types 0).
     */
    Tokenizer.Encoding fit(int[] a, int[] b, int seqLen, int padId) {
        if (seqLen < added) {
            throw new IllegalArgumentException("a sequence length must hold the pair's " + added
                    + " special tokens, got " + seqLen);
        }
        int[] keep = keep(a.length, b.length, seqLen - added);
        int[][] texts = {Arrays.copyOf(a, keep[0]), Arrays.copyOf(b, keep[1])};
        int[] ids = new int[seqLen];
        int[] mask = new int[seqLen];
        int[] types = new int[seqLen];
        Arrays.fill(ids, padId);
        int n = 0;
        for (int i = 0; i < sequence.length; i++) {
            int[] piece = sequence[i] < 0 ? specials[i] : texts[sequence[i]];
            for (int id : piece) {
                ids[n] = id;
                mask[n] = 1;
                types[n] = typeIds[i];
                n++;
            }
        }
        return new Tokenizer.Encoding(ids, mask, types, a.length + b.length + added, seqLen);
    }

    /**
     * How many ids of each text survive when together they may have {@code budget}: none is cut when both fit;
     * else only the longer is cut, when the shorter leaves it room for at least as many; else both are cut to
     * half the budget, the first text's share rounded down. This is {@code tokenizers}' longest-first rule
     * (utils/truncation.rs), for a pair with no stride.
     */
    static int[] keep(int n1, int n2, int budget) {
        if (n1 + n2 <= budget) {
            return new int[] {n1, n2};
        }
        boolean swapped = n1 > n2;
        int shorter = Math.min(n1, n2);
        int longer = shorter > budget ? shorter : Math.max(shorter, budget - shorter);
        if (shorter + longer > budget) {
            shorter = budget / 2;
            longer = shorter + budget % 2;
        }
        return swapped ? new int[] {Math.min(n1, longer), Math.min(n2, shorter)}
                : new int[] {Math.min(n1, shorter), Math.min(n2, longer)};
    }

    private static final class Builder {
        private final List<int[]> specials = new ArrayList<>();
        private final List<Integer> sequence = new ArrayList<>();
        private final List<Integer> typeIds = new ArrayList<>();

        Builder special(int id, int typeId) {
            return special(new int[] {id}, typeId);
        }

        Builder special(int[] ids, int typeId) {
            specials.add(ids);
            sequence.add(-1);
            typeIds.add(typeId);
            return this;
        }

        Builder text(int which, int typeId) {
            specials.add(null);
            sequence.add(which);
            typeIds.add(typeId);
            return this;
        }

        PairTemplate build() {
            return new PairTemplate(specials, sequence, typeIds);
        }
    }
}
