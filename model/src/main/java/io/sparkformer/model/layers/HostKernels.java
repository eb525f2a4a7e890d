package io.sparkformer.model.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Fused loops over host memory for the row-wise operations where ND4J's one-op-at-a-time
 * execution costs most: LayerNorm (about a dozen ND4J ops per pass, each a full sweep plus a
 * fixed launch cost) and the softmax backward. Used on the CPU backend only. On CUDA the same
 * layers run their ND4J-op versions, which the test suite also runs on the CPU, so both paths
 * are checked against the reference.
 *
 * <p>Arrays handed to these loops must be contiguous row-major (activation buffers and
 * parameter views are). Sums accumulate in double.
 */
public final class HostKernels {
    /** Set -Dsparkformer.hostKernels=false to run the ND4J-op versions on the CPU too. */
    public static final String PROPERTY = "sparkformer.hostKernels";
    private static volatile Boolean enabled;

    private HostKernels() {}

    public static boolean enabled() {
        Boolean e = enabled;
        if (e == null) {
            e = Boolean.parseBoolean(System.getProperty(PROPERTY, "true")) && Nd4j.getEnvironment().isCPU();
            enabled = e;
        }
        return e;
    }

    /** For tests: switch between the host loops and the ND4J-op versions. */
    public static void setEnabled(boolean on) {
        enabled = on && Nd4j.getEnvironment().isCPU();
    }

    /** True when the float32 loops apply to every array (see {@link FloatKernels}). */
    public static boolean floatLoops(INDArray... arrays) {
        return FloatKernels.applies(arrays);
    }

    /** Σ x², in index order (for the gradient norm); float32 arrays. */
    public static double sumOfSquares(INDArray a) {
        return FloatKernels.sumOfSquares(a);
    }

    /** a ⊙= c in place; float32 arrays. */
    public static void scale(INDArray a, double c) {
        FloatKernels.scale(a, c);
    }

    /** One fused AdamW step over flat float32 buffers (see FloatKernels.adamw). */
    public static void adamw(INDArray w, INDArray g, INDArray m, INDArray v, long[] decayed, double lr, double beta1,
                             double beta2, double eps, double weightDecay, long step) {
        FloatKernels.adamw(w, g, m, v, decayed, lr, beta1, beta2, eps, weightDecay, step);
    }

    /** Scratch arrays per thread, reused across calls (slot, grown as needed). */
    private static final ThreadLocal<double[][]> SCRATCH = ThreadLocal.withInitial(() -> new double[8][]);
    private static final ThreadLocal<float[]> FLOATS = ThreadLocal.withInitial(() -> new float[0]);

    private static double[] scratch(int slot, int n) {
        double[][] s = SCRATCH.get();
        if (s[slot] == null || s[slot].length < n) {
            s[slot] = new double[n];
        }
        return s[slot];
    }

    private static void checkContiguous(INDArray a) {
        if (a.ordering() != 'c' || (a.length() > 1 && a.elementWiseStride() != 1)) {
            throw new IllegalArgumentException("host kernels need contiguous row-major arrays");
        }
    }

    /** Copies a contiguous float or double array into scratch slot {@code slot} as doubles. */
    static double[] read(INDArray a, int slot) {
        checkContiguous(a);
        int n = (int) a.length();
        int off = (int) a.offset();
        double[] out = scratch(slot, n);
        if (a.dataType() == DataType.DOUBLE) {
            a.data().asNioDouble().get(off, out, 0, n);
        } else if (a.dataType() == DataType.FLOAT) {
            float[] f = floats(n);
            a.data().asNioFloat().get(off, f, 0, n);
            for (int i = 0; i < n; i++) {
                out[i] = f[i];
            }
        } else {
            throw new IllegalArgumentException("host kernels need float or double arrays, got " + a.dataType());
        }
        return out;
    }

    /** Writes the first a.length() values of src into a. */
    static void write(double[] src, INDArray a) {
        checkContiguous(a);
        int n = (int) a.length();
        int off = (int) a.offset();
        if (a.dataType() == DataType.DOUBLE) {
            a.data().asNioDouble().put(off, src, 0, n);
        } else {
            float[] f = floats(n);
            for (int i = 0; i < n; i++) {
                f[i] = (float) src[i];
            }
            a.data().asNioFloat().put(off, f, 0, n);
        }
    }

    private static float[] floats(int n) {
        float[] f = FLOATS.get();
        if (f.length < n) {
            f = new float[n];
            FLOATS.set(f);
        }
        return f;
    }

    /** out = (x − μ)·rstd·g + b per row; keeps xhat and rstd for the backward pass. */
    static void layerNormForward(INDArray x, INDArray gain, INDArray bias, double eps,
                                 INDArray xhat, INDArray rstd, INDArray out) {
        int rows = (int) x.size(0);
        int d = (int) x.size(1);
        double[] xs = read(x, 0);
        double[] g = read(gain, 1);
        double[] b = read(bias, 2);
        double[] xh = scratch(3, rows * d);
        double[] o = scratch(4, rows * d);
        double[] rs = scratch(5, rows);
        for (int r = 0; r < rows; r++) {
            int base = r * d;
            double sum = 0;
            for (int c = 0; c < d; c++) {
                sum += xs[base + c];
            }
            double mean = sum / d;
            double sq = 0;
            for (int c = 0; c < d; c++) {
                double v = xs[base + c] - mean;
                sq += v * v;
            }
            double inv = 1.0 / Math.sqrt(sq / d + eps);
            rs[r] = inv;
            for (int c = 0; c < d; c++) {
                double v = (xs[base + c] - mean) * inv;
                xh[base + c] = v;
                o[base + c] = v * g[c] + b[c];
            }
        }
        write(xh, xhat);
        write(o, out);
        write(rs, rstd);
    }

    /**
     * dx = rstd·(dŷ − mean(dŷ) − x̂·mean(dŷ·x̂)) with dŷ = dy·g, plus addend when not null;
     * gainGrad += Σ dy·x̂ and biasGrad += Σ dy over rows.
     */
    static void layerNormBackward(INDArray dy, INDArray xhat, INDArray rstd, INDArray gain,
                                  INDArray gainGrad, INDArray biasGrad, INDArray dx, INDArray addend) {
        int rows = (int) dy.size(0);
        int d = (int) dy.size(1);
        double[] dys = read(dy, 0);
        double[] xh = read(xhat, 1);
        double[] rs = read(rstd, 2);
        double[] g = read(gain, 3);
        double[] out = addend == null ? scratch(4, rows * d) : read(addend, 4);
        double[] dg = read(gainGrad, 5);
        double[] db = read(biasGrad, 6);
        for (int r = 0; r < rows; r++) {
            int base = r * d;
            double m1 = 0;
            double m2 = 0;
            for (int c = 0; c < d; c++) {
                double dyv = dys[base + c];
                double x = xh[base + c];
                double dxh = dyv * g[c];
                m1 += dxh;
                m2 += dxh * x;
                dg[c] += dyv * x;
                db[c] += dyv;
            }
            m1 /= d;
            m2 /= d;
            double inv = rs[r];
            for (int c = 0; c < d; c++) {
                double v = inv * (dys[base + c] * g[c] - m1 - xh[base + c] * m2);
                out[base + c] = addend == null ? v : out[base + c] + v;
            }
        }
        write(out, dx);
        write(dg, gainGrad);
        write(db, biasGrad);
    }

    /**
     * table[ids[i], :] += rows[i, :] in row order. libnd4j's scatter_add spreads rows over OpenMP
     * threads, so repeated ids sum in a varying order and a training step is not reproducible
     * bit for bit; this loop is, and touches only the rows the batch uses.
     */
    static void scatterAddRows(INDArray table, int[] ids, INDArray rows) {
        checkContiguous(table);
        int d = (int) table.size(1);
        int off = (int) table.offset();
        double[] r = read(rows, 0);
        if (table.dataType() == DataType.FLOAT) {
            java.nio.FloatBuffer t = table.data().asNioFloat();
            for (int i = 0; i < ids.length; i++) {
                int base = off + ids[i] * d;
                for (int c = 0; c < d; c++) {
                    t.put(base + c, (float) (t.get(base + c) + r[i * d + c]));
                }
            }
        } else {
            java.nio.DoubleBuffer t = table.data().asNioDouble();
            for (int i = 0; i < ids.length; i++) {
                int base = off + ids[i] * d;
                for (int c = 0; c < d; c++) {
                    t.put(base + c, t.get(base + c) + r[i * d + c]);
                }
            }
        }
    }

    /** In place: dP ← P ⊙ (dP − Σ_k P·dP) over the last dimension, rows of length n. */
    static void softmaxBackward(INDArray probs, INDArray dProbs, int n) {
        int total = (int) probs.length();
        double[] p = read(probs, 0);
        double[] d = read(dProbs, 1);
        for (int base = 0; base < total; base += n) {
            double dot = 0;
            for (int k = 0; k < n; k++) {
                dot += p[base + k] * d[base + k];
            }
            for (int k = 0; k < n; k++) {
                d[base + k] = p[base + k] * (d[base + k] - dot);
            }
        }
        write(d, dProbs);
    }
}
