package io.sparkformer.model.layers;

import java.nio.ByteBuffer;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Fused float32 loops over host memory for the element-wise and row-wise work of a step, each
 * one pass where ND4J needs several ops (and a dispatch each). Training runs in float32, so
 * this is the hot path; float64 models (the reference checks) keep ND4J's ops.
 *
 * <p>Every loop is plain Java arithmetic, single-threaded, in a fixed order, and Java's float
 * arithmetic is IEEE-strict: the interpreter, both JIT tiers and every x86-64 CPU give the same
 * bits, whatever the thread settings. exp and Φ come from {@link ElementMath} for that reason.
 *
 * <p>Arrays must be contiguous row-major (activation buffers and parameter blocks are); data
 * moves between native memory and per-thread scratch arrays in bulk copies.
 */
final class FloatKernels {
    private FloatKernels() {}

    /** True when every array is float32 and contiguous, so the loops here apply. */
    static boolean applies(INDArray... arrays) {
        if (!HostKernels.enabled()) {
            return false;
        }
        for (INDArray a : arrays) {
            if (a.dataType() != DataType.FLOAT || a.ordering() != 'c' || (a.length() > 1 && a.elementWiseStride() != 1)) {
                return false;
            }
        }
        return true;
    }

    // ------------------------------------------------------------------ scratch and transfers

    private static final int SLOTS = 6;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[SLOTS][0]);

    private static float[] scratch(int slot, int n) {
        float[][] s = SCRATCH.get();
        if (s[slot].length < n) {
            s[slot] = new float[n];
        }
        return s[slot];
    }

    /** Copies n values of a, from element {@code from} of the array, into scratch {@code slot}. */
    private static float[] read(INDArray a, long from, int n, int slot) {
        float[] out = scratch(slot, n);
        NativeCopy.toArray(a, from, out, n);
        return out;
    }

    private static float[] read(INDArray a, int slot) {
        return read(a, 0, Math.toIntExact(a.length()), slot);
    }

    private static void write(float[] src, INDArray a, long from, int n) {
        NativeCopy.fromArray(src, a, from, n);
    }

    private static void write(float[] src, INDArray a) {
        write(src, a, 0, Math.toIntExact(a.length()));
    }

    /**
     * Whole buffers are walked in pieces of about CHUNK elements that hold whole rows: scratch
     * stays small at any model size, and the pieces run on the task's threads (HostThreads). A
     * piece's size depends on the data's shape alone, so the bits do not depend on the threads.
     */
    private static final int CHUNK = 1 << 14;

    /** The work on elements [from, from + len) of a buffer, piece {@code index} of the split. */
    private interface Chunk {
        void run(int index, long from, int len);
    }

    /** Elements per piece: about CHUNK, whole rows of {@code row}. */
    private static long pieceSize(int row) {
        return (long) Math.max(1, CHUNK / row) * row;
    }

    private static int pieces(long total, int row) {
        return Math.toIntExact((total + pieceSize(row) - 1) / pieceSize(row));
    }

    /** Runs body on every piece of {@code total} elements in rows of {@code row}, in parallel. */
    private static void forEachChunk(long total, int row, Chunk body) {
        long step = pieceSize(row);
        HostThreads.run(pieces(total, row), i -> {
            long from = i * step;
            body.run(i, from, (int) Math.min(step, total - from));
        });
    }

    // ------------------------------------------------------------------ math

    private static final float INV_SQRT_2PI = 0.39894228f;

    // ------------------------------------------------------------------ reductions
    // Row sums and dots run as ElementMath's eight lanes (vector or scalar, the same bits); the
    // gradient norm over whole buffers keeps four double sums.

    private static float sum(float[] a, int from, int n) {
        return ElementMath.sum(a, from, n);
    }

    private static float dot(float[] a, float[] b, int from, int n) {
        return ElementMath.dot(a, from, b, from, n);
    }

    private static float max(float[] a, int from, int n) {
        return ElementMath.max(a, from, n);
    }

    /** Σ a[i]² over [0, n) in double, four running sums in a fixed pattern. */
    private static double squares(float[] a, int n) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (int end = n & ~3; i < end; i += 4) {
            s0 += a[i] * a[i];
            s1 += a[i + 1] * a[i + 1];
            s2 += a[i + 2] * a[i + 2];
            s3 += a[i + 3] * a[i + 3];
        }
        for (; i < n; i++) {
            s0 += a[i] * a[i];
        }
        return (s0 + s1) + (s2 + s3);
    }

    // ------------------------------------------------------------------ kernels

    /** y[r, :] += b, y [rows, n]. */
    static void addRowVector(INDArray y, INDArray b) {
        int n = Math.toIntExact(b.length());
        float[] bias = read(b, 1);
        forEachChunk(y.length(), n, (piece, from, len) -> {
            float[] v = read(y, from, len, 0);
            for (int base = 0; base < len; base += n) {
                for (int c = 0; c < n; c++) {
                    v[base + c] += bias[c];
                }
            }
            write(v, y, from, len);
        });
    }

    /** out = a + b: the float32 loop where it applies, else ND4J's add. */
    static void addAny(INDArray a, INDArray b, INDArray out) {
        if (applies(a, b, out)) {
            add(a, b, out);
        } else {
            a.add(b, out);
        }
    }

    /** out = a + b. */
    static void add(INDArray a, INDArray b, INDArray out) {
        forEachChunk(a.length(), 1, (piece, from, len) -> {
            float[] x = read(a, from, len, 0);
            float[] y = read(b, from, len, 1);
            for (int i = 0; i < len; i++) {
                x[i] += y[i];
            }
            write(x, out, from, len);
        });
    }

    /** act = pre·Φ(pre), exact GELU; the backward pass computes gelu' itself ({@link #geluBackward}). */
    static void geluForward(INDArray pre, INDArray act) {
        long n = pre.length();
        if (ElementMath.vectorized() && 4 * n <= Integer.MAX_VALUE) {
            // the vector loop reads and writes native memory where it is: the copies into and
            // out of scratch were a quarter of the GELU's time in an embedding run
            ByteBuffer u = NativeCopy.bytes(pre, n);
            ByteBuffer out = NativeCopy.bytes(act, n);
            forEachChunk(n, 1, (piece, from, len) -> ElementMath.gelu(u, out, (int) from, len));
            return;
        }
        forEachChunk(n, 1, (piece, from, len) -> {
            float[] u = read(pre, from, len, 0);
            float[] phi = scratch(1, len);
            ElementMath.normalCdf(u, phi, len);
            for (int i = 0; i < len; i++) {
                u[i] = u[i] * phi[i];
            }
            write(u, act, from, len);
        });
    }

    /**
     * dAct ⊙= gelu'(pre), with gelu' computed here: the same bits as {@link #geluDerivative}'s
     * buffer multiplied in, without a [rows, width] buffer per layer to keep it
     * (75 MB at GPT-2 small's batch of 2 × 256) for one more Φ per element.
     */
    static void geluBackward(INDArray pre, INDArray dAct) {
        forEachChunk(pre.length(), 1, (piece, from, len) -> {
            float[] u = read(pre, from, len, 0);
            float[] phi = scratch(1, len);
            ElementMath.normalCdf(u, phi, len);
            float[] g = geluDerivative(u, phi, len);
            float[] d = read(dAct, from, len, 3);
            for (int i = 0; i < len; i++) {
                d[i] *= g[i];
            }
            write(d, dAct, from, len);
        });
    }

    /** derivative = gelu'(pre) = Φ(pre) + pre·φ(pre), into a buffer (where dAct is not one the host loops take). */
    static void geluDerivative(INDArray pre, INDArray derivative) {
        forEachChunk(pre.length(), 1, (piece, from, len) -> {
            float[] u = read(pre, from, len, 0);
            float[] phi = scratch(1, len);
            ElementMath.normalCdf(u, phi, len);
            write(geluDerivative(u, phi, len), derivative, from, len);
        });
    }

    /** gelu'(u) = Φ(u) + u·φ(u), in scratch 2. */
    private static float[] geluDerivative(float[] u, float[] phi, int len) {
        float[] g = scratch(2, len);
        for (int i = 0; i < len; i++) {
            g[i] = -0.5f * u[i] * u[i];
        }
        ElementMath.exp(g, 0, len);
        for (int i = 0; i < len; i++) {
            g[i] = phi[i] + u[i] * INV_SQRT_2PI * g[i];
        }
        return g;
    }

    /**
     * probs = softmax(scores + bias) over rows of length n; bias is the additive mask, 0 or
     * −1e9, so blocked keys get exactly 0.
     */
    static void maskedSoftmax(INDArray scores, INDArray bias, INDArray probs, int n) {
        forEachChunk(scores.length(), n, (piece, from, len) -> {
            float[] s = read(scores, from, len, 0);
            float[] m = read(bias, from, len, 1);
            for (int i = 0; i < len; i++) {
                s[i] += m[i];
            }
            for (int base = 0; base < len; base += n) {
                float max = max(s, base, n);
                for (int k = 0; k < n; k++) {
                    s[base + k] -= max;
                }
            }
            ElementMath.exp(s, 0, len); // one long vector loop: per row, the calls cost as much as the math
            for (int base = 0; base < len; base += n) {
                float inv = 1.0f / sum(s, base, n);
                for (int k = 0; k < n; k++) {
                    s[base + k] *= inv;
                }
            }
            write(s, probs, from, len);
        });
    }

    /**
     * out = (s − μ)·rstd·g + b per row of d, s = x + addend (or x when addend is null: the residual
     * sum made here, in the same float additions as {@link #add}, rather than written and read
     * again); keeps xhat and rstd unless they are null (inference).
     */
    static void layerNormForward(INDArray x, INDArray addend, INDArray gain, INDArray bias, double eps, INDArray xhat,
                                 INDArray rstd, INDArray out) {
        int d = Math.toIntExact(gain.length());
        float[] g = read(gain, 3);
        float[] b = read(bias, 4);
        forEachChunk(x.length(), d, (piece, from, len) -> {
            int rows = len / d;
            float[] xs = read(x, from, len, 0);
            if (addend != null) {
                float[] a = read(addend, from, len, 5);
                for (int i = 0; i < len; i++) {
                    xs[i] += a[i];
                }
            }
            float[] o = scratch(1, len);
            float[] rs = scratch(2, rows);
            for (int r = 0; r < rows; r++) {
                int base = r * d;
                float mean = sum(xs, base, d) / d;
                for (int c = 0; c < d; c++) {
                    o[base + c] = xs[base + c] - mean;
                }
                float inv = (float) (1.0 / Math.sqrt(dot(o, o, base, d) / d + eps));
                rs[r] = inv;
                for (int c = 0; c < d; c++) {
                    float v = o[base + c] * inv;
                    xs[base + c] = v;
                    o[base + c] = v * g[c] + b[c];
                }
            }
            if (xhat != null) {
                write(xs, xhat, from, len);
                write(rs, rstd, from / d, rows);
            }
            write(o, out, from, len);
        });
    }

    /**
     * dx = rstd·(dŷ − mean(dŷ) − x̂·mean(dŷ·x̂)) with dŷ = dy·g, plus addend when not null;
     * gainGrad += Σ dy·x̂ and biasGrad += Σ dy over rows (in double, in row order).
     */
    static void layerNormBackward(INDArray dy, INDArray xhat, INDArray rstd, INDArray gain, INDArray gainGrad,
                                  INDArray biasGrad, INDArray dx, INDArray addend) {
        int d = Math.toIntExact(gain.length());
        float[] g = read(gain, 4);
        // gain and bias gradients: a partial sum per piece, added in piece order
        int pieces = pieces(dy.length(), d);
        double[][] dgs = new double[pieces][d];
        double[][] dbs = new double[pieces][d];
        forEachChunk(dy.length(), d, (piece, from, len) -> {
            int rows = len / d;
            float[] dys = read(dy, from, len, 0);
            float[] xh = read(xhat, from, len, 1);
            float[] rs = read(rstd, from / d, rows, 2);
            float[] out = addend == null ? scratch(3, len) : read(addend, from, len, 3);
            float[] dxhat = scratch(5, d);
            double[] dg = dgs[piece];
            double[] db = dbs[piece];
            for (int r = 0; r < rows; r++) {
                int base = r * d;
                for (int c = 0; c < d; c++) {
                    dxhat[c] = dys[base + c] * g[c];
                }
                float mean1 = sum(dxhat, 0, d) / d;
                float mean2 = ElementMath.dot(dxhat, 0, xh, base, d) / d;
                ElementMath.addColumnSums(dg, db, dys, xh, base, d);
                float inv = rs[r];
                if (addend == null) {
                    for (int c = 0; c < d; c++) {
                        out[base + c] = inv * (dxhat[c] - mean1 - xh[base + c] * mean2);
                    }
                } else {
                    for (int c = 0; c < d; c++) {
                        out[base + c] += inv * (dxhat[c] - mean1 - xh[base + c] * mean2);
                    }
                }
            }
            write(out, dx, from, len);
        });
        float[] gg = read(gainGrad, 0);
        float[] bg = read(biasGrad, 1);
        for (int c = 0; c < d; c++) {
            double dg = 0;
            double db = 0;
            for (int p = 0; p < pieces; p++) {
                dg += dgs[p][c];
                db += dbs[p][c];
            }
            gg[c] = (float) (gg[c] + dg);
            bg[c] = (float) (bg[c] + db);
        }
        write(gg, gainGrad);
        write(bg, biasGrad);
    }

    /** In place: dP ← P ⊙ (dP − Σ_k P·dP) over rows of length n (the softmax backward). */
    static void softmaxBackward(INDArray probs, INDArray dProbs, int n) {
        forEachChunk(probs.length(), n, (piece, from, len) -> {
            float[] p = read(probs, from, len, 0);
            float[] d = read(dProbs, from, len, 1);
            for (int base = 0; base < len; base += n) {
                float dot = dot(p, d, base, n);
                for (int k = 0; k < n; k++) {
                    d[base + k] = p[base + k] * (d[base + k] - dot);
                }
            }
            write(d, dProbs, from, len);
        });
    }

    /**
     * Cross-entropy over rows of logits [rows, V] with targets (−1: not counted): keeps each
     * counted row's log-sum-exp in lse and returns the summed loss, in row order, in double.
     */
    static double crossEntropy(INDArray logits, int[] targets, float[] lse) {
        int v = Math.toIntExact(logits.size(1));
        double loss = 0;
        for (int r = 0; r < targets.length; r++) {
            if (targets[r] < 0) {
                continue;
            }
            float[] x = read(logits, (long) r * v, v, 0);
            float max = max(x, 0, v);
            float[] e = scratch(1, v);
            for (int k = 0; k < v; k++) {
                e[k] = x[k] - max;
            }
            ElementMath.exp(e, 0, v);
            float l = (float) (max + Math.log(sum(e, 0, v)));
            lse[r] = l;
            loss += l - x[targets[r]];
        }
        return loss;
    }

    /** dLogits = scale·(softmax(logits) − onehot(target)) per counted row, 0 elsewhere. */
    static void crossEntropyBackward(INDArray logits, int[] targets, float[] lse, float scale, INDArray dLogits) {
        int v = Math.toIntExact(logits.size(1));
        for (int r = 0; r < targets.length; r++) {
            float[] g = scratch(1, v);
            if (targets[r] < 0) {
                java.util.Arrays.fill(g, 0, v, 0f);
            } else {
                float[] x = read(logits, (long) r * v, v, 0);
                for (int k = 0; k < v; k++) {
                    g[k] = x[k] - lse[r];
                }
                ElementMath.exp(g, 0, v);
                for (int k = 0; k < v; k++) {
                    g[k] *= scale;
                }
                g[targets[r]] -= scale;
            }
            write(g, dLogits, (long) r * v, v);
        }
    }

    /** Σ x² over a whole buffer, in a fixed order, accumulated in double. */
    static double sumOfSquares(INDArray a) {
        double[] partial = new double[pieces(a.length(), 1)];
        forEachChunk(a.length(), 1, (piece, from, len) -> partial[piece] = squares(read(a, from, len, 0), len));
        double sum = 0;
        for (double p : partial) {
            sum += p;
        }
        return sum;
    }

    /** a ⊙= c, in place. */
    static void scale(INDArray a, double c) {
        float f = (float) c;
        forEachChunk(a.length(), 1, (piece, from, len) -> {
            float[] x = read(a, from, len, 0);
            for (int i = 0; i < len; i++) {
                x[i] *= f;
            }
            write(x, a, from, len);
        });
    }

    /**
     * One AdamW step in one pass, as PyTorch's: w ← w·(1 − lr·wd) on the {@code decayed} ranges
     * ([start, end) pairs, ascending), m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², w ← w − (lr/(1 − β₁ᵗ))·m/(√v/√(1 − β₂ᵗ) + ε).
     */
    static void adamw(INDArray w, INDArray g, INDArray m, INDArray v, long[] decayed, double lr, double beta1,
                      double beta2, double eps, double weightDecay, long t) {
        float step = (float) (lr / (1.0 - Math.pow(beta1, t)));
        float invSqrtCorrection2 = (float) (1.0 / Math.sqrt(1.0 - Math.pow(beta2, t)));
        float epsilon = (float) eps;
        float decay = (float) (1.0 - lr * weightDecay);
        float b1 = (float) beta1;
        float c1 = (float) (1.0 - beta1);
        float b2 = (float) beta2;
        float c2 = (float) (1.0 - beta2);
        forEachChunk(w.length(), 1, (piece, from, len) -> {
            float[] ws = read(w, from, len, 0);
            float[] gs = read(g, from, len, 1);
            float[] ms = read(m, from, len, 2);
            float[] vs = read(v, from, len, 3);
            for (int r = 0; r < decayed.length; r += 2) {
                int start = (int) Math.max(0, Math.min(len, decayed[r] - from));
                int end = (int) Math.max(0, Math.min(len, decayed[r + 1] - from));
                for (int i = start; i < end; i++) {
                    ws[i] *= decay;
                }
            }
            for (int i = 0; i < len; i++) {
                float gi = gs[i];
                float mi = b1 * ms[i] + c1 * gi;
                float vi = b2 * vs[i] + c2 * gi * gi;
                ms[i] = mi;
                vs[i] = vi;
                ws[i] -= step * mi / ((float) Math.sqrt(vi) * invSqrtCorrection2 + epsilon);
            }
            write(ws, w, from, len);
            write(ms, m, from, len);
            write(vs, v, from, len);
        });
    }

    /**
     * dst = src viewed as [B, T, parts, H, dk] permuted to [parts, B, H, T, dk] (splitting Q, K, V
     * into heads); with {@code merge} the inverse, dst [B, T, parts, H, dk] from src [parts, B, H, T, dk].
     */
    static void permuteHeads(INDArray src, INDArray dst, int batch, int length, int parts, int heads, int dk,
                             boolean merge) {
        // native to native, a head's dk values at a time: no round trip through the heap
        int width = parts * heads * dk;
        long total = (long) batch * length * width;
        long from = NativeCopy.base(src, total);
        long to = NativeCopy.base(dst, total);
        HostThreads.run(batch, b -> {
            for (int t = 0; t < length; t++) {
                int row = (b * length + t) * width;
                for (int p = 0; p < parts; p++) {
                    for (int h = 0; h < heads; h++) {
                        long packed = row + (long) (p * heads + h) * dk;
                        long split = (long) (((p * batch + b) * heads + h) * length + t) * dk;
                        if (merge) {
                            NativeCopy.floats(from + 4 * split, to + 4 * packed, dk);
                        } else {
                            NativeCopy.floats(from + 4 * packed, to + 4 * split, dk);
                        }
                    }
                }
            }
        });
    }
}
