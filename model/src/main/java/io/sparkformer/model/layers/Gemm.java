package io.sparkformer.model.layers;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.dnnl.global.dnnl;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.mkl.global.mkl_rt;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * GEMMs straight into the BLAS ND4J itself loads (OpenBLAS, or MKL in its place; see
 * Nd4jRuntime), or for float products into oneDNN's GEMM where that was chosen, on the CPU
 * backend. Measured on the benchmark's shapes, ND4J's Mmul op costs
 * about 0.3 ms a call on top of the BLAS and reached half of its two-thread rate (60-89 against
 * 122 GFLOP/s); a batched product of small heads ran at 18 GFLOP/s. Row-major views with a row
 * stride (a parameter block's column range, the flat buffer's slices) go through as they are,
 * with their leading dimension. On CUDA, or for any other layout, {@link Ops#mm} keeps Mmul.
 */
final class Gemm {
    private static final int ROW_MAJOR = openblas_nolapack.CblasRowMajor;
    private static final int NO_TRANS = openblas_nolapack.CblasNoTrans;
    private static final int TRANS = openblas_nolapack.CblasTrans;

    private Gemm() {}

    /** c = alpha·op(a)·op(b) + beta·c for 2-D or batched 3-D arrays; false when it does not apply. */
    static boolean run(INDArray a, INDArray b, INDArray c, boolean transA, boolean transB, double alpha, double beta) {
        if (!HostKernels.enabled() || !rowMajor(a) || !rowMajor(b) || !rowMajor(c)) {
            return false;
        }
        DataType type = c.dataType();
        if ((type != DataType.FLOAT && type != DataType.DOUBLE) || a.dataType() != type || b.dataType() != type) {
            return false;
        }
        int rank = c.rank();
        if (a.rank() != rank || b.rank() != rank || rank < 2 || rank > 4) {
            return false;
        }
        int r = rank - 2;
        long batch = 1; // one product per index of the leading dimensions
        for (int i = 0; i < r; i++) {
            if (a.size(i) != c.size(i) || b.size(i) != c.size(i)) {
                return false;
            }
            batch *= c.size(i);
        }
        int m = Math.toIntExact(c.size(r));
        int n = Math.toIntExact(c.size(r + 1));
        int k = Math.toIntExact(transA ? a.size(r) : a.size(r + 1));
        // op(a) is [m, k], op(b) is [k, n]
        if ((transA ? a.size(r + 1) : a.size(r)) != m || (transB ? b.size(r) : b.size(r + 1)) != n
                || (transB ? b.size(r + 1) : b.size(r)) != k) {
            return false;
        }
        int lda = leading(a, r);
        int ldb = leading(b, r);
        int ldc = leading(c, r);
        int ta = transA ? TRANS : NO_TRANS;
        int tb = transB ? TRANS : NO_TRANS;
        boolean small = 2.0 * m * n * k < SMALL_FLOPS;
        if (small && batch > 1 && type == DataType.FLOAT && HostThreads.get() > 1) {
            // the heads' small products spread over the task's threads, each one whole on one thread
            batchedOnHostThreads(a, b, c, batch, m, n, k, lda, ldb, ldc, ta, tb, (float) alpha, (float) beta);
            return true;
        }
        if (ONEDNN && type == DataType.FLOAT) {
            // small products whole on one thread, as OpenBLAS runs them: their bits then do not
            // depend on whether the heads were spread over host threads
            onednnThreads(small ? 1 : Nd4j.factory().blas().getMaxThreads());
            onednnProduct(a, b, c, batch, m, n, k, lda, ldb, ldc, transA, transB, (float) alpha, (float) beta);
            return true;
        }
        // MKL splits even a 64x64x32 product over its threads, and on a 2-core AMD EPYC the wake-up
        // per call cost more than the product: the step's attention GEMMs took 250 ms instead of 9
        boolean oneThread = MKL && small;
        int previous = oneThread ? mkl_rt.MKL_Set_Num_Threads_Local(1) : 0;
        try {
            return product(a, b, c, type, batch, m, n, k, lda, ldb, ldc, ta, tb, alpha, beta);
        } finally {
            if (oneThread) {
                mkl_rt.MKL_Set_Num_Threads_Local(previous);
            }
        }
    }

    /**
     * Products below SMALL_FLOPS run on the calling thread in both libraries (OpenBLAS does not
     * split them; MKL is told so per thread), so calls from several threads at once are safe, and
     * each product's bits are those of a call on one thread.
     */
    private static void batchedOnHostThreads(INDArray a, INDArray b, INDArray c, long batch, int m, int n, int k, int lda,
                                             int ldb, int ldc, int ta, int tb, float alpha, float beta) {
        FloatPointer pa = new FloatPointer(a.data().addressPointer());
        FloatPointer pb = new FloatPointer(b.data().addressPointer());
        FloatPointer pc = new FloatPointer(c.data().addressPointer());
        if (ONEDNN) {
            char transA = ta == TRANS ? 'T' : 'N';
            char transB = tb == TRANS ? 'T' : 'N';
            HostThreads.run(Math.toIntExact(batch), i -> {
                onednnThreads(1);
                check(dnnl.dnnl_sgemm((byte) transA, (byte) transB, m, n, k, alpha, new FloatPointer(pa).position(at(a, i)), lda,
                        new FloatPointer(pb).position(at(b, i)), ldb, beta, new FloatPointer(pc).position(at(c, i)), ldc));
            });
            return;
        }
        HostThreads.run(Math.toIntExact(batch), i -> {
            int previous = MKL ? mkl_rt.MKL_Set_Num_Threads_Local(1) : 0;
            try {
                openblas_nolapack.cblas_sgemm(ROW_MAJOR, ta, tb, m, n, k, alpha, new FloatPointer(pa).position(at(a, i)), lda,
                        new FloatPointer(pb).position(at(b, i)), ldb, beta, new FloatPointer(pc).position(at(c, i)), ldc);
            } finally {
                if (MKL) {
                    mkl_rt.MKL_Set_Num_Threads_Local(previous);
                }
            }
        });
    }

    /** Below this many FLOPs a product runs on one MKL thread (OpenBLAS decides so itself). */
    private static final double SMALL_FLOPS = 4e6;
    private static final boolean MKL = "mkl".equals(io.sparkformer.model.Nd4jRuntime.blas());
    private static final boolean ONEDNN = "onednn".equals(io.sparkformer.model.Nd4jRuntime.blas());
    /** The OpenMP team size this thread last asked for (oneDNN's threads are OpenMP's, set per calling thread). */
    private static final ThreadLocal<int[]> OMP_THREADS = ThreadLocal.withInitial(() -> new int[] {0});

    private static void onednnThreads(int threads) {
        int[] current = OMP_THREADS.get();
        if (current[0] != threads) {
            // libnd4j and oneDNN share one libgomp, and omp_set_num_threads is per calling thread
            NativeOpsHolder.getInstance().getDeviceNativeOps().setOmpNumThreads(threads);
            current[0] = threads;
        }
    }

    private static void onednnProduct(INDArray a, INDArray b, INDArray c, long batch, int m, int n, int k,
                                      int lda, int ldb, int ldc, boolean transA, boolean transB, float alpha, float beta) {
        FloatPointer pa = new FloatPointer(a.data().addressPointer());
        FloatPointer pb = new FloatPointer(b.data().addressPointer());
        FloatPointer pc = new FloatPointer(c.data().addressPointer());
        byte ta = (byte) (transA ? 'T' : 'N');
        byte tb = (byte) (transB ? 'T' : 'N');
        for (long i = 0; i < batch; i++) {
            check(dnnl.dnnl_sgemm(ta, tb, m, n, k, alpha, pa.position(at(a, i)), lda, pb.position(at(b, i)), ldb, beta,
                    pc.position(at(c, i)), ldc));
        }
    }

    private static void check(int status) {
        if (status != dnnl.dnnl_success) {
            throw new IllegalStateException("oneDNN's sgemm failed with status " + status);
        }
    }

    private static boolean product(INDArray a, INDArray b, INDArray c, DataType type, long batch, int m, int n,
                                   int k, int lda, int ldb, int ldc, int ta, int tb, double alpha, double beta) {
        if (type == DataType.FLOAT) {
            FloatPointer pa = new FloatPointer(a.data().addressPointer());
            FloatPointer pb = new FloatPointer(b.data().addressPointer());
            FloatPointer pc = new FloatPointer(c.data().addressPointer());
            for (long i = 0; i < batch; i++) {
                openblas_nolapack.cblas_sgemm(ROW_MAJOR, ta, tb, m, n, k, (float) alpha, pa.position(at(a, i)), lda,
                        pb.position(at(b, i)), ldb, (float) beta, pc.position(at(c, i)), ldc);
            }
        } else {
            DoublePointer pa = new DoublePointer(a.data().addressPointer());
            DoublePointer pb = new DoublePointer(b.data().addressPointer());
            DoublePointer pc = new DoublePointer(c.data().addressPointer());
            for (long i = 0; i < batch; i++) {
                openblas_nolapack.cblas_dgemm(ROW_MAJOR, ta, tb, m, n, k, alpha, pa.position(at(a, i)), lda,
                        pb.position(at(b, i)), ldb, beta, pc.position(at(c, i)), ldc);
            }
        }
        return true;
    }

    /**
     * Where product i's matrix starts in x's buffer, in elements: i read as the leading indices
     * in row-major order (none for a single matrix, one for [batch, m, n], two for [B, h, m, n]:
     * the heads of a batch row as views of a wider block, each with its own row stride).
     */
    private static long at(INDArray x, long i) {
        return switch (x.rank()) {
            case 4 -> i / x.size(1) * x.stride(0) + i % x.size(1) * x.stride(1);
            case 3 -> i * x.stride(0);
            default -> 0;
        };
    }

    /** The row stride; a single row takes any stride at least its width. */
    private static int leading(INDArray x, int r) {
        return Math.toIntExact(x.size(r) == 1 ? Math.max(1, x.size(r + 1)) : x.stride(r));
    }

    /** Row-major with unit column stride: rows may be strided (a column range of a wider block). */
    private static boolean rowMajor(INDArray x) {
        if (x.length() == 0) {
            return false;
        }
        int rank = x.rank();
        if (rank < 2 || x.stride(rank - 1) != 1 && x.size(rank - 1) != 1) {
            return false;
        }
        // each row must fit within its row stride, and batches must not overlap
        if (x.stride(rank - 2) < x.size(rank - 1) && x.size(rank - 2) > 1) {
            return false;
        }
        if (rank == 4) { // [B, h, m, n]: a batch row's h matrices side by side within each row, or one after the other
            boolean sideBySide = x.stride(1) >= x.size(3) && x.stride(1) * (x.size(1) - 1) + x.size(3) <= x.stride(2);
            boolean stacked = x.stride(1) >= x.size(2) * x.stride(2);
            return (x.size(1) == 1 || x.size(2) == 1 || sideBySide || stacked)
                    && (x.size(0) == 1 || x.stride(0) >= Math.max(x.size(2) * x.stride(2), x.size(1) * x.stride(1)));
        }
        return rank != 3 || x.size(0) == 1 || x.stride(0) >= x.size(1) * x.stride(1);
    }
}
