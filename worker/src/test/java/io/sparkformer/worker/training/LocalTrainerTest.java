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
        float[] zeros = new float[p0.length];
        var once = a.round(p0, zeros, zeros, 0, batches, 0, 6, 0);
        var again = b.round(p0, zeros, zeros, 0, batches, 0, 6, 0);
        assertArrayEquals(once.params(), again.params(), "same inputs, same result");
        var first = b.round(p0, zeros, zeros, 0, batches, 0, 3, 0);
        var second = b.round(first.params(), first.firstMoment(), first.secondMoment(), first.optimizerStep(), batches, 3, 3, 3);
        assertArrayEquals(once.params(), second.params(), "one round of 6 steps equals two rounds of 3");
        assertEquals(6, second.optimizerStep());
        assertEquals(6L * 4 * 12 / 2, second.tokens());
        assertFalse(once.diverged());
    }

    @Test
    void lossFallsOverRounds() {
        LocalTrainer t = trainer(1e-2);
        CausalLmBatches batches = new CausalLmBatches(tokens(), 8, 12, 5);
        float[] p = initial(t);
        float[] m = new float[p.length];
        float[] v = new float[p.length];
        double firstLoss = Double.NaN;
        LocalTrainer.RoundResult r = null;
        long step = 0;
        for (int round = 0; round < 15; round++) {
            r = t.round(p, m, v, step, batches, step, 10, step);
            if (round == 0) {
                firstLoss = r.meanLoss();
            }
            p = r.params();
            m = r.firstMoment();
            v = r.secondMoment();
            step += 10;
        }
        assertTrue(r.meanLoss() < 0.6 * firstLoss, firstLoss + " -> " + r.meanLoss());
    }

    @Test
    void aNonFiniteLossStopsTheRound() {
        LocalTrainer t = trainer(1e-3);
        float[] p = initial(t);
        p[0] = Float.NaN;
        var r = t.round(p, new float[p.length], new float[p.length], 0, new CausalLmBatches(tokens(), 2, 8, 1), 0, 5, 40);
        assertTrue(r.diverged());
        assertEquals(40, r.divergedStep());
    }

    /**
     * The last step's update is checked too: a finite loss followed by an update that overflows
     * must not hand back infinite weights as a good round (they would be averaged and saved).
     */
    @Test
    void nonFiniteParametersAfterTheLastUpdateStopTheRound() {
        LocalTrainer t = trainer(1e39); // AdamW's step is about lr per weight: past float's range
        float[] p = initial(t);
        var r = t.round(p, new float[p.length], new float[p.length], 0, new CausalLmBatches(tokens(), 2, 8, 1), 0, 1, 40);
        assertTrue(r.diverged(), "one step whose loss was finite, whose update was not");
        assertEquals(40, r.divergedStep());
    }
}
