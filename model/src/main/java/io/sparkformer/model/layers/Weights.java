package io.sparkformer.model.layers;

import org.nd4j.linalg.api.ndarray.INDArray;

import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.TensorNames;

/**
 * A layer's weight and bias, with views of their gradients, as the flat buffers hold them under
 * the layer's name. Without gradients (null) the layer only runs forward.
 */
public record Weights(INDArray weight, INDArray bias, INDArray weightGrad, INDArray biasGrad) {
    /** The weight and bias of layer {@code name} in {@code params}, and their gradients in {@code grads} (or none). */
    public static Weights of(ParameterBuffer params, ParameterBuffer grads, String name) {
        return new Weights(params.block(TensorNames.weight(name)), params.block(TensorNames.bias(name)),
                grads == null ? null : grads.block(TensorNames.weight(name)), grads == null ? null : grads.block(TensorNames.bias(name)));
    }

    /** The bias gradient as the row [1, n] a GEMM accumulates into, or null. */
    INDArray biasGradRow() {
        if (biasGrad == null || biasGrad.rank() == 2) {
            return biasGrad;
        }
        return biasGrad.reshape(1, biasGrad.length());
    }

    /** Columns [from, to) of the weight and of the bias, with their gradients: one part of a fused projection. */
    Weights columns(long from, long to) {
        var cols = org.nd4j.linalg.indexing.NDArrayIndex.interval(from, to);
        var all = org.nd4j.linalg.indexing.NDArrayIndex.all();
        INDArray gradRow = biasGradRow();
        return new Weights(weight.get(all, cols), bias.get(cols), weightGrad == null ? null : weightGrad.get(all, cols),
                gradRow == null ? null : gradRow.get(all, cols));
    }
}
