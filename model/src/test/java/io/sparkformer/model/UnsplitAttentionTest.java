package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.model.TransformerConfig.Activation;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.TransformerConfig.Positional;

/**
 * Inference's self-attention reads Q, K and V where the projection wrote them and writes the
 * context in place (no per-head copies); a pass that a backward may follow splits the heads into
 * blocks of their own. Both give the same hidden states, bit for bit: an encoder over padded rows
 * (post-norm, as BERT) and a causal decoder (pre-norm, as GPT-2), at several batch shapes.
 */
class UnsplitAttentionTest {
    @Test
    void inferenceOnTheProjectionsRowsGivesTheSplitHeadsBits() {
        Nd4jRuntime.init();
        Object[][] models = {{Kind.ENCODER, Norm.POST}, {Kind.DECODER, Norm.PRE}};
        int[][] shapes = {{16, 40}, {8, 21}, {3, 64}, {4, 1}, {1, 3}};
        for (Object[] kind : models) {
            TransformerConfig cfg = new TransformerConfig((Kind) kind[0], 200, 64, 4, 2, 256, 64, (Norm) kind[1],
                    Positional.LEARNED, Activation.GELU, false, 1e-5, 0, 0.0);
            Transformer model = new Transformer(cfg, DataType.FLOAT);
            model.initialize(5);
            for (int[] shape : shapes) {
                int[] ids = ids(shape[0], shape[1], kind[0] == Kind.ENCODER);
                model.forward(Batch.of(shape[0], shape[1], ids, ids.clone()), false); // targets: the heads are split
                float[] split = model.hiddenStates().dup().data().asFloat();
                float[] unsplit = model.hiddenStates(Batch.of(shape[0], shape[1], ids, null)).dup().data().asFloat();
                assertTrue(split.length == shape[0] * shape[1] * 64);
                assertArrayEquals(split, unsplit, kind[0] + " " + shape[0] + "x" + shape[1]);
            }
        }
    }

    /** Token ids; for an encoder, row r ends in r % 7 padding tokens (id 0). */
    private static int[] ids(int rows, int length, boolean padded) {
        java.util.Random r = new java.util.Random(rows * 31L + length);
        int[] ids = new int[rows * length];
        for (int i = 0; i < rows; i++) {
            int real = padded ? Math.max(1, length - i % 7) : length;
            for (int t = 0; t < real; t++) {
                ids[i * length + t] = 1 + r.nextInt(199);
            }
        }
        return ids;
    }
}
