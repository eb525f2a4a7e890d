package io.sparkformer.model.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Erf;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Exp;
import org.nd4j.linalg.api.ops.impl.transforms.strict.Tanh;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.TransformerConfig.Activation;

/**
 * An element-wise activation with what its backward pass needs kept from the forward: exact
 * (erf) GELU, GELU's tanh form or ReLU, over [rows, width] buffers of its own.
 */
final class ActivationFunction {
    private static final double INV_SQRT2 = 1.0 / Math.sqrt(2.0);
    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2.0 * Math.PI);
    /** GELU's tanh form: gelu(u) ≈ u·(1 + tanh(√(2/π)·(u + 0.044715·u³)))/2. */
    private static final double TANH_SCALE = Math.sqrt(2.0 / Math.PI);
    private static final double TANH_CUBIC = 0.044715;

    private final Activation activation;
    private INDArray pre;    // the input of the last forward pass
    private INDArray cdf;    // GELU on the ND4J path: Φ(pre) (the float32 host path keeps nothing: its backward recomputes gelu')
    private INDArray act;
    private INDArray tmp;

    ActivationFunction(Activation activation) {
        this.activation = activation;
    }

    void allocate(DataType type, long rows, long width) {
        act = Ops.buffer(type, rows, width);
        tmp = Ops.buffer(type, rows, width);
        cdf = activation != Activation.RELU ? Ops.buffer(type, rows, width) : null;
    }

    /** True after a forward pass on the float32 host path, whose backward computes gelu'(pre) itself. */
    private boolean hostGelu;

    /**
     * act(pre), into a buffer of its own; {@code pre} must be left as it is until {@link #backward}.
     * The float32 host path leaves gelu' to the backward pass, which multiplies it in as it goes
     * (the same bits as keeping it, and no buffer per layer).
     */
    INDArray forward(INDArray pre, boolean training) {
        this.pre = pre;
        hostGelu = activation == Activation.GELU && FloatKernels.applies(pre, act);
        if (hostGelu) {
            FloatKernels.geluForward(pre, act);
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
        return act;
    }

    /** dAct ⊙= act'(pre), in place: the gradient with respect to the last forward pass's input. */
    void backward(INDArray dAct) {
        if (hostGelu && FloatKernels.applies(dAct)) {
            FloatKernels.geluBackward(pre, dAct);
        } else if (hostGelu) {
            FloatKernels.geluDerivative(pre, cdf);
            dAct.muli(cdf);
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
    }
}
