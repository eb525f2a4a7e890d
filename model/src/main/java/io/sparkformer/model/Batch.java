package io.sparkformer.model;

/**
 * One batch of token ids, row-major. For the decoder and encoder kinds, {@code ids} [size,
 * length] is the input; for encoder_decoder, {@code src} [size, srcLength] is the encoder input and
 * {@code ids} the decoder input (beginning with bos). {@code target} [size, length] holds the ids to
 * predict, −1 where nothing is predicted. Target may be null for inference. A classifier's batch
 * has {@code labels} [size], one label per row, and no target.
 */
public record Batch(int size, int length, int[] ids, int[] target, int srcLength, int[] src, int[] labels, int[] types) {
    public Batch(int size, int length, int[] ids, int[] target, int srcLength, int[] src, int[] labels) {
        this(size, length, ids, target, srcLength, src, labels, null);
    }

    public Batch {
        if (size < 1 || length < 1) {
            throw new IllegalArgumentException("batch must have at least one row and one position, got "
                    + size + "x" + length);
        }
        if (ids.length != size * length) {
            throw new IllegalArgumentException("ids has " + ids.length + " entries, expected " + size + "x" + length);
        }
        if (target != null && target.length != size * length) {
            throw new IllegalArgumentException("target has " + target.length + " entries, expected " + size + "x" + length);
        }
        if (src != null && (srcLength < 1 || src.length != size * srcLength)) {
            throw new IllegalArgumentException("src has " + src.length + " entries, expected " + size + "x" + srcLength);
        }
        if (labels != null && labels.length != size) {
            throw new IllegalArgumentException("labels has " + labels.length + " entries, expected " + size);
        }
        if (types != null && types.length != size * length) {
            throw new IllegalArgumentException("types has " + types.length + " entries, expected " + size + "x" + length);
        }
    }

    /** This batch with each token's type (BERT's segment: 0 for the first text, 1 for the second); none means all 0. */
    public Batch withTypes(int[] tokenTypes) {
        return new Batch(size, length, ids, target, srcLength, src, labels, tokenTypes);
    }

    /** A decoder (next token) or encoder (masked LM) batch. */
    public static Batch of(int size, int length, int[] ids, int[] target) {
        return new Batch(size, length, ids, target, 0, null, null);
    }

    /** A classifier batch: a label per row ({@code labels} may be null for inference). */
    public static Batch classification(int size, int length, int[] ids, int[] labels) {
        return new Batch(size, length, ids, null, 0, null, labels);
    }

    /** An encoder-decoder batch. */
    public static Batch seq2seq(int size, int srcLength, int[] src, int length, int[] tgtIn, int[] target) {
        return new Batch(size, length, tgtIn, target, srcLength, src, null);
    }

    public boolean hasSource() { return src != null; }

    /** Positions whose target is not −1; a classifier batch counts its rows. */
    public int countedTargets() {
        if (labels != null) {
            return size;
        }
        int n = 0;
        if (target != null) {
            for (int t : target) {
                if (t != -1) {
                    n++;
                }
            }
        }
        return n;
    }

    /** Positions of {@link #ids} that are not padding: the tokens a step reads (every position when {@code padId} is -1). */
    public long realTokens(int padId) {
        if (padId < 0) {
            return ids().length;
        }
        long n = 0;
        for (int id : ids()) {
            n += id != padId ? 1 : 0;
        }
        return n;
    }
}
