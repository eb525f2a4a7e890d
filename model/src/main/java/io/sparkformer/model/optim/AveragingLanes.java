package io.sparkformer.model.optim;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector loop of {@link Averaging}: floats widened to double lanes (exact), added from zero in
 * worker order, divided by W and narrowed (round to nearest, as Java's cast): each lane's bits
 * equal the scalar loop's. The float species has as many lanes as the preferred double one, so
 * the widening is one whole vector. Loaded only when the module is there.
 */
final class AveragingLanes {
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED.withShape(
            VectorShape.forBitSize(D.vectorBitSize() / 2));

    private AveragingLanes() {}

    static int lanes() { return F.length(); }

    /**
     * Calls both loops (two inputs, and five for the blocked one) until the JIT compiles them
     * (C2 after some thousands of calls). Until then each vector operation is a heap object:
     * without this, the first exchange of GPT-2 small made gigabytes of garbage while C2 caught
     * up, and G1 grew the heap (and the process) for it. Run by {@link Averaging}'s initialiser,
     * which the exchange starts on a thread of its own while the round trains. The calls are of
     * 256 vectors: C2 compiles the loop for the trip counts it saw, and after calls of 4 vectors
     * the fused loop took 0.33 s for GPT-2 small's 62M-float slice against 0.08-0.09 s after
     * these (a bare JVM on the 2-core Intel machine). Calls of a real block's size made 4x the
     * garbage (GPT-2 small's peak RSS 7.99 GB against 7.3-7.6).
     */
    static void warmUp() {
        int n = 256 * F.length();
        // direct, as the exchange's buffers are: code compiled for heap buffers would be thrown away at the first real one
        ByteBuffer[] two = new ByteBuffer[2];
        ByteBuffer[] five = new ByteBuffer[5]; // the blocked loop, for W above four
        for (int w = 0; w < five.length; w++) {
            five[w] = ByteBuffer.allocateDirect(4 * n);
        }
        System.arraycopy(five, 0, two, 0, 2);
        ByteBuffer out = ByteBuffer.allocateDirect(4 * n);
        for (int i = 0; i < 2_000; i++) {
            mean(two, out, (i & 1) == 0 ? null : two[0], n);
            mean(five, out, (i & 1) == 0 ? null : five[0], n);
        }
    }

    /** Floats summed at a time, into a double array that stays in the L1 cache. */
    private static final int BLOCK = 4096;

    /**
     * Returns the index where its whole vectors end; the caller finishes the tail. Each input is
     * added to the block's sums in a loop of its own: a vector carried from one input to the
     * next through a loop over the inputs stays a heap object even in C2's code (4 GB of
     * garbage in the first exchange at 124M), a vector stored to and loaded from an array does not.
     */
    static int mean(ByteBuffer[] in, ByteBuffer out, ByteBuffer also, int n) {
        if (in.length >= 2 && in.length <= 4) {
            return fused(in, out, also, n);
        }
        double workers = in.length;
        int end = F.loopBound(n);
        double[] sum = new double[Math.min(BLOCK, end)]; // the warm-up's few floats need a few sums, not 32 KB a call
        for (int from = 0; from < end; from += BLOCK) {
            int to = Math.min(end, from + BLOCK);
            for (int i = from; i < to; i += F.length()) {
                DoubleVector.zero(D).add(widened(in[0], i)).intoArray(sum, i - from);
            }
            for (int w = 1; w < in.length; w++) {
                ByteBuffer b = in[w];
                for (int i = from; i < to; i += F.length()) {
                    DoubleVector.fromArray(D, sum, i - from).add(widened(b, i)).intoArray(sum, i - from);
                }
            }
            for (int i = from; i < to; i += F.length()) {
                FloatVector mean = (FloatVector) DoubleVector.fromArray(D, sum, i - from).div(workers)
                        .convertShape(VectorOperators.D2F, F, 0);
                mean.intoByteBuffer(out, 4 * i, ByteOrder.LITTLE_ENDIAN);
                if (also != null) {
                    mean.intoByteBuffer(also, 4 * i, ByteOrder.LITTLE_ENDIAN);
                }
            }
        }
        return end;
    }

    /**
     * Two to four inputs in one pass, each lane's sum from zero in worker order: the same bits
     * as the blocked loop, at memory speed (GPT-2 small's 62M-float slice: 0.08 s against 0.3 s
     * for the blocked loop's three passes over its sums, one core of the 2-core machine). No
     * vector is carried through a loop over the inputs, which would keep it a heap object.
     */
    private static int fused(ByteBuffer[] in, ByteBuffer out, ByteBuffer also, int n) {
        int end = F.loopBound(n);
        double workers = in.length;
        DoubleVector zero = DoubleVector.zero(D);
        ByteBuffer a = in[0];
        ByteBuffer b = in[1];
        ByteBuffer c = in.length > 2 ? in[2] : null;
        ByteBuffer d = in.length > 3 ? in[3] : null;
        for (int i = 0; i < end; i += F.length()) {
            DoubleVector sum = zero.add(widened(a, i)).add(widened(b, i));
            if (c != null) {
                sum = sum.add(widened(c, i));
                if (d != null) {
                    sum = sum.add(widened(d, i));
                }
            }
            FloatVector mean = (FloatVector) sum.div(workers).convertShape(VectorOperators.D2F, F, 0);
            mean.intoByteBuffer(out, 4 * i, ByteOrder.LITTLE_ENDIAN);
            if (also != null) {
                mean.intoByteBuffer(also, 4 * i, ByteOrder.LITTLE_ENDIAN);
            }
        }
        return end;
    }

    /** Floats [i, i + lanes) of b as doubles. */
    private static jdk.incubator.vector.Vector<Double> widened(ByteBuffer b, int i) {
        return FloatVector.fromByteBuffer(F, b, 4 * i, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.F2D, D, 0);
    }
}
