package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import io.sparkformer.model.TransformerConfig.Activation;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.TransformerConfig.Pooling;
import io.sparkformer.model.TransformerConfig.Positional;
import io.sparkformer.model.inference.Generator;
import io.sparkformer.model.inference.Generator.Method;
import io.sparkformer.model.inference.Generator.Settings;
import io.sparkformer.model.inference.RecurrentDecoder;

/**
 * The recurrent language model stepped through rnnTimeStep: a prompt in one call and then a token
 * at a time must score every position as the full forward does, a reordered state must follow its
 * rows, and generation must be the full forward's argmax chain, past max_len too.
 */
class RecurrentDecoderTest {
    private static final int B = 3;
    private static final int T = 8;

    private static RecurrentModel lstm(long seed) {
        TransformerConfig cfg = TinyModels.config(Kind.LSTM, Norm.PRE, Positional.LEARNED, Activation.GELU, false, 0.0);
        return (RecurrentModel) TinyModels.anyModel(cfg, DataType.DOUBLE, seed);
    }

    private static double worstRow(INDArray step, double[][] full, int t, int[] rowOf) {
        double worst = 0;
        double[][] s = step.toDoubleMatrix();
        for (int r = 0; r < s.length; r++) {
            double[] expected = full[rowOf[r] * T + t];
            for (int v = 0; v < expected.length; v++) {
                worst = Math.max(worst, Math.abs(s[r][v] - expected[v]));
            }
        }
        return worst;
    }

    @Test
    void stepsMatchTheFullForwardAndAReorderedStateFollowsItsRows() {
        RecurrentModel model = lstm(5);
        Random rnd = new Random(2);
        int[][] ids = new int[B][T];
        int[] flat = new int[B * T];
        for (int r = 0; r < B; r++) {
            for (int t = 0; t < T; t++) {
                ids[r][t] = 2 + rnd.nextInt(model.config().vocabSize() - 2);
                flat[r * T + t] = ids[r][t];
            }
        }
        model.forward(Batch.of(B, T, flat, null), false);
        double[][] full = model.logits().toDoubleMatrix(); // log-probabilities, [B·T, V]

        RecurrentDecoder dec = new RecurrentDecoder(model);
        RecurrentDecoder.State state = dec.start(B);
        int prompt = 3;
        int[][] first = new int[B][];
        for (int r = 0; r < B; r++) {
            first[r] = Arrays.copyOf(ids[r], prompt);
        }
        int[] rowOf = {0, 1, 2};
        double worst = worstRow(dec.step(state, first), full, prompt - 1, rowOf);
        for (int t = prompt; t < T; t++) {
            if (t == 5) {
                // beam search's move: the rows trade places, and the state must move with them
                rowOf = new int[] {2, 0, 1};
                state.reorder(rowOf);
            }
            int[][] next = new int[B][1];
            for (int r = 0; r < B; r++) {
                next[r][0] = ids[rowOf[r]][t];
            }
            worst = Math.max(worst, worstRow(dec.step(state, next), full, t, rowOf));
        }
        assertTrue(worst < 1e-9, "stepped log-probabilities differ from the full forward by " + worst);
        assertEquals(T, state.length());
    }

    @Test
    void greedyGenerationIsTheFullForwardsArgmaxChainAndGoesPastMaxLen() {
        RecurrentModel model = lstm(8);
        Generator g = new Generator(new RecurrentDecoder(model), TinyModels.BOS, -1);
        int[] prompt = {5, 6, 7};
        int n = 6;
        int[] out = g.generate(List.of(prompt), Settings.greedy(n)).get(0);
        assertEquals(n, out.length);
        int[] seq = Arrays.copyOf(prompt, prompt.length + n);
        for (int i = 0; i < n; i++) {
            int len = prompt.length + i;
            model.forward(Batch.of(1, len, Arrays.copyOf(seq, len), null), false);
            double[] last = model.logits().getRow(len - 1).toDoubleVector();
            int best = 0;
            for (int v = 1; v < last.length; v++) {
                best = last[v] > last[best] ? v : best;
            }
            seq[len] = best;
        }
        assertArrayEquals(Arrays.copyOfRange(seq, prompt.length, seq.length), out);

        int beyond = model.config().maxLen() + 5;
        int[] longer = g.generate(List.of(prompt), new Settings(Method.BEAM, beyond, 3, 0, 1, 0, 1, 0, false)).get(0);
        assertEquals(beyond, longer.length, "an lstm's state has no position table: it generates past max_len");
    }

    @Test
    void aClassifierIsRefused() {
        TransformerConfig cfg = TinyModels.config(Kind.LSTM, Norm.PRE, Positional.LEARNED, Activation.GELU, false, 0.0)
                .withClassifier(2, Pooling.LAST);
        RecurrentModel m = (RecurrentModel) TinyModels.anyModel(cfg, DataType.DOUBLE, 1);
        assertThrows(IllegalArgumentException.class, () -> new RecurrentDecoder(m));
    }
}
