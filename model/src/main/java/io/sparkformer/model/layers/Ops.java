package io.sparkformer.model.layers;

import org.nd4j.linalg.api.blas.params.MMulTranspose;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastMulOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastSubOp;
import org.nd4j.linalg.api.ops.impl.reduce.Mmul;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The handful of ND4J calls the layers are written in. Every one writes into a preallocated
 * output, and every one is an ND4J op, so the same code runs on the CPU and CUDA backends.
 */
public final class Ops {
    private static final MMulTranspose NN = MMulTranspose.allFalse();
    private static final MMulTranspose TN = MMulTranspose.builder().transposeA(true).build();
    private static final MMulTranspose NT = MMulTranspose.builder().transposeB(true).build();

    private Ops() {}

    /**
     * c = alpha * op(a) * op(b) + beta * c, for 2-D or batched 3-D arrays. Unlike Nd4j.gemm this
     * accepts views as c, which every gradient slice of the flat buffer is.
     */
    public static void mm(INDArray a, INDArray b, INDArray c, boolean transA, boolean transB, double alpha, double beta) {
        long t0 = timing ? System.nanoTime() : 0;
        if (!Gemm.run(a, b, c, transA, transB, alpha, beta)) {
            mmul(a, b, c, transA, transB, alpha, beta);
        }
        if (timing) {
            GEMM_NANOS.addAndGet(System.nanoTime() - t0);
        }
    }

    private static volatile boolean timing;
    private static final java.util.concurrent.atomic.AtomicLong GEMM_NANOS = new java.util.concurrent.atomic.AtomicLong();

    /** Starts (or stops) adding up the time spent in {@link #mm}: the benchmark's GEMM share. */
    public static void timeGemms(boolean on) {
        timing = on;
    }

    /** Nanoseconds spent in {@link #mm} since timing started, across threads. */
    public static long gemmNanos() {
        return GEMM_NANOS.get();
    }

    private static void mmul(INDArray a, INDArray b, INDArray c, boolean transA, boolean transB, double alpha, double beta) {
        MMulTranspose t = transA ? (transB ? MMulTranspose.builder().transposeA(true).transposeB(true).build() : TN)
                : (transB ? NT : NN);
        Nd4j.exec(new Mmul(a, b, c, alpha, beta, t));
    }

    /** z = x * y broadcast along {@code dims} of x (y's shape is x's shape at those dims). */
    public static void mulBroadcast(INDArray x, INDArray y, INDArray z, int... dims) {
        Nd4j.exec(new BroadcastMulOp(x, y, z, dims));
    }

    public static void subBroadcast(INDArray x, INDArray y, INDArray z, int... dims) {
        Nd4j.exec(new BroadcastSubOp(x, y, z, dims));
    }

    /** out[i, :] = table[ids[i], :]. */
    public static void gatherRows(INDArray table, INDArray ids, INDArray out) {
        Nd4j.exec(DynamicCustomOp.builder("gather").addInputs(table, ids).addOutputs(out)
                .addIntegerArguments(0).build());
    }

    /** table[ids[i], :] += rows[i, :], accumulating repeated ids. */
    public static void scatterAddRows(INDArray table, INDArray ids, INDArray rows) {
        // use_locking: one thread, rows added in order. Threads would race on a repeated id, and the
        // sum's rounding would change from run to run.
        Nd4j.exec(DynamicCustomOp.builder("scatter_add").addInputs(table, ids, rows).addOutputs(table)
                .addBooleanArguments(true).build());
    }

    public static void relu(INDArray x, INDArray out) {
        Nd4j.exec(DynamicCustomOp.builder("relu").addInputs(x).addOutputs(out).addFloatingPointArguments(0.0).build());
    }

    /** dx = dy where x > 0, else 0. */
    public static void reluBackward(INDArray x, INDArray dy, INDArray dx) {
        Nd4j.exec(DynamicCustomOp.builder("relu_bp").addInputs(x, dy).addOutputs(dx)
                .addFloatingPointArguments(0.0).build());
    }

    /** A row of ones, for summing over rows with one GEMM. */
    public static INDArray ones(DataType type, long n) {
        return buffer(type, 1, n).assign(1);
    }

    /** An uninitialised buffer; taken from the {@link BufferSet} being allocated on this thread, if any. */
    public static INDArray buffer(DataType type, long... shape) {
        INDArray reused = BufferSet.take(type, shape);
        return reused != null ? reused : Nd4j.createUninitialized(type, shape);
    }

    /**
     * A scratch buffer that every layer asking for {@code slot} shares (within the model's
     * buffer set): for what a layer writes and reads within one forward or backward call and
     * never after, as the backward pass's gradients of activations. One copy serves the whole
     * stack instead of one per layer. Outside a buffer set, a buffer of its own.
     */
    public static INDArray scratch(String slot, DataType type, long... shape) {
        INDArray shared = BufferSet.takeShared(slot, type, shape);
        return shared != null ? shared : Nd4j.createUninitialized(type, shape);
    }

    /** target ← source, then frees source: for per-batch temporaries built from Java arrays. */
    public static void assignAndFree(INDArray target, INDArray source) {
        target.assign(source);
        if (source.closeable()) {
            source.close();
        }
    }
}
