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

    /** Every request for a scratch slot gets the same memory while it fits; a larger one gets memory of its own. */
    @Test
    void scratchSlotsShareMemoryAcrossRequests() {
        Nd4jRuntime.init();
        BufferSet set = new BufferSet();
        INDArray[] a = new INDArray[5];
        set.allocate(() -> {
            a[0] = Ops.scratch("gradient", DataType.FLOAT, 100, 10);
            a[1] = Ops.scratch("gradient", DataType.FLOAT, 100, 10);
            a[2] = Ops.scratch("gradient", DataType.FLOAT, 50, 10); // fits in the first block
            a[3] = Ops.scratch("other", DataType.FLOAT, 100, 10);
            a[4] = Ops.scratch("gradient", DataType.FLOAT, 200, 10); // does not fit: a block of its own
        });
        assertEquals(4 * (1000 + 1000 + 2000), set.bytes(), "three blocks: the slot's two and the other slot's");
        a[0].assign(1f);
        a[3].assign(3f);
        a[4].assign(4f);
        assertEquals(1000.0, a[1].sumNumber().doubleValue(), 0.0, "the same memory as the first request");
        assertEquals(500.0, a[2].sumNumber().doubleValue(), 0.0, "a smaller request sees the block's start");
        a[1].assign(2f);
        assertEquals(2000.0, a[0].sumNumber().doubleValue(), 0.0);
        assertEquals(3000.0, a[3].sumNumber().doubleValue(), 0.0, "another slot is other memory");
        assertEquals(8000.0, a[4].sumNumber().doubleValue(), 0.0, "the larger request has its own");
        // a new shape starts the slots afresh, in the last shape's memory
        set.allocate(() -> {
            a[0] = Ops.scratch("gradient", DataType.FLOAT, 100, 10);
            a[1] = Ops.scratch("gradient", DataType.FLOAT, 100, 10);
        });
        a[0].assign(5f);
        assertEquals(5000.0, a[1].sumNumber().doubleValue(), 0.0);
        assertEquals(4 * 1000, set.bytes(), "one block for the slot; the rest was freed");
    }
}
