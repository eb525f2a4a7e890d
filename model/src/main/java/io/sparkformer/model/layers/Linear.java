package io.sparkformer.model.layers;

import org.nd4j.linalg.api.ndarray.INDArray;

/** y = x·W + b over rows; W stored [in, out] as in the spec. */
public final class Linear {
    private Linear() {}

    public static void forward(INDArray x, INDArray w, INDArray b, INDArray y) {
        if (FloatKernels.applies(y, b) && y.rank() == 2) {
            // y ← the bias in every row (a k = 1 product), then y += x·W: the GEMM adds the bias as
            // it writes y, instead of a second pass that reads and writes y again
            Ops.mm(onesColumn(y.dataType(), y.size(0)), b.reshape(1, b.length()), y, false, false, 1.0, 0.0);
            Ops.mm(x, w, y, false, false, 1.0, 1.0);
            return;
        }
        Ops.mm(x, w, y, false, false, 1.0, 0.0);
        if (FloatKernels.applies(y, b)) {
            FloatKernels.addRowVector(y, b);
        } else {
            y.addiRowVector(b);
        }
    }

    /** [rows, 1] of ones, kept per thread for the few row counts a model's batches have. */
    private static final ThreadLocal<java.util.Map<Long, INDArray>> ONES = ThreadLocal.withInitial(() ->
            new java.util.LinkedHashMap<>(8, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(java.util.Map.Entry<Long, INDArray> eldest) {
                    return size() > 8;
                }
            });

    private static INDArray onesColumn(org.nd4j.linalg.api.buffer.DataType type, long rows) {
        long key = rows * 16 + type.ordinal();
        return ONES.get().computeIfAbsent(key, k -> org.nd4j.linalg.factory.Nd4j.ones(type, rows, 1));
    }

    /**
     * dW += xᵀ·dy, db += column sums of dy, and dx = dy·Wᵀ + dxBeta·dx (skipped when dx is null).
     * {@code ones} is a [1, rows] row of ones; {@code db} is viewed as [1, out].
     */
    public static void backward(INDArray x, INDArray w, INDArray dy, INDArray dw, INDArray db, INDArray dx,
                                double dxBeta, INDArray ones) {
        Ops.mm(x, dy, dw, true, false, 1.0, 1.0);
        // one GEMM with a row of ones: the BLAS reads dy in place (the host loop copied it first)
        Ops.mm(ones, dy, db, false, false, 1.0, 1.0);
        if (dx != null) {
            Ops.mm(dy, w, dx, false, true, 1.0, dxBeta);
        }
    }
}
