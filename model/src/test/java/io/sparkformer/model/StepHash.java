package io.sparkformer.model;

import java.util.Arrays;
import java.util.Random;

import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.model.optim.AdamW;
import io.sparkformer.model.optim.GradientClipping;

/**
 * Five training steps of a small decoder for each given number of task threads, one after the
 * other in this JVM (a task sets its threads at its start, whatever ran before); prints the
 * parameters' hash for each. Run in child JVMs by {@link NativeThreadsTest}. Arguments: threads...
 */
public final class StepHash {
    public static void main(String[] args) {
        for (String threads : args) {
            NativeThreads.apply(Integer.parseInt(threads));
            System.out.println("BLAS " + Nd4jRuntime.blas() + " threads " + NativeThreads.blasThreads());
            System.out.println("HASH " + threads + " " + Integer.toHexString(Arrays.hashCode(train())));
        }
    }

    private static float[] train() {
        TransformerConfig cfg = TransformerConfig.decoder(65, 64, 4, 2, 32);
        Transformer model = new Transformer(cfg, DataType.FLOAT);
        model.initialize(1);
        AdamW adamw = new AdamW(model.layout(), DataType.FLOAT, new AdamW.Settings(0.9, 0.99, 1e-8, 0.1));
        Random rnd = new Random(2);
        for (int step = 0; step < 5; step++) {
            int[] ids = new int[8 * 32];
            int[] targets = new int[ids.length];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = 1 + rnd.nextInt(64);
                targets[i] = rnd.nextInt(65);
            }
            model.forwardBackward(Batch.of(8, 32, ids, targets));
            GradientClipping.clip(model.gradients(), 0.5);
            adamw.apply(model.parameters(), model.gradients(), 1e-3);
        }
        return model.parameters().flat().toFloatVector();
    }
}
