package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.layers.BufferSet;
import io.sparkformer.model.layers.HostKernels;

/**
 * A model whose batch shape changes carves the new shape's buffers out of the old ones' memory
 * (BufferSet). Its memory is filled with NaN as it is handed out here, so a layer that reads a
 * buffer before writing it shows: the loss, the gradients and the hidden states of a batch after other shapes
 * must be bit-equal to a fresh model's on that batch alone, for every model mix of the gradient
 * check, through both the host loops and the ND4J ops.
 */
class BufferReuseTest {

    @BeforeAll
    static void poison() {
        Nd4jRuntime.init(); // the BLAS SPARKFORMER_BLAS names
        BufferSet.setPoison(true);
    }

    @AfterAll
    static void unpoison() {
        BufferSet.setPoison(false);
    }

    static Stream<Arguments> configs() {
        return GradientCheckTest.configs().map(a -> (TransformerConfig) a.get()[0]).filter(c -> c.kind() != Kind.LSTM).distinct()
                .flatMap(c -> Stream.of(Arguments.of(c, true), Arguments.of(c, false)));
    }

    @ParameterizedTest(name = "{0} host loops {1}")
    @MethodSource("configs")
    void aBatchAfterOtherShapesEqualsAFreshModelsPass(TransformerConfig cfg, boolean hostKernels) {
        HostKernels.setEnabled(hostKernels);
        try {
            Transformer reused = TinyModels.model(cfg, DataType.DOUBLE, 7);
            // larger, then smaller (every buffer reused), then larger again (some reused, some fresh)
            int[][] shapes = {{4, 6}, {3, 5}, {2, 4}, {4, 7}};
            for (int i = 0; i < shapes.length; i++) {
                Batch batch = labelled(cfg, TinyModels.batch(cfg, shapes[i][0], shapes[i][1], 11 + i));
                Transformer fresh = TinyModels.model(cfg, DataType.DOUBLE, 7);
                Nd4j.getRandom().setSeed(99);
                double expected = fresh.forwardBackward(batch);
                double[] expectedGrad = fresh.gradients().flat().dup().reshape(-1).toDoubleVector();
                double[] expectedHidden = fresh.hiddenStates(batch).dup().reshape(-1).toDoubleVector();
                Nd4j.getRandom().setSeed(99);
                double loss = reused.forwardBackward(batch);
                String shape = cfg + " at " + shapes[i][0] + "x" + shapes[i][1];
                assertTrue(Double.isFinite(loss), shape + ": loss " + loss);
                assertEquals(Double.doubleToLongBits(expected), Double.doubleToLongBits(loss), shape + ": loss");
                assertArrayEquals(expectedGrad, reused.gradients().flat().dup().reshape(-1).toDoubleVector(), 0.0, shape + ": gradients");
                assertArrayEquals(expectedHidden, reused.hiddenStates(batch).dup().reshape(-1).toDoubleVector(), 0.0, shape + ": hidden states");
            }
        } finally {
            HostKernels.setEnabled(true);
        }
    }

    /** Random labels and token types, where the mix has them. */
    static Batch labelled(TransformerConfig cfg, Batch batch) {
        if (cfg.isClassifier()) {
            batch = Batch.classification(batch.size(), batch.length(), batch.ids(),
                    new Random(13).ints(batch.size(), 0, cfg.numLabels()).toArray());
        }
        if (cfg.typeVocabSize() > 0) {
            batch = batch.withTypes(new Random(17).ints(batch.ids().length, 0, cfg.typeVocabSize()).toArray());
        }
        return batch;
    }
}
