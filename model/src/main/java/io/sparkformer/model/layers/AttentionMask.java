package io.sparkformer.model.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Additive attention masks, [R·h, Tq, Tk] for R rows of h heads: 0 where query i may attend to
 * key j, {@link Attention#BLOCKED} where it may not: a key that is padding, or under a causal
 * mask a key after the query's own position. Training and decoding build them here alike.
 */
public final class AttentionMask {
    private AttentionMask() {}

    /** Which keys are padding: key j of row r. */
    public interface KeyPad {
        boolean at(int row, int key);
    }

    /**
     * The mask of queries at positions offset, offset + 1, ... (tq of them) over keys 0..tk-1;
     * {@code causal}: a query sees keys up to its own position.
     */
    public static INDArray of(DataType type, int rows, int heads, int tq, int tk, int offset, boolean causal, KeyPad pad) {
        return Nd4j.createFromArray(values(rows, heads, tq, tk, offset, causal, pad)).reshape(rows * heads, tq, tk).castTo(type);
    }

    /** As {@link #of}, written into {@code target} (its shape is the mask's). */
    public static void fill(INDArray target, int rows, int heads, int tq, int tk, int offset, boolean causal, KeyPad pad) {
        INDArray values = Nd4j.createFromArray(values(rows, heads, tq, tk, offset, causal, pad));
        INDArray cast = values.reshape(target.shape()).castTo(target.dataType());
        target.assign(cast);
        values.close();
        if (cast.closeable()) {
            cast.close();
        }
    }

    private static double[] values(int rows, int heads, int tq, int tk, int offset, boolean causal, KeyPad pad) {
        double[] bias = new double[rows * heads * tq * tk];
        int i = 0;
        for (int r = 0; r < rows; r++) {
            for (int head = 0; head < heads; head++) {
                for (int q = 0; q < tq; q++) {
                    for (int k = 0; k < tk; k++) {
                        boolean blocked = pad.at(r, k) || (causal && k > offset + q);
                        bias[i++] = blocked ? Attention.BLOCKED : 0.0;
                    }
                }
            }
        }
        return bias;
    }
}
