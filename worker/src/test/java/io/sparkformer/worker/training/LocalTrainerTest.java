package io.sparkformer.worker.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;

import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.model.optim.LearningRateSchedule;
import io.sparkformer.worker.batches.CausalLmBatches;

class LocalTrainerTest {
    private static final TransformerConfig CFG = TransformerConfig.decoder(20, 16, 2, 1, 16);

    private static int[] tokens() {
        Random r = new Random(1);
        int[] t = new int[2000];
        for (int i = 0; i < t.length; i++) {
            t[i] = 5 + (i % 7 == 0 ? r.nextInt(15) : (t[Math.max(0, i - 1)] - 5 + 1) % 15);
        }
        return t;
    }

    private static float[] initial(LocalTrainer t) {
        Transformer m = new Transformer(CFG, org.nd4j.linalg.api.buffer.DataType.FLOAT);
        m.initialize(3);
        return m.parameters().flat().toFloatVector();
    }

    private static LocalTrainer trainer(double lr) {
        return new LocalTrainer(CFG, new LocalTrainer.Settings(new AdamW.Settings(0.9, 0.99, 1e-8, 0.1), 1.0,
                LearningRateSchedule.constant(lr), 7));
    }

    @Test
    void aRoundIsADeterministicFunctionOfItsInputsAndRoundsCompose() {
        LocalTrainer a = trainer(3e-3);
        LocalTrainer b = trainer(3e-3);
        CausalLmBatches batches = new CausalLmBatches(tokens(), 4, 12, 5);
        float[] p0 = initial(a);
        Replica start = new Replica(p0, OptimizerState.fresh(p0.length));
        RoundReport onceReport = a.round(start, batches, 0, 6);
        Replica once = a.replica();
        b.round(start, batches, 0, 6);
        assertArrayEquals(once.params(), b.replica().params(), "same inputs, same result");
        b.round(start, batches, 0, 3);
        RoundReport second = b.round(b.replica(), batches, 3, 3);
        assertArrayEquals(once.params(), b.replica().params(), "one round of 6 steps equals two rounds of 3");
        assertArrayEquals(once.optimizer().secondMoment(), b.replica().optimizer().secondMoment());
        assertEquals(6, second.optimizerStep());
        assertEquals(6L * 4 * 12, onceReport.tokens());
        assertEquals(3L * 4 * 12, second.tokens());
        assertFalse(onceReport.diverged());
    }

    @Test
    void lossFallsOverRounds() {
        LocalTrainer t = trainer(1e-2);
        CausalLmBatches batches = new CausalLmBatches(tokens(), 8, 12, 5);
        Replica replica = new Replica(initial(t), OptimizerState.fresh(initial(t).length));
        double firstLoss = Double.NaN;
        RoundReport r = null;
        for (int round = 0; round < 15; round++) {
            r = t.round(replica, batches, round * 10L, 10);
            if (round == 0) {
                firstLoss = r.meanLoss();
            }
            replica = t.replica();
        }
        assertTrue(r.meanLoss() < 0.6 * firstLoss, firstLoss + " -> " + r.meanLoss());
    }

    @Test
    void aNonFiniteLossStopsTheRound() {
        LocalTrainer t = trainer(1e-3);
        float[] p = initial(t);
        p[0] = Float.NaN;
        var r = t.round(new Replica(p, OptimizerState.fresh(p.length)), new CausalLmBatches(tokens(), 2, 8, 1), 40, 5);
        assertTrue(r.diverged());
        assertEquals(40, r.divergence().step());
    }

    /**
     * The last step's update is checked too: a finite loss followed by an update that overflows
     * must not hand back infinite weights as a good round (they would be averaged and saved).
     */
    @Test
    void nonFiniteParametersAfterTheLastUpdateStopTheRound() {
        LocalTrainer t = trainer(1e39); // AdamW's step is about lr per weight: past float's range
        float[] p = initial(t);
        var r = t.round(new Replica(p, OptimizerState.fresh(p.length)), new CausalLmBatches(tokens(), 2, 8, 1), 40, 1);
        assertTrue(r.diverged(), "one step whose loss was finite, whose update was not");
        assertEquals(40, r.divergence().step());
    }
}
