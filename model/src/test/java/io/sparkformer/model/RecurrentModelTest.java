package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.TransformerConfig.Activation;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.TransformerConfig.Pooling;
import io.sparkformer.model.TransformerConfig.Positional;
import io.sparkformer.model.optim.AdamW;

/** The recurrent baseline beyond its gradients (GradientCheckTest): layout, padding, inference, learning. */
class RecurrentModelTest {

    private static TransformerConfig lstm(double dropout) {
        return TinyModels.config(Kind.LSTM, Norm.PRE, Positional.LEARNED, Activation.GELU, false, dropout);
    }

    @Test
    void parametersLiveInTheFlatBufferUnderTheirRowMajorNames() {
        TransformerConfig cfg = lstm(0);
        Model m = Model.create(cfg, DataType.DOUBLE);
        m.initialize(3, Transformer.Init.GPT2);
        int d = cfg.dModel();
        int v = cfg.vocabSize();
        assertEquals((long) d * v + cfg.nLayers() * (8L * d * d + 4L * d) + (long) v * d + v, m.parameterCount());
        // The forget gates' biases start at 1 (Deeplearning4j's default), the rest at 0.
        INDArray bias = m.parameters().tensor("lstm.layers.0.bias");
        assertEquals(d, bias.sumNumber().doubleValue(), 1e-12);
        // A changed element of the embedding changes that token's logits only through the buffer.
        Batch one = Batch.of(1, 2, new int[] {5, 6}, null);
        m.forward(one, false);
        INDArray before = m.logits().dup();
        m.parameters().tensor(io.sparkformer.model.TensorNames.RECURRENT_EMBEDDING).getColumn(5).addi(0.5); // token 5's vector
        m.forward(one, false);
        assertTrue(m.logits().sub(before).amaxNumber().doubleValue() > 1e-6, "the network must read the layout's buffer");
        // Decay covers the matrices, not the biases between them.
        long[] ranges = m.layout().decayedRanges();
        assertEquals(2 * (cfg.nLayers() + 1), ranges.length, "embedding+layer 0 matrices, layer 1 matrices, head");
        long biasAt = m.layout().block("lstm.layers.0.bias").offset();
        assertEquals(biasAt, ranges[1]);
    }

    @Test
    void aClassifierReadsEachRowAsIfItWereAlone() {
        for (Pooling pooling : new Pooling[] {Pooling.LAST, Pooling.MEAN}) {
            TransformerConfig cfg = lstm(0).withClassifier(3, pooling);
            Model m = TinyModels.anyModel(cfg, DataType.DOUBLE, 7);
            int[] padded = {3, 4, 5, 6, 7, 8, 3, 5, 7, 0, 0, 0};
            m.forward(Batch.classification(2, 6, padded, null), false);
            INDArray batchRow = m.logits().getRow(1).dup();
            m.forward(Batch.classification(1, 3, new int[] {3, 5, 7}, null), false);
            assertArrayEquals(m.logits().getRow(0).toDoubleVector(), batchRow.toDoubleVector(), 1e-12, pooling.name());
        }
    }

    @Test
    void trainingAndInferenceLossAgreeWithoutDropout() {
        for (TransformerConfig cfg : new TransformerConfig[] {lstm(0), lstm(0).withClassifier(3, Pooling.LAST)}) {
            Model m = TinyModels.anyModel(cfg, DataType.DOUBLE, 7);
            Batch batch = TinyModels.batch(cfg.withClassifier(0, null), 3, 6, 11);
            if (cfg.isClassifier()) {
                batch = Batch.classification(3, 6, batch.ids(), new int[] {0, 2, 1});
            }
            double inference = m.forward(batch, false);
            double training = m.forwardBackward(batch);
            assertEquals(inference, training, 1e-12);
            assertTrue(inference > 0 && Double.isFinite(inference));
            // The gradient is overwritten, not accumulated.
            INDArray g = m.gradients().flat().dup();
            m.forwardBackward(batch);
            assertArrayEquals(g.toDoubleVector(), m.gradients().flat().toDoubleVector(), 1e-15);
        }
    }

    @Test
    void theLossFallsUnderAdamW() {
        TransformerConfig cfg = lstm(0.1);
        Model m = Model.create(cfg, DataType.FLOAT);
        m.initialize(1, Transformer.Init.GPT2);
        // A repeating pattern: each next token is a function of the last two.
        int b = 4;
        int t = 8;
        int[] ids = new int[b * t];
        int[] target = new int[b * t];
        for (int r = 0; r < b; r++) {
            int x = 3 + r;
            int y = 4 + r;
            for (int i = 0; i < t; i++) {
                ids[r * t + i] = x;
                int z = 3 + (x + 2 * y) % 8;
                target[r * t + i] = y;
                x = y;
                y = z;
            }
        }
        Batch batch = Batch.of(b, t, ids, target);
        AdamW adamw = new AdamW(m.layout(), DataType.FLOAT, new AdamW.Settings(0.9, 0.99, 1e-8, 0.01));
        double first = m.forward(batch, false);
        for (int step = 0; step < 150; step++) {
            m.forwardBackward(batch);
            adamw.apply(m.parameters(), m.gradients(), 1e-2);
        }
        double last = m.forward(batch, false);
        assertTrue(last < 0.4 * first, "loss " + first + " -> " + last);
    }

    @Test
    void badBatchesAreRefusedByName() {
        Model m = Model.create(lstm(0), DataType.FLOAT);
        var e = assertThrows(IllegalArgumentException.class, () -> m.forward(Batch.of(1, 2, new int[] {1, 11}, null), false));
        assertTrue(e.getMessage().contains("ids[1] = 11"), e.getMessage());
        assertThrows(IllegalStateException.class, m::backward);
        assertThrows(io.sparkformer.model.ConfigException.class, () -> lstm(0).withClassifier(2, Pooling.FIRST));
        assertThrows(IllegalArgumentException.class, () -> new Transformer(lstm(0), DataType.FLOAT));
    }
}
