package io.sparkformer.model.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.concurrent.atomic.AtomicIntegerArray;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.model.Batch;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.model.optim.GradientClipping;

/** The host loops' thread count changes the wall time only, never a bit. */
class HostThreadsTest {
    static {
        Nd4jRuntime.init();
    }

    @AfterEach
    void restore() {
        HostThreads.set(1);
    }

    @Test
    void trainingStepsGiveTheSameBitsOnOneAndOnThreeThreads() {
        float[] one = train(1);
        float[] three = train(3);
        assertArrayEquals(one, three, "parameters after three steps, host loops on 1 vs 3 threads");
    }

    @Test
    void everyPieceRunsOnceAndAFailureReachesTheCaller() {
        HostThreads.set(4);
        AtomicIntegerArray runs = new AtomicIntegerArray(37);
        HostThreads.run(37, runs::incrementAndGet);
        for (int i = 0; i < runs.length(); i++) {
            assertEquals(1, runs.get(i), "piece " + i);
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> HostThreads.run(8, i -> {
            if (i == 5) {
                throw new IllegalStateException("piece 5 failed");
            }
        }));
        assertEquals("piece 5 failed", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> HostThreads.set(0));
    }

    /** A decoder whose activations span many pieces (1024 rows of 64; GELU over 262K values). */
    private static float[] train(int threads) {
        HostThreads.set(threads);
        TransformerConfig cfg = TransformerConfig.decoder(65, 64, 4, 2, 64);
        Transformer model = new Transformer(cfg, DataType.FLOAT);
        model.initialize(7);
        AdamW adamw = new AdamW(model.layout(), DataType.FLOAT, new AdamW.Settings(0.9, 0.99, 1e-8, 0.1));
        Random rnd = new Random(11);
        for (int step = 0; step < 3; step++) {
            int[] ids = new int[16 * 64];
            int[] targets = new int[ids.length];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = 1 + rnd.nextInt(64);
                targets[i] = rnd.nextInt(65);
            }
            double loss = model.forwardBackward(Batch.of(16, 64, ids, targets));
            assertTrue(Double.isFinite(loss));
            GradientClipping.clip(model.gradients(), 0.5);
            adamw.apply(model.parameters(), model.gradients(), 1e-3);
        }
        return model.parameters().flat().toFloatVector();
    }
}
