package io.sparkformer.model.optim;

/** The learning rate for a (0-based) optimizer step. Serializable, so schedules reach Spark executors. */
@FunctionalInterface
public interface LearningRateSchedule extends java.io.Serializable {
    double at(long step);

    static LearningRateSchedule constant(double lr) {
        return step -> lr;
    }

    /**
     * Linear warmup to maxLr over warmup steps, then cosine decay to minLr at decaySteps, then
     * minLr: nanoGPT's schedule, step for step.
     */
    static LearningRateSchedule warmupCosine(double maxLr, double minLr, long warmup, long decaySteps) {
        if (decaySteps < warmup) {
            throw new IllegalArgumentException("decay steps (" + decaySteps + ") must be at least warmup (" + warmup + ")");
        }
        return step -> {
            if (step < warmup) {
                return maxLr * (step + 1) / (warmup + 1);
            }
            if (step > decaySteps) {
                return minLr;
            }
            double ratio = decaySteps == warmup ? 1.0 : (double) (step - warmup) / (decaySteps - warmup);
            double coeff = 0.5 * (1.0 + Math.cos(Math.PI * ratio));
            return minLr + coeff * (maxLr - minLr);
        };
    }

    /**
     * Hugging Face's get_linear_schedule_with_warmup: maxLr·s/warmup for s < warmup (step 0 at
     * 0), then straight down to minLr at totalSteps.
     */
    static LearningRateSchedule warmupLinear(double maxLr, double minLr, long warmup, long totalSteps) {
        if (totalSteps <= warmup) {
            throw new IllegalArgumentException("total steps (" + totalSteps + ") must exceed warmup (" + warmup + ")");
        }
        return step -> {
            if (step < warmup) {
                return maxLr * step / warmup;
            }
            double left = Math.max(0.0, (double) (totalSteps - step) / (totalSteps - warmup));
            return minLr + (maxLr - minLr) * left;
        };
    }

    /** The original Transformer's schedule: factor · d^−½ · min(s^−½, s · warmup^−1.5), s = step + 1. */
    static LearningRateSchedule noam(double factor, int dModel, long warmup) {
        if (warmup < 1) {
            throw new IllegalArgumentException("noam warmup must be at least 1, got " + warmup);
        }
        return step -> {
            double s = step + 1;
            return factor * Math.pow(dModel, -0.5) * Math.min(Math.pow(s, -0.5), s * Math.pow(warmup, -1.5));
        };
    }
}
