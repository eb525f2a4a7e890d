package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.model.TransformerConfig.Activation;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.TransformerConfig.Positional;

/** A model whose parameters live in memory its caller keeps (a replica's, shared with peers on the host). */
class ParameterMemoryTest {

    @ParameterizedTest
    @EnumSource(Kind.class)
    void aModelOverGivenMemoryComputesWhatOneOverNd4jsDoes(Kind kind) {
        TransformerConfig cfg = TinyModels.config(kind, Norm.PRE, Positional.LEARNED, Activation.GELU, true, 0.0);
        Model plain = Model.create(cfg, DataType.FLOAT);
        ByteBuffer[] kept = new ByteBuffer[1];
        Model over = Model.create(cfg, DataType.FLOAT, (layout, type) -> {
            kept[0] = ByteBuffer.allocateDirect(Math.toIntExact(4 * layout.size())).order(ByteOrder.LITTLE_ENDIAN);
            return ParameterBuffer.floatsOver(kept[0]);
        });
        TinyModels.randomize(plain, 5);
        over.parameters().copyFrom(plain.parameters());
        // the model's parameters are that memory: what it holds is what the buffer holds
        java.nio.FloatBuffer memory = kept[0].asFloatBuffer();
        float[] fromMemory = new float[memory.remaining()];
        memory.get(fromMemory);
        assertArrayEquals(plain.parameters().flat().toFloatVector(), fromMemory);

        Batch batch = BufferReuseTest.labelled(cfg, TinyModels.batch(cfg, 2, 6, 3));
        assertEquals(plain.forwardBackward(batch), over.forwardBackward(batch));
        assertArrayEquals(plain.gradients().flat().toFloatVector(), over.gradients().flat().toFloatVector());

        // a write into the memory is a change of the model's parameters
        kept[0].putFloat(0, 42f);
        assertEquals(42f, over.parameters().flat().getFloat(0));
    }

    @Test
    void nd4jLeavesGivenMemoryAloneWhenTheArrayIsCollected() throws InterruptedException {
        ByteBuffer memory = ByteBuffer.allocateDirect(4 * 1000).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 3; i++) {
            ParameterBuffer.floatsOver(memory).addi(1f);
            System.gc(); // ND4J's deallocator runs on collection: it must not free or reuse memory it did not allocate
            Thread.sleep(50);
            org.nd4j.linalg.factory.Nd4j.create(DataType.FLOAT, 1000).assign(7f); // memory ND4J may have reused
        }
        for (int i = 0; i < 1000; i++) {
            assertEquals(3f, memory.getFloat(4 * i), "float " + i);
        }
    }

    @Test
    void memoryThatIsNotDirectLittleEndianFloatsIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> ParameterBuffer.floatsOver(ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN)));
        assertThrows(IllegalArgumentException.class, () -> ParameterBuffer.floatsOver(ByteBuffer.allocateDirect(16)));
        assertThrows(IllegalArgumentException.class,
                () -> ParameterBuffer.floatsOver(ByteBuffer.allocateDirect(14).order(ByteOrder.LITTLE_ENDIAN)));
    }
}
