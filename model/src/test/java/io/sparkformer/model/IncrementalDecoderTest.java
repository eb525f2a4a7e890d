package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import io.sparkformer.model.TransformerConfig.Activation;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.TransformerConfig.Positional;
import io.sparkformer.model.inference.IncrementalDecoder;

/**
 * Decoding with the key/value cache gives, position by position, the logits of the training
 * forward pass over the whole sequence (float64, so any mask or cache slip shows).
 */
class IncrementalDecoderTest {
    private static final int B = 3;
    private static final int T = 8;

    @ParameterizedTest
    @CsvSource({"PRE,LEARNED,GELU,false", "POST,SINUSOIDAL,RELU,true", "PRE,SINUSOIDAL,RELU,true"})
    void decoderStepsMatchTheFullForward(Norm norm, Positional pos, Activation act, boolean scale) {
        TransformerConfig cfg = TinyModels.config(Kind.DECODER, norm, pos, act, scale, 0.0);
        Transformer model = TinyModels.model(cfg, DataType.DOUBLE, 11);
        Random rnd = new Random(3);
        int[][] ids = new int[B][T];
        int[] flat = new int[B * T];
        for (int r = 0; r < B; r++) {
            for (int t = 0; t < T; t++) {
                ids[r][t] = 2 + rnd.nextInt(cfg.vocabSize() - 2);
                flat[r * T + t] = ids[r][t];
            }
        }
        model.forward(Batch.of(B, T, flat, flat), false);
        double[][] full = model.logits().toDoubleMatrix();

        IncrementalDecoder dec = new IncrementalDecoder(model);
        IncrementalDecoder.State state = dec.start(B);
        // a prompt of three tokens in one call, then one token at a time
        int prompt = 3;
        int[][] first = new int[B][];
        for (int r = 0; r < B; r++) {
            first[r] = Arrays.copyOf(ids[r], prompt);
        }
        double worst = compare(dec.step(state, first), full, prompt - 1, null);
        for (int t = prompt; t < T; t++) {
            int[][] next = new int[B][1];
            for (int r = 0; r < B; r++) {
                next[r][0] = ids[r][t];
            }
            worst = Math.max(worst, compare(dec.step(state, next), full, t, null));
        }
        assertTrue(worst < 1e-9, "incremental logits differ from the full forward by " + worst);
    }

    @ParameterizedTest
    @CsvSource({"PRE,LEARNED,GELU,false,true", "POST,SINUSOIDAL,RELU,true,true", "PRE,SINUSOIDAL,RELU,true,false"})
    void encoderDecoderStepsMatchTheFullForwardWithPaddedSources(Norm norm, Positional pos, Activation act, boolean scale,
                                                                 boolean tied) {
        TransformerConfig cfg = TinyModels.config(Kind.ENCODER_DECODER, norm, pos, act, scale, 0.0);
        cfg = tied ? cfg : GradientCheckTest.untied(cfg);
        Transformer model = TinyModels.model(cfg, DataType.DOUBLE, 12);
        Random rnd = new Random(4);
        int s = 7;
        int[] lengths = {7, 4, 2};
        int[][] sources = new int[B][];
        int[] src = new int[B * s];
        int[] tgtIn = new int[B * T];
        int[][] tgt = new int[B][T];
        for (int r = 0; r < B; r++) {
            sources[r] = new int[lengths[r]];
            for (int j = 0; j < s; j++) {
                src[r * s + j] = j < lengths[r] ? 2 + rnd.nextInt(cfg.vocabSize() - 2) : cfg.padId();
                if (j < lengths[r]) {
                    sources[r][j] = src[r * s + j];
                }
            }
            for (int t = 0; t < T; t++) {
                tgt[r][t] = t == 0 ? TinyModels.BOS : 2 + rnd.nextInt(cfg.vocabSize() - 2);
                tgtIn[r * T + t] = tgt[r][t];
            }
        }
        model.forward(Batch.seq2seq(B, s, src, T, tgtIn, tgtIn), false);
        double[][] full = model.logits().toDoubleMatrix();

        IncrementalDecoder dec = new IncrementalDecoder(model);
        IncrementalDecoder.State state = dec.start(sources);
        double worst = 0;
        for (int t = 0; t < T; t++) {
            int[][] next = new int[B][1];
            for (int r = 0; r < B; r++) {
                next[r][0] = tgt[r][t];
            }
            worst = Math.max(worst, compare(dec.step(state, next), full, t, null));
        }
        assertTrue(worst < 1e-9, "incremental logits differ from the full forward by " + worst);

        // beam search reorders rows: the cache and the source padding follow
        IncrementalDecoder.State again = dec.start(sources);
        int[] order = {2, 0, 1};
        for (int t = 0; t < T; t++) {
            int[][] next = new int[B][1];
            for (int r = 0; r < B; r++) {
                next[r][0] = tgt[t < 3 ? r : order[r]][t];
            }
            if (t == 3) {
                again.reorder(order);
            }
            INDArray logits = dec.step(again, next);
            if (t >= 3) {
                worst = Math.max(worst, compare(logits, full, t, order));
            }
        }
        assertTrue(worst < 1e-9, "after reordering, logits differ by " + worst);
    }

    /** Largest difference between step logits [B, V] and the full logits' rows at position t. */
    private static double compare(INDArray step, double[][] full, int t, int[] order) {
        double[][] got = step.toDoubleMatrix();
        double worst = 0;
        for (int r = 0; r < B; r++) {
            double[] want = full[(order == null ? r : order[r]) * T + t];
            for (int v = 0; v < want.length; v++) {
                worst = Math.max(worst, Math.abs(got[r][v] - want[v]));
            }
        }
        return worst;
    }
}
