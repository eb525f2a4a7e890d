package io.sparkformer.model.layers;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** One of a layer's parts (self-attention, cross-attention, feed-forward) as a function of x. */
public interface Sublayer {
    void allocate(DataType type, Shape shape);

    /** {@code keep}: a backward pass follows, so the sublayer keeps what it reads (off in inference). */
    INDArray forward(INDArray x, boolean training, boolean keep);

    /** dL/dx into dx (added when accumulate); parameter gradients accumulate. */
    void backward(INDArray dOut, INDArray dx, boolean accumulate);

    /** The batch geometry a stack runs at: rows of queries and rows of memory (cross-attention). */
    record Shape(long batch, long length, long memoryLength, INDArray onesRows, INDArray onesMemoryRows) {
        public long rows() { return batch * length; }
    }
}
