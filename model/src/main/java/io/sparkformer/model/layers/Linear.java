package io.sparkformer.model.layers;

import org.nd4j.linalg.api.ndarray.INDArray;

/** y = x·W + b over rows; W stored [in, out] as in the spec. */
public final class Linear {
    private Linear() {}

    public static void forward(INDArray x, INDArray w, INDArray b, INDArray y) {
        Ops.mm(x, w, y, false, false, 1.0, 0.0);
        if (FloatKernels.applies(y, b)) {
            FloatKernels.addRowVector(y, b);
        } else {
            y.addiRowVector(b);
        }
    }

    /**
     * dW += xᵀ·dy, db += column sums of dy, and dx = dy·Wᵀ + dxBeta·dx (skipped when dx is null).
     * {@code ones} is a [1, rows] row of ones; {@code db} is viewed as [1, out].
     */
    public static void backward(INDArray x, INDArray w, INDArray dy, INDArray dw, INDArray db, INDArray dx,
                                double dxBeta, INDArray ones) {
        Ops.mm(x, dy, dw, true, false, 1.0, 1.0);
        if (FloatKernels.applies(dy, db)) {
            FloatKernels.addColumnSums(dy, db);
        } else {
            Ops.mm(ones, dy, db, false, false, 1.0, 1.0);
        }
        if (dx != null) {
            Ops.mm(dy, w, dx, false, true, 1.0, dxBeta);
        }
    }
}
