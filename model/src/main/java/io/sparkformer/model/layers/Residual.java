package io.sparkformer.model.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A sublayer with its LayerNorm and residual connection. Pre-norm: x + f(LN(x)); post-norm:
 * LN(x + f(x)). Dropout, when on, applies to f's output before the sum.
 */
public final class Residual {
    private final Sublayer f;
    private final LayerNorm norm;
    private final boolean pre;
    private final Dropout dropout;
    /** Where dL/dx goes: one of two buffers shared by the stack, the other one's than the blocks beside it. */
    private final String gradientSlot;

    private INDArray ones;
    private INDArray sum;      // pre: the output; post: x + f(x) before the norm
    private INDArray dIn;
    private INDArray dInner;   // pre: dL/d LN(x); post: dL/d(x + f(x))
    private INDArray dF;       // dL/df after dropout's mask, when dropout is on

    /**
     * {@code position}: the block's place in its stack. The backward pass hands each block the
     * next one's dL/dx, so neighbours alternate between two shared buffers and no layer holds
     * gradient buffers of its own.
     */
    public Residual(Sublayer f, LayerNorm norm, boolean pre, double dropout, int position) {
        this.f = f;
        this.norm = norm;
        this.pre = pre;
        this.dropout = new Dropout(dropout);
        this.gradientSlot = "residual.dIn." + (position % 2);
    }

    public void allocate(DataType type, Sublayer.Shape shape, long d) {
        long rows = shape.rows();
        ones = shape.onesRows();
        f.allocate(type, shape);
        norm.allocate(type, rows, d);
        dropout.allocate(type, rows, d);
        sum = Ops.buffer(type, rows, d);
        dIn = Ops.scratch(gradientSlot, type, rows, d);
        dInner = Ops.scratch("residual.dInner", type, rows, d);
        dF = Ops.scratch("residual.dF", type, rows, d);
    }

    /** {@code keep}: a backward pass follows, so the norm and f keep what it will read (off in inference). */
    public INDArray forward(INDArray x, boolean training, boolean keep) {
        if (pre) {
            FloatKernels.addAny(x, dropout.forward(f.forward(norm.forward(x, keep), training, keep), training), sum);
            return sum;
        }
        return norm.forwardSum(x, dropout.forward(f.forward(x, training, keep), training), sum, keep);
    }

    /** Returns dL/dx, valid until the block two places away runs its backward pass. */
    public INDArray backward(INDArray dOut) {
        if (pre) {
            f.backward(masked(dOut), dInner, false);
            norm.backward(dInner, dIn, dOut, ones);
        } else {
            norm.backward(dOut, dInner, null, ones);
            f.backward(masked(dInner), dIn, false);
            dIn.addi(dInner);
        }
        return dIn;
    }

    private INDArray masked(INDArray d) {
        if (!dropout.active()) {
            return d;
        }
        dF.assign(d);
        dropout.backward(dF);
        return dF;
    }
}
