package io.sparkformer.model.layers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import io.sparkformer.model.Nd4jRuntime;

class BufferSetTest {
    /** An inference set's memory is outside JavaCPP's count, holds what is written, and is freed when the next shape does not take it. */
    @Test
    void anInferenceSetsMemoryIsUncountedAndUsable() {
        Nd4jRuntime.init();
        BufferSet training = new BufferSet();
        BufferSet inference = new BufferSet();
        inference.forInference();
        INDArray[] a = new INDArray[2];
        long before = Pointer.totalBytes();
        inference.allocate(() -> a[0] = Ops.buffer(DataType.FLOAT, 1000, 1000));
        long inferenceGrowth = Pointer.totalBytes() - before;
        training.allocate(() -> a[1] = Ops.buffer(DataType.FLOAT, 1000, 1000));
        assertEquals(4_000_000, inference.bytes());
        assertEquals(0, inference.countedBytes(), "an inference set counts nothing");
        assertEquals(4_000_000, training.countedBytes(), "a training set counts all it holds");
        assertTrue(inferenceGrowth < 4_000_000, "JavaCPP's count grew by " + inferenceGrowth + " for 4 MB of inference buffers");
        a[0].assign(2.5f);
        assertEquals(2.5e6, a[0].sumNumber().doubleValue(), 1e-3);
        // a larger shape: the first block does not fit and is freed at the end of the allocation
        inference.allocate(() -> a[0] = Ops.buffer(DataType.FLOAT, 2000, 1000));
        assertEquals(8_000_000, inference.bytes(), "only the new shape's memory is held");
    }
}
