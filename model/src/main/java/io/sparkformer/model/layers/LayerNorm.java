package io.sparkformer.model.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.floating.RSqrt;
import org.nd4j.linalg.factory.Nd4j;

/** LayerNorm over the last dimension with biased variance: y = (x − μ)/√(σ² + ε)·g + b. */
public final class LayerNorm {
    private final INDArray gain;
    private final INDArray bias;
    private final INDArray gainGrad;
    private final INDArray biasGrad;
    private final double eps;

    private INDArray xhat;
    private INDArray rstd;
    private INDArray out;
    private INDArray tmp;
    private INDArray dxhat;
    private INDArray rowStat;
    private INDArray rowStat2;

    /** The gain and bias as {@code norm}'s weight and bias, with their gradients (or none: forward only). */
    public LayerNorm(Weights norm, double eps) {
        this.gain = norm.weight();
        this.bias = norm.bias();
        this.gainGrad = norm.weightGrad() == null ? null : norm.weightGrad().reshape(1, norm.weightGrad().length());
        this.biasGrad = norm.biasGradRow();
        this.eps = eps;
    }

    public void allocate(DataType type, long rows, long d) {
        xhat = Ops.buffer(type, rows, d);
        out = Ops.buffer(type, rows, d);
        tmp = Ops.scratch("layerNorm.tmp", type, rows, d);
        dxhat = Ops.scratch("layerNorm.dxhat", type, rows, d);
        rstd = Ops.buffer(type, rows);
        rowStat = Ops.scratch("layerNorm.rowStat", type, rows);
        rowStat2 = Ops.scratch("layerNorm.rowStat2", type, rows);
    }

    public INDArray output() { return out; }

    public INDArray forward(INDArray x) {
        return forward(x, true);
    }

    /** Without {@code keep}, x̂ and the row statistics that backward reads are not kept (the same output bits). */
    public INDArray forward(INDArray x, boolean keep) {
        if (FloatKernels.applies(x, gain, bias, xhat, rstd, out)) {
            FloatKernels.layerNormForward(x, null, gain, bias, eps, keep ? xhat : null, keep ? rstd : null, out);
            return out;
        }
        return forwardOps(x);
    }

    /**
     * LN(x + addend): on the float32 loops one pass makes the sum and normalises it (the sum is not
     * kept: backward reads x̂); otherwise the sum goes through {@code sum} first. The same bits either way.
     */
    public INDArray forwardSum(INDArray x, INDArray addend, INDArray sum, boolean keep) {
        if (FloatKernels.applies(x, addend, gain, bias, xhat, rstd, out)) {
            FloatKernels.layerNormForward(x, addend, gain, bias, eps, keep ? xhat : null, keep ? rstd : null, out);
            return out;
        }
        FloatKernels.addAny(x, addend, sum);
        return forward(sum, keep);
    }

    private INDArray forwardOps(INDArray x) {
        if (HostKernels.enabled()) {
            HostKernels.layerNormForward(x, gain, bias, eps, xhat, rstd, out);
            return out;
        }
        x.mean(rowStat, 1);
        Ops.subBroadcast(x, rowStat, xhat, 0);
        xhat.mul(xhat, tmp);
        tmp.mean(rstd, 1);
        rstd.addi(eps);
        Nd4j.exec(new RSqrt(rstd, rstd));
        Ops.mulBroadcast(xhat, rstd, xhat, 0);
        Ops.mulBroadcast(xhat, gain, out, 1);
        out.addiRowVector(bias);
        return out;
    }

    /**
     * Given dy = dL/d(out), accumulates the gain and bias gradients and writes dL/dx + addend
     * into dx (addend may be null: the residual path's gradient, fused in).
     */
    public void backward(INDArray dy, INDArray dx, INDArray addend, INDArray ones) {
        if (FloatKernels.applies(dy, xhat, rstd, gain, gainGrad, biasGrad, dx) && (addend == null || FloatKernels.applies(addend))) {
            FloatKernels.layerNormBackward(dy, xhat, rstd, gain, gainGrad, biasGrad, dx, addend);
            return;
        }
        if (HostKernels.enabled()) {
            HostKernels.layerNormBackward(dy, xhat, rstd, gain, gainGrad, biasGrad, dx, addend);
            return;
        }
        dy.mul(xhat, tmp);
        Ops.mm(ones, tmp, gainGrad, false, false, 1.0, 1.0);
        Ops.mm(ones, dy, biasGrad, false, false, 1.0, 1.0);
        // dx = rstd · (dxhat − mean(dxhat) − xhat · mean(dxhat · xhat))
        Ops.mulBroadcast(dy, gain, dxhat, 1);
        dxhat.mean(rowStat, 1);
        dxhat.mul(xhat, tmp);
        tmp.mean(rowStat2, 1);
        Ops.mulBroadcast(xhat, rowStat2, tmp, 0);
        dxhat.subi(tmp);
        Ops.subBroadcast(dxhat, rowStat, dxhat, 0);
        Ops.mulBroadcast(dxhat, rstd, dx, 0);
        if (addend != null) {
            dx.addi(addend);
        }
    }
}
