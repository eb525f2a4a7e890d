package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.model.TransformerConfig.Activation;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.TransformerConfig.Positional;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.model.optim.GradientClipping;

/** A tiny float32 model of each kind (the LSTM too) memorises one fixed batch: the loss must fall below 0.05. */
class OverfitTest {

    @ParameterizedTest
    @EnumSource(Kind.class)
    void tinyModelOverfitsAFixedBatch(Kind kind) {
        TransformerConfig cfg = new TransformerConfig(kind, 13, 32, 4, 2, 64, 12, Norm.PRE, Positional.LEARNED,
                Activation.GELU, false, 1e-5, 0, 0.0);
        Model model = Model.create(cfg, DataType.FLOAT);
        model.initialize(3, Transformer.Init.GPT2);
        Batch batch = TinyModels.batch(cfg, 4, 10, 21);
        AdamW adamw = new AdamW(model.layout(), DataType.FLOAT, new AdamW.Settings(0.9, 0.99, 1e-8, 0.0));
        double first = Double.NaN;
        double loss = Double.NaN;
        int step = 0;
        for (; step < 400; step++) {
            loss = model.forwardBackward(batch);
            if (step == 0) {
                first = loss;
            }
            if (loss < 0.05) {
                break;
            }
            GradientClipping.clip(model.gradients(), 1.0);
            adamw.apply(model.parameters(), model.gradients(), 3e-3);
        }
        System.out.printf("overfit %s: loss %.4f -> %.4f in %d steps%n", kind, first, loss, step);
        assertTrue(loss < 0.05, kind + ": loss " + first + " -> " + loss + " after " + step + " steps");
    }
}
