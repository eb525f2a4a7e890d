package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.TransformerConfig.Activation;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.TransformerConfig.Pooling;
import io.sparkformer.model.TransformerConfig.Positional;

/**
 * Central finite differences against the analytic gradient, in double precision, for sampled
 * elements of every parameter tensor of tiny models of each kind and switch mix, on batches with
 * padding, language models and classifiers (each pooling), the transformer kinds and the LSTM. Dropout runs with the RNG reseeded
 * before each pass, so the mask is the same.
 */
class GradientCheckTest {
    private static final double H = 1e-5;
    private static final int SAMPLES_PER_TENSOR = 4;

    /** Every mix through the host loops; a pre- and a post-norm mix through the ND4J-op versions too. */
    static Stream<Arguments> configs() {
        return Stream.of(
                Arguments.of(TinyModels.config(Kind.DECODER, Norm.PRE, Positional.LEARNED, Activation.GELU, false, 0), true),
                Arguments.of(TinyModels.config(Kind.DECODER, Norm.POST, Positional.SINUSOIDAL, Activation.RELU, true, 0), true),
                // BERT's embeddings: token types and a LayerNorm over their sum, in a post-norm encoder
                Arguments.of(bertEmbeddings(TinyModels.config(Kind.ENCODER, Norm.POST, Positional.LEARNED, Activation.GELU,
                        false, 0)), true),
                Arguments.of(bertEmbeddings(TinyModels.config(Kind.ENCODER, Norm.POST, Positional.LEARNED, Activation.GELU,
                        false, 0)), false),
                // BERT's masked-LM head (dense, GELU, LayerNorm, the tied output layer with a bias) and its pooler
                Arguments.of(bertEmbeddings(TinyModels.config(Kind.ENCODER, Norm.POST, Positional.LEARNED, Activation.GELU,
                        false, 0)).withTokenHead(true), true),
                Arguments.of(bertEmbeddings(TinyModels.config(Kind.ENCODER, Norm.POST, Positional.LEARNED, Activation.GELU_TANH,
                        false, 0.1)).withTokenHead(true), false),
                Arguments.of(bertEmbeddings(TinyModels.config(Kind.ENCODER, Norm.POST, Positional.LEARNED, Activation.GELU,
                        false, 0)).withClassifier(3, Pooling.POOLER), true),
                Arguments.of(bertEmbeddings(TinyModels.config(Kind.ENCODER, Norm.POST, Positional.LEARNED, Activation.GELU,
                        false, 0)).withClassifier(2, Pooling.POOLER), false),
                // GPT-2's tanh form of GELU, and no token taken for padding (pad_id -1, as an imported GPT-2)
                Arguments.of(withoutPadding(TinyModels.config(Kind.DECODER, Norm.PRE, Positional.LEARNED, Activation.GELU_TANH,
                        false, 0)), true),
                Arguments.of(TinyModels.config(Kind.DECODER, Norm.PRE, Positional.LEARNED, Activation.GELU, false, 0.2), true),
                Arguments.of(TinyModels.config(Kind.ENCODER, Norm.POST, Positional.LEARNED, Activation.GELU, false, 0), true),
                Arguments.of(TinyModels.config(Kind.ENCODER, Norm.PRE, Positional.SINUSOIDAL, Activation.RELU, true, 0), true),
                Arguments.of(TinyModels.config(Kind.ENCODER_DECODER, Norm.POST, Positional.SINUSOIDAL, Activation.RELU, true, 0), true),
                Arguments.of(TinyModels.config(Kind.ENCODER_DECODER, Norm.PRE, Positional.LEARNED, Activation.GELU, false, 0.1), true),
                Arguments.of(TinyModels.config(Kind.ENCODER_DECODER, Norm.POST, Positional.SINUSOIDAL, Activation.RELU, true, 0), false),
                Arguments.of(TinyModels.config(Kind.DECODER, Norm.PRE, Positional.LEARNED, Activation.GELU, false, 0.2), false),
                Arguments.of(untied(TinyModels.config(Kind.ENCODER_DECODER, Norm.PRE, Positional.SINUSOIDAL, Activation.RELU, true, 0)), true),
                Arguments.of(TinyModels.config(Kind.ENCODER, Norm.POST, Positional.LEARNED, Activation.GELU, false, 0)
                        .withClassifier(3, Pooling.FIRST), true),
                Arguments.of(TinyModels.config(Kind.ENCODER, Norm.PRE, Positional.SINUSOIDAL, Activation.RELU, false, 0.1)
                        .withClassifier(3, Pooling.MEAN), true),
                Arguments.of(TinyModels.config(Kind.ENCODER, Norm.PRE, Positional.LEARNED, Activation.GELU, false, 0)
                        .withClassifier(2, Pooling.MEAN), false),
                Arguments.of(untied(TinyModels.config(Kind.DECODER, Norm.PRE, Positional.LEARNED, Activation.GELU, false, 0))
                        .withClassifier(4, Pooling.LAST), true),
                // the recurrent baseline: Deeplearning4j's LSTM gradients, rescaled to the mean loss
                Arguments.of(TinyModels.config(Kind.LSTM, Norm.PRE, Positional.LEARNED, Activation.GELU, false, 0), true),
                Arguments.of(TinyModels.config(Kind.LSTM, Norm.PRE, Positional.LEARNED, Activation.GELU, false, 0.2), true),
                Arguments.of(TinyModels.config(Kind.LSTM, Norm.PRE, Positional.LEARNED, Activation.GELU, false, 0)
                        .withClassifier(3, Pooling.LAST), true),
                Arguments.of(TinyModels.config(Kind.LSTM, Norm.PRE, Positional.LEARNED, Activation.GELU, false, 0.1)
                        .withClassifier(2, Pooling.MEAN), true));
    }

    /** The same model with two token types and a LayerNorm over the embeddings, as BERT. */
    static TransformerConfig bertEmbeddings(TransformerConfig c) {
        return new TransformerConfig(c.kind(), c.vocabSize(), c.dModel(), c.nHeads(), c.nLayers(), c.dFf(), c.maxLen(), c.norm(),
                c.positional(), c.activation(), c.scaleEmbeddings(), c.lnEps(), c.padId(), c.dropout(), c.tieEmbeddings(),
                c.numLabels(), c.pooling(), 2, true);
    }

    /** The same model with no padding token. */
    static TransformerConfig withoutPadding(TransformerConfig c) {
        return new TransformerConfig(c.kind(), c.vocabSize(), c.dModel(), c.nHeads(), c.nLayers(), c.dFf(), c.maxLen(), c.norm(),
                c.positional(), c.activation(), c.scaleEmbeddings(), c.lnEps(), -1, c.dropout(), c.tieEmbeddings());
    }

    /** The same model with a separate output layer (lm_head.weight) instead of the tied one. */
    static TransformerConfig untied(TransformerConfig c) {
        return new TransformerConfig(c.kind(), c.vocabSize(), c.dModel(), c.nHeads(), c.nLayers(), c.dFf(), c.maxLen(), c.norm(),
                c.positional(), c.activation(), c.scaleEmbeddings(), c.lnEps(), c.padId(), c.dropout(), false);
    }

    @ParameterizedTest(name = "{0} host loops {1}")
    @MethodSource("configs")
    void analyticGradientMatchesFiniteDifferences(TransformerConfig cfg, boolean hostKernels) {
        io.sparkformer.model.layers.HostKernels.setEnabled(hostKernels);
        try {
            check(cfg);
        } finally {
            io.sparkformer.model.layers.HostKernels.setEnabled(true);
        }
    }

    private void check(TransformerConfig cfg) {
        Model model = TinyModels.anyModel(cfg, DataType.DOUBLE, 7);
        Batch batch = TinyModels.batch(cfg, 3, 6, 11);
        if (cfg.isClassifier()) {
            int[] labels = new Random(13).ints(batch.size(), 0, cfg.numLabels()).toArray();
            batch = Batch.classification(batch.size(), batch.length(), batch.ids(), labels);
        }
        if (cfg.typeVocabSize() > 0) {
            batch = batch.withTypes(new Random(17).ints(batch.ids().length, 0, cfg.typeVocabSize()).toArray());
        }
        long dropoutSeed = 99;
        Nd4j.getRandom().setSeed(dropoutSeed);
        model.forwardBackward(batch);
        INDArray analytic = model.gradients().flat().dup();
        Random rnd = new Random(5);
        List<String> bad = new ArrayList<>();
        int checked = 0;
        for (var t : model.layout().tensors().values()) {
            INDArray view = model.parameters().tensor(t.name());
            INDArray analyticView = new ParameterBuffer(model.layout(), analytic).tensor(t.name());
            long n = view.length();
            for (int s = 0; s < Math.min(SAMPLES_PER_TENSOR, n); s++) {
                long i = s == 0 ? 0 : (long) (rnd.nextDouble() * n);
                double orig = view.getDouble(unravel(view, i));
                view.putScalar(unravel(view, i), orig + H);
                Nd4j.getRandom().setSeed(dropoutSeed);
                double up = model.forward(batch, true);
                view.putScalar(unravel(view, i), orig - H);
                Nd4j.getRandom().setSeed(dropoutSeed);
                double down = model.forward(batch, true);
                view.putScalar(unravel(view, i), orig);
                double numeric = (up - down) / (2 * H);
                double a = analyticView.getDouble(unravel(analyticView, i));
                double err = Math.abs(a - numeric) / Math.max(1e-3, Math.max(Math.abs(a), Math.abs(numeric)));
                if (err > 1e-5) {
                    bad.add(String.format("%s[%d]: analytic %.10g numeric %.10g (rel %.2g)", t.name(), i, a, numeric, err));
                }
                checked++;
            }
        }
        assertTrue(bad.isEmpty(), cfg.kind() + (cfg.isClassifier() ? " classifier " + cfg.pooling() : "") + (cfg.mlmHead() ? " mlm head" : "") + " " + cfg.norm() + " " + cfg.positional() + " " + cfg.activation()
                + ": " + bad.size() + " of " + checked + " gradient entries differ:\n  " + String.join("\n  ", bad));
    }

    private static long[] unravel(INDArray a, long flat) {
        long[] idx = new long[a.rank()];
        for (int d = a.rank() - 1; d >= 0; d--) {
            idx[d] = flat % a.size(d);
            flat /= a.size(d);
        }
        return idx;
    }
}
