package io.sparkformer.model.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import io.sparkformer.model.TransformerConfig.Activation;

/** fc2(act(fc1(x))) with exact (erf) GELU, GELU's tanh form or ReLU. */
public final class FeedForward {
    private final INDArray w1, b1, w2, b2;
    private final INDArray dw1, db1, dw2, db2;
    private final ActivationFunction activation;

    private INDArray x;
    private INDArray pre;    // fc1 output
    private INDArray act;    // activation output
    private INDArray out;
    private INDArray dAct;

    /** fc1 [d, ff] and fc2 [ff, d], with their gradients (or none: forward only). */
    public FeedForward(Weights fc1, Weights fc2, Activation activation) {
        this.w1 = fc1.weight();
        this.b1 = fc1.bias();
        this.w2 = fc2.weight();
        this.b2 = fc2.bias();
        this.dw1 = fc1.weightGrad();
        this.db1 = fc1.biasGradRow();
        this.dw2 = fc2.weightGrad();
        this.db2 = fc2.biasGradRow();
        this.activation = new ActivationFunction(activation);
    }

    public void allocate(DataType type, long rows, long d, long ff) {
        pre = Ops.buffer(type, rows, ff);
        dAct = Ops.scratch("feedForward.dAct", type, rows, ff);
        activation.allocate(type, rows, ff);
        out = Ops.buffer(type, rows, d);
    }

    public INDArray output() { return out; }

    public long inputWidth() { return w1.size(0); }

    public long hiddenWidth() { return w1.size(1); }

    public INDArray forward(INDArray input) {
        return forward(input, true);
    }

    /** Without {@code training}, what only {@link #backward} needs is left to it (the same bits). */
    public INDArray forward(INDArray input, boolean training) {
        this.x = input;
        Linear.forward(x, w1, b1, pre);
        act = activation.forward(pre, training);
        Linear.forward(act, w2, b2, out);
        return out;
    }

    /** dx = dL/dx (added to dx when accumulate); parameter gradients accumulate. */
    public void backward(INDArray dOut, INDArray dx, boolean accumulate, INDArray ones) {
        Linear.backward(act, w2, dOut, dw2, db2, dAct, 0.0, ones);
        activation.backward(dAct);
        Linear.backward(x, w1, dAct, dw1, db1, dx, accumulate ? 1.0 : 0.0, ones);
    }
}
