package io.sparkformer.model.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.ParameterLayout;
import io.sparkformer.model.TransformerConfig;

class OptimizerTest {
    private static final TransformerConfig CFG = TransformerConfig.decoder(7, 4, 2, 1, 4);

    @Test
    void adamwMatchesTorchFormulaOverSeveralSteps() {
        ParameterLayout layout = ParameterLayout.of(CFG);
        ParameterBuffer w = new ParameterBuffer(layout, DataType.DOUBLE);
        ParameterBuffer g = new ParameterBuffer(layout, DataType.DOUBLE);
        Nd4j.getRandom().setSeed(3);
        w.flat().assign(Nd4j.randn(DataType.DOUBLE, layout.size()));
        // eps large enough that its placement matters
        AdamW.Settings s = new AdamW.Settings(0.9, 0.99, 1e-2, 0.1);
        AdamW opt = new AdamW(layout, DataType.DOUBLE, s);
        int n = (int) layout.size();
        double[] ref = w.flat().toDoubleVector();
        double[] m = new double[n];
        double[] v = new double[n];
        for (int t = 1; t <= 4; t++) {
            g.flat().assign(Nd4j.randn(DataType.DOUBLE, layout.size()).muli(0.05 * t));
            double[] gv = g.flat().toDoubleVector();
            double lr = 0.01 * t;
            opt.apply(w, g, lr);
            for (int i = 0; i < n; i++) {
                m[i] = 0.9 * m[i] + 0.1 * gv[i];
                v[i] = 0.99 * v[i] + 0.01 * gv[i] * gv[i];
                double mh = m[i] / (1 - Math.pow(0.9, t));
                double vh = v[i] / (1 - Math.pow(0.99, t));
                if (i < layout.decayedSize()) {
                    ref[i] *= 1 - lr * 0.1;
                }
                ref[i] -= lr * mh / (Math.sqrt(vh) + 1e-2);
            }
        }
        double[] got = w.flat().toDoubleVector();
        for (int i = 0; i < n; i++) {
            assertEquals(ref[i], got[i], 1e-12, "element " + i);
        }
        assertEquals(4, opt.step());
    }

    @Test
    void decayCoversExactlyTheMatrices() {
        ParameterLayout layout = ParameterLayout.of(CFG);
        long matrices = layout.tensors().values().stream().filter(t -> t.rank() >= 2).mapToLong(ParameterLayout.Tensor::size).sum();
        assertEquals(matrices, layout.decayedSize());
    }

    @Test
    void clippingScalesToTheMaxNorm() {
        ParameterLayout layout = ParameterLayout.of(CFG);
        ParameterBuffer g = new ParameterBuffer(layout, DataType.DOUBLE);
        g.flat().assign(1.0);
        double before = GradientClipping.clip(g, 1.0);
        assertEquals(Math.sqrt(layout.size()), before, 1e-9);
        assertEquals(1.0, g.flat().norm2Number().doubleValue(), 1e-5);
        assertEquals(1.0, GradientClipping.clip(g, 2.0), 1e-5);
        assertEquals(1.0, g.flat().norm2Number().doubleValue(), 1e-5);
    }

    @Test
    void schedulesFollowTheirFormulas() {
        LearningRateSchedule cos = LearningRateSchedule.warmupCosine(1e-3, 1e-4, 100, 2000);
        assertEquals(1e-3 / 101, cos.at(0), 1e-15);
        assertEquals(1e-3 * 100 / 101, cos.at(99), 1e-15);
        assertEquals(1e-3, cos.at(100), 1e-15);
        assertEquals(5.5e-4, cos.at(1050), 1e-12);
        assertEquals(1e-4, cos.at(2000), 1e-15);
        assertEquals(1e-4, cos.at(5000), 1e-15);
        LearningRateSchedule noam = LearningRateSchedule.noam(1.0, 512, 400);
        assertEquals(Math.pow(512, -0.5) * Math.pow(400, -0.5), noam.at(399), 1e-15);
        assertEquals(Math.pow(512, -0.5) * 1 * Math.pow(400, -1.5), noam.at(0), 1e-15);
    }
}
