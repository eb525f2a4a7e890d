package io.sparkformer.worker.training;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.model.optim.LearningRateSchedule;
import io.sparkformer.worker.batches.MaskedLmBatches;

/**
 * On a periodic stream every masked token is determined by its neighbours, so an encoder that
 * really attends to context drives the masked-LM loss far below the unigram level (ln 7 here).
 * A mask or position bug cannot pass this.
 */
class MaskedLmLearnsContextTest {
    @Test
    void maskedTokensArePredictedFromTheirNeighbours() {
        int period = 7;
        int[] stream = new int[20_000];
        for (int i = 0; i < stream.length; i++) {
            stream[i] = 5 + i % period;
        }
        TransformerConfig cfg = new TransformerConfig(TransformerConfig.Kind.ENCODER, 5 + period, 32, 2, 2, 64, 32,
                TransformerConfig.Norm.PRE, TransformerConfig.Positional.LEARNED, TransformerConfig.Activation.GELU,
                false, 1e-5, 0, 0.0);
        Transformer init = new Transformer(cfg, org.nd4j.linalg.api.buffer.DataType.FLOAT);
        init.initialize(1);
        LocalTrainer t = new LocalTrainer(cfg, new LocalTrainer.Settings(new AdamW.Settings(0.9, 0.99, 1e-8, 0.0), 1.0,
                LearningRateSchedule.constant(3e-3), 1));
        MaskedLmBatches batches = new MaskedLmBatches(stream, 16, 32, cfg.vocabSize(), 2);
        float[] p = init.parameters().flat().toFloatVector();
        Replica replica = new Replica(p, OptimizerState.fresh(p.length));
        RoundReport r = null;
        for (int round = 0; round < 30; round++) {
            r = t.round(replica, batches, round * 10L, 10);
            replica = t.replica();
        }
        System.out.printf("masked LM on a period-%d stream: loss %.4f after 300 steps (unigram %.4f)%n", period,
                r.meanLoss(), Math.log(period));
        assertTrue(r.meanLoss() < 0.3, "masked-LM loss " + r.meanLoss() + " after 300 steps; unigram is " + Math.log(period));
    }
}
