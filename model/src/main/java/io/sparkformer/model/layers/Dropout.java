package io.sparkformer.model.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.random.impl.BernoulliDistribution;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Inverted dropout: keeps each element with probability 1 − p and scales it by 1/(1 − p). The
 * mask comes from ND4J's global RNG, which the model reseeds every step, so a run is repeatable.
 */
public final class Dropout {
    private final double p;
    private INDArray mask;
    private INDArray out;
    private boolean active;

    public Dropout(double p) {
        this.p = p;
    }

    public void allocate(DataType type, long... shape) {
        if (p > 0) {
            mask = Ops.buffer(type, shape);
            out = Ops.buffer(type, shape);
        }
    }

    /** Returns x unchanged when not training or p = 0, else a dropped copy. */
    public INDArray forward(INDArray x, boolean training) {
        active = training && p > 0;
        if (!active) {
            return x;
        }
        Nd4j.getExecutioner().exec(new BernoulliDistribution(mask, 1.0 - p), Nd4j.getRandom());
        mask.muli(1.0 / (1.0 - p));
        x.mul(mask, out);
        return out;
    }

    public boolean active() { return active; }

    public INDArray output() { return out; }

    /** dy ⊙= mask, in place. */
    public void backward(INDArray dy) {
        if (active) {
            dy.muli(mask);
        }
    }
}
