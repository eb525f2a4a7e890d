package io.sparkformer.model.optim;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector loop of {@link Averaging}: floats widened to double lanes (exact), added from zero in
 * worker order, divided by W and narrowed (round to nearest, as Java's cast): each lane's bits
 * equal the scalar loop's. Loaded only when the module is there.
 *
 * <p>The float species is the preferred one, as in the model's element loops, and each float
 * vector widens into two double vectors (its low and high halves). A second float species (one
 * as wide as a double vector, the obvious choice) made C2 fall back to heap objects in every
 * FloatVector call the two classes share: GPT-2 small's gelu and exp ran 2-2.5x slower, and a
 * run made about 10 GB of garbage.
 */
final class AveragingLanes {
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** The lanes a high half fills once narrowed back to floats. */
    private static final VectorMask<Float> HIGH = F.indexInRange(-D.length(), F.length() - D.length());

    private AveragingLanes() {}

    static int lanes() { return F.length(); }

    /**
     * Calls both loops (two inputs, and five for the blocked one) until the JIT compiles them
     * (C2 after some thousands of calls). Until then each vector operation is a heap object:
     * without this, the first exchange of GPT-2 small made gigabytes of garbage while C2 caught
     * up, and G1 grew the heap (and the process) for it. Run by {@link Averaging}'s initialiser,
     * which the exchange starts on a thread of its own while the round trains. The calls are of
     * 2048 floats: C2 compiles the loop for the trip counts it saw, and after calls of 4 vectors
     * the fused loop took 0.33 s for GPT-2 small's 62M-float slice against 0.08-0.09 s after
     * these (a bare JVM on the 2-core Intel machine). Calls of a real block's size made 4x the
     * garbage (GPT-2 small's peak RSS 7.99 GB against 7.3-7.6).
     */
    static void warmUp() {
        int n = 2048;
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
        int end = F.loopBound(n);
        if (in.length >= 2 && in.length <= 4) {
            fused(in, out, also, end);
            return end;
        }
        double workers = in.length;
        double[] sum = new double[Math.min(BLOCK, end)]; // the warm-up's few floats need a few sums, not 32 KB a call
        for (int from = 0; from < end; from += BLOCK) {
            int to = Math.min(end, from + BLOCK);
            for (int i = from; i < to; i += F.length()) {
                DoubleVector.zero(D).add(widened(in[0], i, 0)).intoArray(sum, i - from);
                DoubleVector.zero(D).add(widened(in[0], i, 1)).intoArray(sum, i - from + D.length());
            }
            for (int w = 1; w < in.length; w++) {
                ByteBuffer b = in[w];
                for (int i = from; i < to; i += F.length()) {
                    DoubleVector.fromArray(D, sum, i - from).add(widened(b, i, 0)).intoArray(sum, i - from);
                    int high = i - from + D.length();
                    DoubleVector.fromArray(D, sum, high).add(widened(b, i, 1)).intoArray(sum, high);
                }
            }
            for (int i = from; i < to; i += F.length()) {
                FloatVector mean = narrowed(DoubleVector.fromArray(D, sum, i - from).div(workers),
                        DoubleVector.fromArray(D, sum, i - from + D.length()).div(workers));
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
    private static void fused(ByteBuffer[] in, ByteBuffer out, ByteBuffer also, int end) {
        double workers = in.length;
        DoubleVector zero = DoubleVector.zero(D);
        ByteBuffer a = in[0];
        ByteBuffer b = in[1];
        ByteBuffer c = in.length > 2 ? in[2] : null;
        ByteBuffer d = in.length > 3 ? in[3] : null;
        for (int i = 0; i < end; i += F.length()) {
            DoubleVector low = zero.add(widened(a, i, 0)).add(widened(b, i, 0));
            DoubleVector high = zero.add(widened(a, i, 1)).add(widened(b, i, 1));
            if (c != null) {
                low = low.add(widened(c, i, 0));
                high = high.add(widened(c, i, 1));
                if (d != null) {
                    low = low.add(widened(d, i, 0));
                    high = high.add(widened(d, i, 1));
                }
            }
            FloatVector mean = narrowed(low.div(workers), high.div(workers));
            mean.intoByteBuffer(out, 4 * i, ByteOrder.LITTLE_ENDIAN);
            if (also != null) {
                mean.intoByteBuffer(also, 4 * i, ByteOrder.LITTLE_ENDIAN);
            }
        }
    }

    /** The low (part 0) or high (part 1) half of floats [i, i + lanes) of b, as doubles. */
    private static DoubleVector widened(ByteBuffer b, int i, int part) {
        return (DoubleVector) FloatVector.fromByteBuffer(F, b, 4 * i, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.F2D, D, part);
    }

    /** Two halves rounded to float (as Java's cast) and put side by side: the inverse of {@link #widened}. */
    private static FloatVector narrowed(DoubleVector low, DoubleVector high) {
        FloatVector lowLanes = (FloatVector) low.convertShape(VectorOperators.D2F, F, 0);
        FloatVector highLanes = (FloatVector) high.convertShape(VectorOperators.D2F, F, -1);
        return lowLanes.blend(highLanes, HIGH);
    }
}
