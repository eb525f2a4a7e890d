package io.sparkformer.worker.training;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.Batch;
import io.sparkformer.model.Model;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.model.optim.GradientClipping;
import io.sparkformer.model.optim.LearningRateSchedule;
import io.sparkformer.worker.batches.BatchSource;

/**
 * Trains one model replica for a number of local steps. Parameters and AdamW's state come in
 * as a {@link Replica} (or stay in the replica's native buffers), so a round is a deterministic function of its inputs: the
 * same inputs give the same outputs on any machine, which lets Spark rerun a lost task and a
 * resumed run match an unbroken one. The model and its buffers stay allocated between rounds.
 * Knows nothing of Spark.
 */
public final class LocalTrainer {
    /** Optimisation settings shared by every worker. */
    public record Settings(AdamW.Settings adamw, double gradClip, LearningRateSchedule schedule, long seed)
            implements java.io.Serializable {}

    private final Model model;
    private final AdamW adamw;
    private final Settings settings;

    public LocalTrainer(TransformerConfig config, Settings settings) {
        this(config, settings, io.sparkformer.model.ParameterBuffer.Memory.ND4J);
    }

    /** As {@link #LocalTrainer(TransformerConfig, Settings)}, with the parameters in memory from {@code parameterMemory}. */
    public LocalTrainer(TransformerConfig config, Settings settings, io.sparkformer.model.ParameterBuffer.Memory parameterMemory) {
        this.model = Model.create(config, DataType.FLOAT, parameterMemory);
        this.adamw = new AdamW(model.layout(), DataType.FLOAT, settings.adamw());
        this.settings = settings;
    }

    public Model model() { return model; }

    public long parameterCount() { return model.parameterCount(); }

    /** The replica's optimizer, to write its state into a checkpoint or read it from one. */
    public AdamW optimizer() { return adamw; }

    /**
     * Loads {@code start} (parameters and optimizer state) and runs {@code steps} steps on batches
     * firstStep, firstStep+1, ..., with learning rates schedule(firstStep), schedule(firstStep+1), ...
     * Stops at the first non-finite loss and reports it; {@link #replica} holds the result.
     */
    public RoundReport round(Replica start, BatchSource batches, long firstStep, int steps) {
        long t0 = System.nanoTime();
        load(start.params());
        OptimizerState o = start.optimizer();
        adamw.restore(o.step(), o.firstMoment(), o.secondMoment());
        return run(batches, firstStep, steps, t0, () -> {});
    }

    /**
     * Runs {@code steps} steps from the parameters and optimizer state the replica holds now
     * (set through {@link #parameterView}, {@link #momentViews} and {@link #restoreStep}, or left
     * by the last round): the vectors stay in native memory. {@code beforeFirstUpdate} runs once
     * the first step's gradients are in and before the optimizer changes anything: until then the
     * parameters and moments are as the round found them, so a write of them may still run.
     */
    public RoundReport continueRound(BatchSource batches, long firstStep, int steps, Runnable beforeFirstUpdate) {
        return run(batches, firstStep, steps, System.nanoTime(), beforeFirstUpdate);
    }

    /** Copies of the replica's parameters and optimizer state, to send elsewhere. */
    public Replica replica() {
        return new Replica(model.parameters().flat().toFloatVector(), new OptimizerState(
                adamw.firstMoment().flat().toFloatVector(), adamw.secondMoment().flat().toFloatVector(), adamw.step()));
    }

    private RoundReport run(BatchSource batches, long firstStep, int steps, long t0, Runnable beforeFirstUpdate) {
        double lossSum = 0;
        long tokens = 0;
        for (int i = 0; i < steps; i++) {
            long step = firstStep + i;
            if (model.config().dropout() > 0) {
                Nd4j.getRandom().setSeed(BatchSource.mix(settings.seed(), step));
            }
            Batch batch = batches.batch(step);
            double loss = model.forwardBackward(batch);
            if (!Double.isFinite(loss)) {
                return RoundReport.diverged(loss, step, tokens, seconds(t0), adamw.step());
            }
            double norm = GradientClipping.clip(model.gradients(), settings.gradClip());
            if (!Double.isFinite(norm)) {
                return RoundReport.diverged(Double.NaN, step, tokens, seconds(t0), adamw.step());
            }
            if (i == 0) {
                beforeFirstUpdate.run();
            }
            adamw.apply(model.parameters(), model.gradients(), settings.schedule().at(step));
            lossSum += loss;
            tokens += batch.realTokens(model.config().padId());
        }
        // a finite loss says nothing of the last update: weights that overflowed must not leave the replica
        if (steps > 0 && !allFinite(parameterView())) {
            return RoundReport.diverged(Double.NaN, firstStep + steps - 1, tokens, seconds(t0), adamw.step());
        }
        return RoundReport.trained(lossSum / steps, tokens, seconds(t0), adamw.step());
    }

    private static boolean allFinite(java.nio.FloatBuffer values) {
        for (int i = values.position(); i < values.limit(); i++) {
            if (!Float.isFinite(values.get(i))) {
                return false;
            }
        }
        return true;
    }

    /** The replica's parameters, in native memory: read them or write them in place. */
    public java.nio.FloatBuffer parameterView() {
        return io.sparkformer.model.ParameterBuffer.view(model.parameters().flat());
    }

    /** AdamW's first and second moments, in native memory. */
    public java.nio.FloatBuffer[] momentViews() {
        return new java.nio.FloatBuffer[] {io.sparkformer.model.ParameterBuffer.view(adamw.firstMoment().flat()),
            io.sparkformer.model.ParameterBuffer.view(adamw.secondMoment().flat())};
    }

    /** A fresh optimizer: zero moments, step 0. */
    public void resetOptimizer() {
        adamw.reset();
    }

    /** The optimizer's step count, for moments written through {@link #momentViews}. */
    public void restoreStep(long optimizerStep) {
        adamw.restoreStep(optimizerStep);
    }

    /**
     * Sum of per-token losses and the number of counted tokens, with params, over batches first,
     * first + stride, ... below end.
     */
    public double[] evaluate(float[] params, BatchSource batches, long first, long end, int stride) {
        load(params);
        return evaluate(batches, first, end, stride);
    }

    /** As {@link #evaluate(float[], BatchSource, long, long, int)} with the parameters the replica holds now. */
    public double[] evaluate(BatchSource batches, long first, long end, int stride) {
        double sum = 0;
        long counted = 0;
        for (long i = first; i < end; i += stride) {
            Batch b = batches.batch(i);
            int n = b.countedTargets();
            double loss = model.forward(b, false);
            if (n > 0) {
                sum += loss * n;
                counted += n;
            }
        }
        return new double[] {sum, counted};
    }

    private void load(float[] params) {
        if (params.length != model.parameterCount()) {
            throw new IllegalArgumentException("parameter array has " + params.length + " values, the model needs "
                    + model.parameterCount());
        }
        io.sparkformer.model.ParameterBuffer.copyInto(params, model.parameters().flat());
    }

    private static double seconds(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }
}
