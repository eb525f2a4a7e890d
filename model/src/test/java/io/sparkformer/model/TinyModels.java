package io.sparkformer.model;

import java.util.Random;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.TransformerConfig.Activation;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.TransformerConfig.Positional;

/** Small models and batches for tests; ids 0..2 are pad, bos/mask, eos as in the reference. */
final class TinyModels {
    static final int PAD = 0;
    static final int BOS = 1;
    static final int MASK = 1;

    private TinyModels() {}

    static TransformerConfig config(Kind kind, Norm norm, Positional pos, Activation act, boolean scale, double dropout) {
        return new TransformerConfig(kind, 11, 8, 2, 2, 16, 8, norm, pos, act, scale, 1e-5, PAD, dropout);
    }

    /** Reference-style weights: N(0, 0.3²), LayerNorm gains 1 + N(0, 0.1²). */
    static void randomize(Model model, long seed) {
        Nd4j.getRandom().setSeed(seed);
        for (var t : model.layout().tensors().values()) {
            var view = model.parameters().tensor(t.name());
            if (t.name().contains(".ln") && t.name().endsWith(".weight")) {
                view.assign(Nd4j.randn(model.dataType(), t.shape()).muli(0.1).addi(1.0));
            } else {
                view.assign(Nd4j.randn(model.dataType(), t.shape()).muli(0.3));
            }
        }
    }

    /** A batch with real padding, in the task shape of the model's kind. */
    static Batch batch(TransformerConfig cfg, int b, int t, long seed) {
        Random rnd = new Random(seed);
        int v = cfg.vocabSize();
        int[] lengths = new int[b];
        for (int r = 0; r < b; r++) {
            lengths[r] = r == 0 ? t : Math.max(2, t - 1 - rnd.nextInt(t - 1));
        }
        switch (cfg.kind()) {
            case DECODER, LSTM -> {
                int[] ids = new int[b * t];
                int[] target = new int[b * t];
                for (int r = 0; r < b; r++) {
                    for (int i = 0; i < t; i++) {
                        boolean real = i < lengths[r];
                        ids[r * t + i] = real ? 3 + rnd.nextInt(v - 3) : PAD;
                    }
                    for (int i = 0; i < t; i++) {
                        target[r * t + i] = i + 1 < lengths[r] ? ids[r * t + i + 1] : (i + 1 == lengths[r] && r == 0 ? 3 : -1);
                    }
                }
                return Batch.of(b, t, ids, target);
            }
            case ENCODER -> {
                int[] ids = new int[b * t];
                int[] target = new int[b * t];
                java.util.Arrays.fill(target, -1);
                for (int r = 0; r < b; r++) {
                    for (int i = 0; i < t; i++) {
                        ids[r * t + i] = i < lengths[r] ? 3 + rnd.nextInt(v - 3) : PAD;
                    }
                    for (int k = 0; k < 2; k++) {
                        int i = rnd.nextInt(lengths[r]);
                        target[r * t + i] = ids[r * t + i] == MASK ? target[r * t + i] : ids[r * t + i];
                        ids[r * t + i] = MASK;
                    }
                }
                return Batch.of(b, t, ids, target);
            }
            default -> {
                int s = t + 1;
                int[] src = new int[b * s];
                int[] tgtIn = new int[b * t];
                int[] target = new int[b * t];
                for (int r = 0; r < b; r++) {
                    int sl = r == 0 ? s : Math.max(1, s - 1 - rnd.nextInt(s - 1));
                    for (int i = 0; i < s; i++) {
                        src[r * s + i] = i < sl ? 3 + rnd.nextInt(v - 3) : PAD;
                    }
                    int[] seq = new int[t + 1];
                    seq[0] = BOS;
                    for (int i = 1; i <= t; i++) {
                        seq[i] = i < lengths[r] + 1 ? 3 + rnd.nextInt(v - 3) : PAD;
                    }
                    for (int i = 0; i < t; i++) {
                        tgtIn[r * t + i] = seq[i];
                        target[r * t + i] = seq[i + 1] == PAD ? -1 : seq[i + 1];
                    }
                }
                return Batch.seq2seq(b, s, src, t, tgtIn, target);
            }
        }
    }

    /** A transformer of a transformer kind, the recurrent model for lstm; randomized. */
    static Model anyModel(TransformerConfig cfg, DataType type, long seed) {
        Model m = Model.create(cfg, type);
        randomize(m, seed);
        return m;
    }

    static Transformer model(TransformerConfig cfg, DataType type, long seed) {
        Transformer m = new Transformer(cfg, type);
        randomize(m, seed);
        return m;
    }
}
