package io.sparkformer.model.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Exp;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Tanh;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.TransformerConfig.Activation;

/** fc2(act(fc1(x))) with exact (erf) GELU, GELU's tanh form or ReLU. */
public final class FeedForward {
    private static final double INV_SQRT2 = 1.0 / Math.sqrt(2.0);
    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2.0 * Math.PI);
    /** GELU's tanh form: gelu(u) ≈ u·(1 + tanh(√(2/π)·(u + 0.044715·u³)))/2. */
    private static final double TANH_SCALE = Math.sqrt(2.0 / Math.PI);
    private static final double TANH_CUBIC = 0.044715;

    private final INDArray w1, b1, w2, b2;
    private final INDArray dw1, db1, dw2, db2;
    private final Activation activation;

    private INDArray x;
    private INDArray pre;    // fc1 output
    private INDArray cdf;    // GELU: Φ(pre); on the float32 host path gelu'(pre) itself
    private INDArray act;    // activation output
    private INDArray out;
    private INDArray dAct;
    private INDArray tmp;

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
        this.activation = activation;
    }

    public void allocate(DataType type, long rows, long d, long ff) {
        pre = Ops.buffer(type, rows, ff);
        act = Ops.buffer(type, rows, ff);
        dAct = Ops.buffer(type, rows, ff);
        tmp = Ops.buffer(type, rows, ff);
        cdf = activation != Activation.RELU ? Ops.buffer(type, rows, ff) : null;
        out = Ops.buffer(type, rows, d);
    }

    public INDArray output() { return out; }

    public long inputWidth() { return w1.size(0); }

    public long hiddenWidth() { return w1.size(1); }

    public INDArray forward(INDArray input) {
        this.x = input;
        Linear.forward(x, w1, b1, pre);
        if (activation == Activation.GELU && FloatKernels.applies(pre, cdf, act)) {
            FloatKernels.geluForward(pre, cdf, act);
        } else if (activation == Activation.GELU) {
            // gelu(u) = u·Φ(u), Φ(u) = (1 + erf(u/√2))/2
            pre.mul(INV_SQRT2, cdf);
            Nd4j.exec(new Erf(cdf, cdf));
            cdf.addi(1.0).muli(0.5);
            pre.mul(cdf, act);
        } else if (activation == Activation.GELU_TANH) {
            // cdf ← (1 + tanh(s·(u + c·u³)))/2, the tanh form's stand-in for Φ(u); act = u·cdf
            pre.mul(pre, cdf).muli(pre).muli(TANH_CUBIC).addi(pre).muli(TANH_SCALE);
            Nd4j.exec(new Tanh(cdf, cdf));
            cdf.addi(1.0).muli(0.5);
            pre.mul(cdf, act);
        } else {
            Ops.relu(pre, act);
        }
        Linear.forward(act, w2, b2, out);
        return out;
    }

    /** dx = dL/dx (added to dx when accumulate); parameter gradients accumulate. */
    public void backward(INDArray dOut, INDArray dx, boolean accumulate, INDArray ones) {
        Linear.backward(act, w2, dOut, dw2, db2, dAct, 0.0, ones);
        if (activation == Activation.GELU && FloatKernels.applies(pre, cdf, dAct)) {
            dAct.muli(cdf); // the forward pass kept gelu'(pre) in cdf
        } else if (activation == Activation.GELU) {
            // gelu'(u) = Φ(u) + u·φ(u), φ(u) = exp(−u²/2)/√(2π)
            pre.mul(pre, tmp);
            tmp.muli(-0.5);
            Nd4j.exec(new Exp(tmp, tmp));
            tmp.muli(pre).muli(INV_SQRT_2PI).addi(cdf);
            dAct.muli(tmp);
        } else if (activation == Activation.GELU_TANH) {
            // with t = tanh(s·(u + c·u³)) = 2·cdf − 1: d/du = cdf + u·(1 − t²)/2 · s·(1 + 3c·u²)
            INDArray t = cdf.mul(2.0).subi(1.0);
            INDArray sech2 = t.muli(t).rsubi(1.0);
            pre.mul(pre, tmp).muli(3 * TANH_CUBIC).addi(1.0).muli(TANH_SCALE * 0.5).muli(sech2).muli(pre).addi(cdf);
            dAct.muli(tmp);
        } else {
            Ops.reluBackward(pre, dAct, dAct);
        }
        Linear.backward(x, w1, dAct, dw1, db1, dx, accumulate ? 1.0 : 0.0, ones);
    }
}
