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
     * Calls the loop on a few floats until the JIT compiles the method itself (C2 after some
     * thousands of calls). Until then each vector operation is a heap object: without this, the
     * first exchange of GPT-2 small made gigabytes of garbage while C2 caught up, and G1 grew the
     * heap (and the process) for it. Run by {@link Averaging}'s initialiser, which the exchange
     * starts on a thread of its own while the round trains. The block loop's second pass is
     * never taken here, so the first real chunk recompiles once (140-190 ms for 8M floats, once
     * per JVM, against 20 ms after). Calls of a real block's size avoid that but made 4x the
     * garbage (GPT-2 small's peak RSS 7.99 GB against 7.3-7.6), and calls in blocks of a few
     * vectors made C2's code 2-4x slower.
     */
    static void warmUp() {
        int n = 4 * F.length();
        // direct, as the exchange's buffers are: code compiled for heap buffers would be thrown away at the first real one
        ByteBuffer[] in = {ByteBuffer.allocateDirect(4 * n), ByteBuffer.allocateDirect(4 * n)};
        ByteBuffer out = ByteBuffer.allocateDirect(4 * n);
        for (int i = 0; i < 12_000; i++) {
            mean(in, out, (i & 1) == 0 ? null : in[0], n);
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

    /** Floats [i, i + lanes) of b as doubles. */
    private static jdk.incubator.vector.Vector<Double> widened(ByteBuffer b, int i) {
        return FloatVector.fromByteBuffer(F, b, 4 * i, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.F2D, D, 0);
    }
}
