package io.sparkformer.worker.training;

/** AdamW's state of one replica as it travels between machines: both moments and the step count. */
public record OptimizerState(float[] firstMoment, float[] secondMoment, long step) implements java.io.Serializable {
    /** A fresh optimizer for {@code length} parameters: zero moments, step 0. */
    public static OptimizerState fresh(int length) {
        return new OptimizerState(new float[length], new float[length], 0);
    }
}
