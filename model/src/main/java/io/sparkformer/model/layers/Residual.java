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

    private INDArray ones;
    private INDArray sum;      // pre: the output; post: x + f(x) before the norm
    private INDArray dIn;
    private INDArray dInner;   // pre: dL/d LN(x); post: dL/d(x + f(x))
    private INDArray dF;       // dL/df after dropout's mask, when dropout is on

    public Residual(Sublayer f, LayerNorm norm, boolean pre, double dropout) {
        this.f = f;
        this.norm = norm;
        this.pre = pre;
        this.dropout = new Dropout(dropout);
    }

    public void allocate(DataType type, Sublayer.Shape shape, long d) {
        long rows = shape.rows();
        ones = shape.onesRows();
        f.allocate(type, shape);
        norm.allocate(type, rows, d);
        dropout.allocate(type, rows, d);
        sum = Ops.buffer(type, rows, d);
        dIn = Ops.buffer(type, rows, d);
        dInner = Ops.buffer(type, rows, d);
        dF = Ops.buffer(type, rows, d);
    }

    public INDArray forward(INDArray x, boolean training) {
        if (pre) {
            add(x, dropout.forward(f.forward(norm.forward(x), training), training), sum);
            return sum;
        }
        add(x, dropout.forward(f.forward(x, training), training), sum);
        return norm.forward(sum);
    }

    private static void add(INDArray x, INDArray fx, INDArray out) {
        if (FloatKernels.applies(x, fx, out)) {
            FloatKernels.add(x, fx, out);
        } else {
            x.add(fx, out);
        }
    }

    /** Returns dL/dx in a buffer this block owns. */
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
