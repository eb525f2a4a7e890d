package io.sparkformer.model.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import io.sparkformer.model.TransformerConfig.Activation;

/**
 * BERT's masked-LM transform between the top hidden states and the tied output layer:
 * LayerNorm(act(h·W + b)), one [d, d] dense layer.
 */
public final class MaskedLmTransform {
    private final Weights dense;
    private final ActivationFunction activation;
    private final LayerNorm norm;

    private INDArray h;
    private INDArray pre, act, dAct;
    private INDArray ones;

    public MaskedLmTransform(Weights dense, Weights norm, Activation activation, double lnEps) {
        this.dense = dense;
        this.activation = new ActivationFunction(activation);
        this.norm = new LayerNorm(norm, lnEps);
    }

    /** {@code ones}: a row of ones [1, rows] for the bias gradients. */
    public void allocate(DataType type, long rows, long d, INDArray ones) {
        pre = Ops.buffer(type, rows, d);
        dAct = Ops.buffer(type, rows, d);
        activation.allocate(type, rows, d);
        norm.allocate(type, rows, d);
        this.ones = ones;
    }

    public INDArray forward(INDArray hidden) {
        this.h = hidden;
        Linear.forward(hidden, dense.weight(), dense.bias(), pre);
        act = activation.forward(pre, true);
        return norm.forward(act);
    }

    /** dHidden = dL/dh (overwritten) from dOut = dL/d(output); the weights' gradients accumulate. */
    public void backward(INDArray dOut, INDArray dHidden) {
        norm.backward(dOut, dAct, null, ones);
        activation.backward(dAct);
        Linear.backward(h, dense.weight(), dAct, dense.weightGrad(), dense.biasGradRow(), dHidden, 0.0, ones);
    }
}
