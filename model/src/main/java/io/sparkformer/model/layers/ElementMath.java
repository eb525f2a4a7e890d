package io.sparkformer.model.layers;

import java.nio.ByteBuffer;

/**
 * exp and the normal CDF over float arrays, with the same bits on every path.
 *
 * <p>Math.exp costs about 17 ns an element here, and the Vector API's own EXP is not bit-equal
 * to its interpreted fallback (nor across CPUs), which would let a cold JVM (a resumed run) and
 * a warm one disagree. So both functions are written out in IEEE add, multiply, divide,
 * min/max, compare and bit reinterpretation, which Java specifies exactly: the vector loop
 * ({@link VectorElementMath}, when the jdk.incubator.vector module is present) and the scalar
 * loop below give the same bits, in the interpreter and in compiled code, on any x86-64 CPU.
 */
final class ElementMath {
    private ElementMath() {}

    static final float LOG2E = 1.44269504f;
    static final float LN2_HI = 0.693145752f;   // ln 2 in two parts: k·LN2_HI is exact for the k used
    static final float LN2_LO = 1.42860677e-6f;
    static final float MAGIC = 12582912f;       // 1.5·2²³: adding it rounds to an integer
    static final int MAGIC_BIAS = 0x4B400000 - 127;
    static final float MIN_ARG = -87.3f;        // e^x is normal above it; below it, 0
    static final float MAX_ARG = 88.3f;
    static final float INV_SQRT2 = 0.70710678f;

    // a lambda, not a method reference: the vector class then loads inside the check
    private static final boolean VECTOR = io.sparkformer.model.VectorModule.usable(() -> VectorElementMath.lanes());

    /** True when the vector loops run (the JVM was started with --add-modules=jdk.incubator.vector). */
    static boolean vectorized() { return VECTOR; }

    /** x[from, from + n) ← e^x, in place. */
    static void exp(float[] x, int from, int n) {
        int i = from;
        if (VECTOR) {
            i = VectorElementMath.exp(x, from, n);
        }
        for (int end = from + n; i < end; i++) {
            x[i] = exp(x[i]);
        }
    }

    /** out[0, n) ← Φ(u). */
    static void normalCdf(float[] u, float[] out, int n) {
        int i = 0;
        if (VECTOR) {
            i = VectorElementMath.normalCdf(u, out, n);
        }
        for (; i < n; i++) {
            out[i] = normalCdf(u[i]);
        }
    }

    /**
     * out ← u·Φ(u) over floats [from, from + n) of two little-endian buffers, read and written in
     * place (no copy into heap arrays): the bits of Φ into an array, then the product. They may be
     * the same buffer.
     */
    static void gelu(ByteBuffer u, ByteBuffer out, int from, int n) {
        int i = from;
        if (VECTOR) {
            i = VectorElementMath.gelu(u, out, from, n);
        }
        for (int end = from + n; i < end; i++) {
            float x = u.getFloat(4 * i);
            out.putFloat(4 * i, x * normalCdf(x));
        }
    }

    // ------------------------------------------------------------------ reductions
    // Eight running sums in float, element i of a range into sum i mod 8, then a fixed tree: the
    // same bits on every path, and eight independent chains of additions keep the FP units busy
    // where one chain (or four in double) waits on each add's latency. Plain Java on purpose: a
    // Vector API version ran no faster on rows of 64-128, and its second species made C2 fall
    // back to boxed vectors in the exp and Φ loops (a step's host time 28 -> 50 ms).

    /** Σ a[from, from + n). */
    static float sum(float[] a, int from, int n) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        int i = from;
        for (int end = from + (n & ~7); i < end; i += 8) {
            s0 += a[i];
            s1 += a[i + 1];
            s2 += a[i + 2];
            s3 += a[i + 3];
            s4 += a[i + 4];
            s5 += a[i + 5];
            s6 += a[i + 6];
            s7 += a[i + 7];
        }
        for (int end = from + n; i < end; i++) {
            s0 += a[i];
        }
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
    }

    /** Σ a[aFrom + i]·b[bFrom + i] over i < n, each product rounded to float before it is added. */
    static float dot(float[] a, int aFrom, float[] b, int bFrom, int n) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        int i = 0;
        for (int end = n & ~7; i < end; i += 8) {
            int p = aFrom + i;
            int q = bFrom + i;
            s0 += a[p] * b[q];
            s1 += a[p + 1] * b[q + 1];
            s2 += a[p + 2] * b[q + 2];
            s3 += a[p + 3] * b[q + 3];
            s4 += a[p + 4] * b[q + 4];
            s5 += a[p + 5] * b[q + 5];
            s6 += a[p + 6] * b[q + 6];
            s7 += a[p + 7] * b[q + 7];
        }
        for (; i < n; i++) {
            s0 += a[aFrom + i] * b[bFrom + i];
        }
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
    }

    /** max of a[from, from + n): Math.max is exact, so the order does not change the bits. */
    static float max(float[] a, int from, int n) {
        float m0 = Float.NEGATIVE_INFINITY, m1 = m0, m2 = m0, m3 = m0;
        int i = from;
        for (int end = from + (n & ~3); i < end; i += 4) {
            m0 = Math.max(m0, a[i]);
            m1 = Math.max(m1, a[i + 1]);
            m2 = Math.max(m2, a[i + 2]);
            m3 = Math.max(m3, a[i + 3]);
        }
        for (int end = from + n; i < end; i++) {
            m0 = Math.max(m0, a[i]);
        }
        return Math.max(Math.max(m0, m1), Math.max(m2, m3));
    }

    /** dg[c] += dy[from + c]·x[from + c] (the product in float) and db[c] += dy[from + c], c < d. */
    static void addColumnSums(double[] dg, double[] db, float[] dy, float[] x, int from, int d) {
        for (int c = 0; c < d; c++) {
            float v = dy[from + c];
            dg[c] += v * x[from + c];
            db[c] += v;
        }
    }

    /**
     * e^x to about 2 ulp: x = k·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its Taylor series to r⁷,
     * 2^k from the exponent bits. 0 below MIN_ARG, +∞ above MAX_ARG.
     */
    static float exp(float x) {
        float c = Math.min(Math.max(x, MIN_ARG), MAX_ARG);
        float t = c * LOG2E + MAGIC;
        float k = t - MAGIC;
        float r = (c - k * LN2_HI) - k * LN2_LO;
        float p = 1.0f / 5040;
        p = p * r + 1.0f / 720;
        p = p * r + 1.0f / 120;
        p = p * r + 1.0f / 24;
        p = p * r + 1.0f / 6;
        p = p * r + 0.5f;
        p = p * r + 1.0f;
        p = p * r + 1.0f;
        float y = p * Float.intBitsToFloat((Float.floatToRawIntBits(t) - MAGIC_BIAS) << 23);
        return x < MIN_ARG ? 0.0f : x > MAX_ARG ? Float.POSITIVE_INFINITY : y;
    }

    /**
     * Φ(u) = erfc(−u/√2)/2, erfc from its Chebyshev fit (Numerical Recipes' erfcc: fractional
     * error below 1.2e-7 everywhere, the tails included).
     */
    static float normalCdf(float u) {
        float z = -u * INV_SQRT2;
        float az = Math.abs(z);
        float t = 1.0f / (1.0f + 0.5f * az);
        float e = exp(-az * az + erfcPoly(t));
        float erfc = t * e;
        return 0.5f * (z >= 0 ? erfc : 2.0f - erfc);
    }

    static float erfcPoly(float t) {
        float p = 0.17087277f;
        p = p * t - 0.82215223f;
        p = p * t + 1.48851587f;
        p = p * t - 1.13520398f;
        p = p * t + 0.27886807f;
        p = p * t - 0.18628806f;
        p = p * t + 0.09678418f;
        p = p * t + 0.37409196f;
        p = p * t + 1.00002368f;
        return p * t - 1.26551223f;
    }
}
