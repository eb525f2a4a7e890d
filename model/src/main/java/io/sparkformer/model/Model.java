package io.sparkformer.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What training, averaging, checkpoints and the commands need of a network: one flat parameter
 * buffer and one flat gradient buffer of a layout, a loss for a batch and the gradient of it.
 * The transformer kinds and the recurrent baseline both are one.
 */
public interface Model {

    /** The transformer of the config's kind, or the recurrent model for {@code lstm}. */
    static Model create(TransformerConfig config, DataType dataType) {
        return create(config, dataType, ParameterBuffer.Memory.ND4J);
    }

    /** As {@link #create(TransformerConfig, DataType)}, with the parameters in memory from {@code parameterMemory}. */
    static Model create(TransformerConfig config, DataType dataType, ParameterBuffer.Memory parameterMemory) {
        return config.kind() == TransformerConfig.Kind.LSTM ? new RecurrentModel(config, dataType, parameterMemory)
                : new Transformer(config, dataType, parameterMemory);
    }

    TransformerConfig config();

    DataType dataType();

    ParameterLayout layout();

    ParameterBuffer parameters();

    ParameterBuffer gradients();

    default long parameterCount() { return layout().size(); }

    /**
     * This model only runs forward passes from now on: its buffers may stay out of JavaCPP's
     * count of allocated bytes (their backward half is never touched). A backward pass still works.
     */
    default void forInference() {}

    /** Fills the parameters from a seed (the recurrent model has one scheme and ignores {@code scheme}). */
    void initialize(long seed, Transformer.Init scheme);

    /**
     * The mean cross-entropy of the batch's targets (or labels), NaN when it has none; with
     * {@code training}, dropout is on.
     */
    double forward(Batch batch, boolean training);

    /** The gradient of the last training forward's loss, into {@link #gradients()} (overwritten). */
    void backward();

    /** Forward with dropout on, then backward; returns the loss. */
    default double forwardBackward(Batch batch) {
        double loss = forward(batch, true);
        backward();
        return loss;
    }

    /**
     * Unnormalised log-probabilities of the last forward, [B·T, V] for a language model and
     * [B, labels] for a classifier; overwritten by the next forward.
     */
    INDArray logits();
}
