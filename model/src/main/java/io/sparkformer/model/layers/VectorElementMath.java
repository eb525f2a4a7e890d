package io.sparkformer.model.layers;

import static io.sparkformer.model.layers.ElementMath.INV_SQRT2;
import static io.sparkformer.model.layers.ElementMath.LN2_HI;
import static io.sparkformer.model.layers.ElementMath.LN2_LO;
import static io.sparkformer.model.layers.ElementMath.LOG2E;
import static io.sparkformer.model.layers.ElementMath.MAGIC;
import static io.sparkformer.model.layers.ElementMath.MAGIC_BIAS;
import static io.sparkformer.model.layers.ElementMath.MAX_ARG;
import static io.sparkformer.model.layers.ElementMath.MIN_ARG;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector loops of {@link ElementMath}: the same operations in the same order, a lane at a
 * time, so each lane's bits equal the scalar function's. Loaded only when the module is there.
 * Each method returns the index where its whole vectors end; the caller finishes the tail.
 */
final class VectorElementMath {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private VectorElementMath() {}

    static int lanes() { return S.length(); }

    static int exp(float[] x, int from, int n) {
        int i = from;
        for (int end = from + S.loopBound(n); i < end; i += S.length()) {
            exp(FloatVector.fromArray(S, x, i)).intoArray(x, i);
        }
        return i;
    }

    static int normalCdf(float[] u, float[] out, int n) {
        int i = 0;
        for (int end = S.loopBound(n); i < end; i += S.length()) {
            normalCdf(FloatVector.fromArray(S, u, i)).intoArray(out, i);
        }
        return i;
    }

    /** out ← u·Φ(u) over floats [from, from + n) of two little-endian buffers (native memory, read in place). */
    static int gelu(ByteBuffer u, ByteBuffer out, int from, int n) {
        int i = from;
        for (int end = from + S.loopBound(n); i < end; i += S.length()) {
            FloatVector x = FloatVector.fromByteBuffer(S, u, 4 * i, ByteOrder.LITTLE_ENDIAN);
            x.mul(normalCdf(x)).intoByteBuffer(out, 4 * i, ByteOrder.LITTLE_ENDIAN);
        }
        return i;
    }

    private static FloatVector normalCdf(FloatVector u) {
        FloatVector z = u.neg().mul(INV_SQRT2);
        FloatVector az = z.abs();
        FloatVector t = az.mul(0.5f).add(1.0f);
        t = FloatVector.broadcast(S, 1.0f).div(t);
        FloatVector e = exp(az.neg().mul(az).add(erfcPoly(t)));
        FloatVector erfc = t.mul(e);
        VectorMask<Float> negative = z.compare(VectorOperators.LT, 0.0f);
        return erfc.blend(FloatVector.broadcast(S, 2.0f).sub(erfc), negative).mul(0.5f);
    }

    private static FloatVector exp(FloatVector x) {
        FloatVector c = x.max(MIN_ARG).min(MAX_ARG);
        FloatVector t = c.mul(LOG2E).add(MAGIC);
        FloatVector k = t.sub(MAGIC);
        FloatVector r = c.sub(k.mul(LN2_HI)).sub(k.mul(LN2_LO));
        FloatVector p = FloatVector.broadcast(S, 1.0f / 5040);
        p = p.mul(r).add(1.0f / 720);
        p = p.mul(r).add(1.0f / 120);
        p = p.mul(r).add(1.0f / 24);
        p = p.mul(r).add(1.0f / 6);
        p = p.mul(r).add(0.5f);
        p = p.mul(r).add(1.0f);
        p = p.mul(r).add(1.0f);
        IntVector bits = ((IntVector) t.reinterpretAsInts()).sub(MAGIC_BIAS).lanewise(VectorOperators.LSHL, 23);
        FloatVector y = p.mul((FloatVector) bits.reinterpretAsFloats());
        y = y.blend(0.0f, x.compare(VectorOperators.LT, MIN_ARG));
        return y.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, MAX_ARG));
    }

    private static FloatVector erfcPoly(FloatVector t) {
        FloatVector p = FloatVector.broadcast(S, 0.17087277f);
        p = p.mul(t).sub(0.82215223f);
        p = p.mul(t).add(1.48851587f);
        p = p.mul(t).sub(1.13520398f);
        p = p.mul(t).add(0.27886807f);
        p = p.mul(t).sub(0.18628806f);
        p = p.mul(t).add(0.09678418f);
        p = p.mul(t).add(0.37409196f);
        p = p.mul(t).add(1.00002368f);
        return p.mul(t).sub(1.26551223f);
    }
}
