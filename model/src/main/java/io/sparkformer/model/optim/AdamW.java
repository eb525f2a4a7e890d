package io.sparkformer.model.optim;

import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.updaters.AdamUpdater;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.ParameterLayout;
import io.sparkformer.model.layers.HostKernels;

/**
 * AdamW over whole flat buffers, as PyTorch's: bias-corrected moments, decoupled weight decay on
 * tensors of two or more dimensions only (the layout's prefix), w ← w·(1 − lr·wd) − lr·m̂/(√v̂ + ε).
 *
 * <p>Float32 buffers take one fused host loop (HostKernels.adamw), the same bits under any thread
 * setting. Elsewhere the update is libnd4j's adam_updater, which places ε outside the bias
 * correction (lr·√(1−β₂ᵗ)/(1−β₁ᵗ)·m/(√v + ε′)), so passing ε′ = ε·√(1−β₂ᵗ) gives PyTorch's
 * formula exactly.
 */
public final class AdamW {
    public record Settings(double beta1, double beta2, double eps, double weightDecay) implements java.io.Serializable {
        public Settings {
            if (!(beta1 >= 0 && beta1 < 1)) {
                throw new IllegalArgumentException("beta1 must be in [0, 1), got " + beta1);
            }
            if (!(beta2 >= 0 && beta2 < 1)) {
                throw new IllegalArgumentException("beta2 must be in [0, 1), got " + beta2);
            }
            if (!(eps > 0)) {
                throw new IllegalArgumentException("eps must be positive, got " + eps);
            }
            if (!(weightDecay >= 0)) {
                throw new IllegalArgumentException("weight_decay must be non-negative, got " + weightDecay);
            }
        }
    }

    private final Settings settings;
    private final ParameterBuffer firstMoment;
    private final ParameterBuffer secondMoment;
    private INDArray update;
    private long step;

    public AdamW(ParameterLayout layout, org.nd4j.linalg.api.buffer.DataType type, Settings settings) {
        this.settings = settings;
        this.firstMoment = new ParameterBuffer(layout, type);
        this.secondMoment = new ParameterBuffer(layout, type);
    }

    public Settings settings() { return settings; }

    /** Steps taken so far. */
    public long step() { return step; }

    public ParameterBuffer firstMoment() { return firstMoment; }

    public ParameterBuffer secondMoment() { return secondMoment; }

    /** Restores the state of a checkpoint (moments are copied into this optimizer's buffers). */
    public void restore(long step, INDArray m, INDArray v) {
        if (step < 0) {
            throw new IllegalArgumentException("optimizer step must be non-negative, got " + step);
        }
        this.step = step;
        firstMoment.flat().assign(m);
        secondMoment.flat().assign(v);
    }

    /**
     * As {@link #restore(long, INDArray, INDArray)} from Java arrays, copied straight into the
     * moments' buffers: no temporary native copies (2P floats at a time at 124M parameters).
     */
    public void restore(long step, float[] m, float[] v) {
        if (step < 0) {
            throw new IllegalArgumentException("optimizer step must be non-negative, got " + step);
        }
        io.sparkformer.model.ParameterBuffer.copyInto(m, firstMoment.flat());
        io.sparkformer.model.ParameterBuffer.copyInto(v, secondMoment.flat());
        this.step = step;
    }

    /** The step count alone, for moments written into their buffers directly. */
    public void restoreStep(long step) {
        if (step < 0) {
            throw new IllegalArgumentException("optimizer step must be non-negative, got " + step);
        }
        this.step = step;
    }

    public void reset() {
        step = 0;
        firstMoment.zero();
        secondMoment.zero();
    }

    /** One step with learning rate lr. */
    public void apply(ParameterBuffer params, ParameterBuffer grads, double lr) {
        step++;
        long[] decayed = settings.weightDecay() != 0 ? params.layout().decayedRanges() : new long[0];
        INDArray w = params.flat();
        if (HostKernels.floatLoops(w, grads.flat(), firstMoment.flat(), secondMoment.flat())) {
            HostKernels.adamw(w, grads.flat(), firstMoment.flat(), secondMoment.flat(), decayed, lr, settings.beta1(),
                    settings.beta2(), settings.eps(), settings.weightDecay(), step);
            return;
        }
        double b2 = settings.beta2();
        double epsPrime = settings.eps() * Math.sqrt(1.0 - Math.pow(b2, step));
        Nd4j.exec(new AdamUpdater(grads.flat(), secondMoment.flat(), firstMoment.flat(), update(),
                secondMoment.flat(), firstMoment.flat(), lr, settings.beta1(), b2, epsPrime, (int) (step - 1)));
        for (int r = 0; r < decayed.length; r += 2) {
            w.get(interval(decayed[r], decayed[r + 1])).muli(1.0 - lr * settings.weightDecay());
        }
        w.subi(update());
    }

    /** ND4J's updater writes the step into a buffer of its own, allocated on first use only. */
    private INDArray update() {
        if (update == null) {
            update = Nd4j.zeros(firstMoment.dataType(), firstMoment.layout().size());
        }
        return update;
    }
}
