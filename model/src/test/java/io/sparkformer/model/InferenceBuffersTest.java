package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * An inference model's buffers stay out of JavaCPP's byte count (BufferSetTest), and its hidden
 * states are a counted model's, bit for bit, through new shapes.
 */
class InferenceBuffersTest {
    @Test
    void anInferenceModelComputesACountedModelsBits() {
        Nd4jRuntime.init();
        TransformerConfig cfg = TransformerConfig.decoder(200, 64, 4, 2, 64);
        Transformer counted = new Transformer(cfg, DataType.FLOAT);
        Transformer inference = new Transformer(cfg, DataType.FLOAT);
        counted.initialize(3);
        inference.initialize(3);
        inference.forInference();
        int[][] shapes = {{16, 40}, {8, 20}, {32, 64}};
        for (int i = 0; i < shapes.length; i++) {
            Batch batch = Batch.of(shapes[i][0], shapes[i][1], ids(shapes[i][0] * shapes[i][1], 17 + i), null);
            float[] want = counted.hiddenStates(batch).dup().data().asFloat();
            float[] got = inference.hiddenStates(batch).dup().data().asFloat();
            assertArrayEquals(want, got, "shape " + shapes[i][0] + "x" + shapes[i][1]);
        }
    }

    private static int[] ids(int n, int seed) {
        java.util.Random r = new java.util.Random(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = 1 + r.nextInt(199);
        }
        return ids;
    }
}
