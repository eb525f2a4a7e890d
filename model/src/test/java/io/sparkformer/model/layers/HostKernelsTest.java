package io.sparkformer.model.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.apache.commons.math3.special.Erf;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.ParameterLayout;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.optim.AdamW;

/**
 * The float32 host loops against the ND4J ops they replace, and their exp and Φ against exact
 * references; the vector and scalar loops must agree to the bit.
 */
class HostKernelsTest {
    static {
        Nd4jRuntime.init();
    }

    private static final DataType F = DataType.FLOAT;

    /** Inputs over the whole range exp and Φ see: wide, near 0, and past both clamps. */
    /**
     * The same float to the bit, except that a NaN is any NaN: the sign and payload a NaN comes out
     * with are the CPU's and the JIT's choice (seen: a vector loop's Φ(NaN) with the sign bit set
     * in one JVM of the suite and without in others), and no training step keeps a NaN.
     */
    private static void assertSameBits(float expected, float actual, String what) {
        if (Float.isNaN(expected) && Float.isNaN(actual)) {
            return;
        }
        assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(actual), what);
    }

    private static float[] inputs() {
        Random rnd = new Random(3);
        float[] x = new float[20_003];
        for (int i = 0; i < x.length; i++) {
            x[i] = switch (i % 4) {
                case 0 -> (float) (rnd.nextGaussian() * 3);
                case 1 -> (float) (rnd.nextDouble() * 200 - 100);
                case 2 -> (float) (rnd.nextGaussian() * 1e-3);
                default -> (float) (rnd.nextDouble() * 20 - 10);
            };
        }
        x[0] = -1e9f;
        x[1] = Float.NaN;
        x[2] = 0f;
        x[3] = -87.2f;
        return x;
    }

    @Test
    void expIsAccurateAndTheVectorLoopGivesTheScalarBits() {
        assertTrue(ElementMath.vectorized(), "the tests run with --add-modules=jdk.incubator.vector");
        float[] x = inputs();
        float[] vec = x.clone();
        ElementMath.exp(vec, 0, vec.length);
        double worst = 0;
        for (int i = 0; i < x.length; i++) {
            float scalar = ElementMath.exp(x[i]);
            assertSameBits(scalar, vec[i], "exp(" + x[i] + ")");
            double exact = Math.exp(x[i]);
            if (x[i] < ElementMath.MIN_ARG) {
                assertEquals(0f, scalar, "exp(" + x[i] + ") is flushed to 0");
            } else if (x[i] <= ElementMath.MAX_ARG) {
                worst = Math.max(worst, Math.abs(scalar - exact) / exact);
            }
        }
        assertTrue(Float.isNaN(vec[1]), "NaN stays NaN");
        System.out.printf("exp: worst relative error %.3g%n", worst);
        assertTrue(worst < 3e-7, "exp relative error " + worst);
    }

    @Test
    void normalCdfIsAccurateAndTheVectorLoopGivesTheScalarBits() {
        float[] u = inputs();
        float[] vec = new float[u.length];
        ElementMath.normalCdf(u, vec, u.length);
        double worstRelative = 0;
        double worstAbsolute = 0;
        for (int i = 0; i < u.length; i++) {
            float scalar = ElementMath.normalCdf(u[i]);
            assertSameBits(scalar, vec[i], "Φ(" + u[i] + ")");
            if (!Float.isNaN(u[i])) {
                double exact = 0.5 * Erf.erfc(-u[i] / Math.sqrt(2));
                worstAbsolute = Math.max(worstAbsolute, Math.abs(scalar - exact));
                if (Math.abs(u[i]) <= 4) {
                    worstRelative = Math.max(worstRelative, Math.abs(scalar - exact) / exact);
                }
            }
        }
        // float's u² limits the far negative tail's relative accuracy; its absolute error stays tiny
        System.out.printf("Φ: worst relative error %.3g for |u| <= 4, worst absolute error %.3g%n", worstRelative, worstAbsolute);
        assertTrue(worstRelative < 2e-6, "Φ relative error " + worstRelative);
        assertTrue(worstAbsolute < 2e-7, "Φ absolute error " + worstAbsolute);
    }

    @Test
    void geluMatchesItsDefinition() {
        INDArray pre = Nd4j.randn(F, 37, 41).muli(3);
        INDArray derivative = Nd4j.create(F, 37, 41);
        INDArray act = Nd4j.create(F, 37, 41);
        FloatKernels.geluForward(pre, act);
        FloatKernels.geluDerivative(pre, derivative);
        for (int i = 0; i < pre.length(); i++) {
            double u = pre.getDouble(i);
            double phi = 0.5 * Erf.erfc(-u / Math.sqrt(2));
            assertEquals(u * phi, act.getDouble(i), 1e-6 * Math.max(1, Math.abs(u)));
            double expected = phi + u * Math.exp(-0.5 * u * u) / Math.sqrt(2 * Math.PI);
            assertEquals(expected, derivative.getDouble(i), 2e-6, "gelu'(" + u + ")");
        }
    }

    /**
     * The GELU read and written in native memory gives the scalar bits, u·Φ(u), for a view that
     * starts inside its buffer, over several pieces and a tail shorter than a vector; and in place.
     */
    @Test
    void geluInPlaceInNativeMemoryGivesTheScalarBits() {
        INDArray whole = Nd4j.randn(F, 40, 4101).muli(3);
        INDArray pre = whole.get(NDArrayIndex.interval(2, 39), NDArrayIndex.all()); // offset 2 · 4101
        assertTrue(pre.offset() > 0 && FloatKernels.applies(pre));
        float[] u = pre.ravel().toFloatVector();
        float[] expected = new float[u.length];
        for (int i = 0; i < u.length; i++) {
            expected[i] = u[i] * ElementMath.normalCdf(u[i]);
        }
        INDArray act = Nd4j.create(F, 37, 4101);
        FloatKernels.geluForward(pre, act);
        assertArrayEquals(expected, act.ravel().toFloatVector());
        assertArrayEquals(u, pre.ravel().toFloatVector(), "the input is only read");
        float[] outside = whole.dup().get(NDArrayIndex.interval(0, 2), NDArrayIndex.all()).ravel().toFloatVector();
        FloatKernels.geluForward(pre, pre);
        assertArrayEquals(expected, pre.ravel().toFloatVector(), "in place");
        assertArrayEquals(outside, whole.get(NDArrayIndex.interval(0, 2), NDArrayIndex.all()).ravel().toFloatVector(),
                "the rows before the view are not written");
    }

    /** The backward pass's gelu' multiplied in as it goes gives the bits of a kept derivative multiplied in. */
    @Test
    void geluBackwardEqualsTheKeptDerivativeBitForBit() {
        INDArray pre = Nd4j.randn(F, 37, 4100).muli(3); // several chunks
        INDArray derivative = Nd4j.create(F, 37, 4100);
        FloatKernels.geluDerivative(pre, derivative);
        INDArray dAct = Nd4j.randn(F, 37, 4100);
        INDArray expected = dAct.mul(derivative);
        FloatKernels.geluBackward(pre, dAct);
        assertArrayEquals(expected.data().asFloat(), dAct.data().asFloat());
    }

    @Test
    void maskedSoftmaxMatchesNd4jAndBlocksExactly() {
        INDArray scores = Nd4j.randn(F, 6, 5, 7).muli(4);
        INDArray bias = Nd4j.zeros(F, 6, 5, 7);
        bias.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.interval(5, 7)).assign(-1e9);
        INDArray probs = Nd4j.create(F, 6, 5, 7);
        FloatKernels.maskedSoftmax(scores, bias, probs, 7);
        INDArray expected = Nd4j.create(F, 6, 5, 7);
        Nd4j.exec(new SoftMax(scores.add(bias), expected, 2));
        assertTrue(probs.equalsWithEps(expected, 1e-6), "softmax differs from ND4J's");
        for (int r = 0; r < 30; r++) {
            assertEquals(0f, probs.getFloat(r / 5, r % 5, 6), "blocked keys get exactly 0");
        }
    }

    @Test
    void rowLoopsMatchNd4j() {
        INDArray y = Nd4j.randn(F, 300, 257);
        INDArray b = Nd4j.randn(F, 257);
        INDArray expected = y.addRowVector(b);
        FloatKernels.addRowVector(y, b);
        assertTrue(y.equalsWithEps(expected, 1e-6));
        INDArray z = Nd4j.create(F, 300, 257);
        FloatKernels.add(y, expected, z);
        assertTrue(z.equalsWithEps(y.add(expected), 1e-6));
    }

    /** The bias rides in the forward GEMM and its gradient is one GEMM with a row of ones. */
    @Test
    void linearAddsItsBiasInTheGemmAndSumsItsGradientInOne() {
        INDArray x = Nd4j.randn(F, 300, 64);
        INDArray w = Nd4j.randn(F, 64, 257);
        INDArray fused = Nd4j.randn(F, 2 * 257);
        INDArray b = fused.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(257, 2 * 257)); // a view, as in fused blocks
        INDArray y = Nd4j.create(F, 300, 257);
        Linear.forward(x, w, b, y);
        assertTrue(y.equalsWithEps(x.mmul(w).addRowVector(b), 1e-4), "x·W + b");
        INDArray dy = Nd4j.randn(F, 300, 257);
        INDArray dw = Nd4j.zeros(F, 64, 257);
        INDArray db = Nd4j.randn(F, 1, 257);
        INDArray expectedDb = db.add(dy.sum(0).reshape(1, 257));
        INDArray dx = Nd4j.create(F, 300, 64);
        Linear.backward(x, w, dy, dw, db, dx, 0.0, Ops.ones(F, 300));
        assertTrue(db.equalsWithEps(expectedDb, 1e-3), "bias gradient");
        assertTrue(dw.equalsWithEps(x.transpose().mmul(dy), 1e-3), "weight gradient");
        assertTrue(dx.equalsWithEps(dy.mmul(w.transpose()), 1e-3), "input gradient");
    }

    /**
     * The residual sum made inside the norm's pass gives the bits of the sum written first and then
     * normalised, and so do x̂ and the row statistics backward reads; inference's pass, which keeps
     * neither, gives the same output.
     */
    @Test
    void layerNormOfASumInOnePassGivesTheTwoPassBits() {
        int rows = 700, d = 96; // several pieces of the host loops
        INDArray x = Nd4j.randn(F, rows, d);
        INDArray fx = Nd4j.randn(F, rows, d).muli(3);
        INDArray g = Nd4j.randn(F, d);
        INDArray b = Nd4j.randn(F, d);
        LayerNorm twoPass = new LayerNorm(new Weights(g, b, Nd4j.zeros(F, d), Nd4j.zeros(F, d)), 1e-5);
        LayerNorm onePass = new LayerNorm(new Weights(g, b, Nd4j.zeros(F, d), Nd4j.zeros(F, d)), 1e-5);
        LayerNorm inference = new LayerNorm(new Weights(g, b, null, null), 1e-5);
        for (LayerNorm n : new LayerNorm[] {twoPass, onePass, inference}) {
            n.allocate(F, rows, d);
        }
        INDArray sum = Nd4j.create(F, rows, d);
        FloatKernels.add(x, fx, sum);
        float[] expected = twoPass.forward(sum).ravel().toFloatVector();
        assertArrayEquals(expected, onePass.forwardSum(x, fx, Nd4j.create(F, rows, d), true).ravel().toFloatVector());
        assertArrayEquals(expected, inference.forwardSum(x, fx, Nd4j.create(F, rows, d), false).ravel().toFloatVector());
        assertArrayEquals(expected, inference.forward(sum, false).ravel().toFloatVector());
        INDArray dy = Nd4j.randn(F, rows, d);
        INDArray dxTwo = Nd4j.create(F, rows, d);
        INDArray dxOne = Nd4j.create(F, rows, d);
        twoPass.backward(dy, dxTwo, null, Ops.ones(F, rows));
        onePass.backward(dy, dxOne, null, Ops.ones(F, rows));
        assertArrayEquals(dxTwo.ravel().toFloatVector(), dxOne.ravel().toFloatVector(), "dx from the kept x̂ and statistics");
    }

    @Test
    void headPermutesMatchNd4jAndInvertEachOther() {
        int b = 3, t = 5, parts = 3, h = 2, dk = 4;
        INDArray packed = Nd4j.randn(F, b * t, parts * h * dk);
        INDArray split = Nd4j.create(F, parts, b, h, t, dk);
        FloatKernels.permuteHeads(packed, split, b, t, parts, h, dk, false);
        INDArray expected = packed.reshape(b, t, parts, h, dk).permute(2, 0, 3, 1, 4).dup('c');
        assertArrayEquals(expected.ravel().toFloatVector(), split.ravel().toFloatVector());
        INDArray back = Nd4j.create(F, b * t, parts * h * dk);
        FloatKernels.permuteHeads(split, back, b, t, parts, h, dk, true);
        assertArrayEquals(packed.ravel().toFloatVector(), back.ravel().toFloatVector());
    }

    @Test
    void fusedAdamwMatchesNd4jsUpdater() {
        ParameterLayout layout = ParameterLayout.of(TransformerConfig.decoder(7, 8, 2, 1, 4));
        AdamW.Settings s = new AdamW.Settings(0.9, 0.99, 1e-8, 0.1);
        ParameterBuffer w1 = new ParameterBuffer(layout, F);
        Nd4j.getRandom().setSeed(1);
        w1.flat().assign(Nd4j.randn(F, layout.size()));
        ParameterBuffer w2 = new ParameterBuffer(layout, w1.flat().dup());
        AdamW host = new AdamW(layout, F, s);
        AdamW nd4j = new AdamW(layout, F, s);
        for (int step = 1; step <= 3; step++) {
            ParameterBuffer g = new ParameterBuffer(layout, Nd4j.randn(F, layout.size()).muli(0.1));
            host.apply(w1, g, 1e-2);
            HostKernels.setEnabled(false);
            try {
                nd4j.apply(w2, g, 1e-2);
            } finally {
                HostKernels.setEnabled(true);
            }
        }
        assertTrue(w1.flat().equalsWithEps(w2.flat(), 1e-6), "weights after 3 steps");
        assertTrue(host.secondMoment().flat().equalsWithEps(nd4j.secondMoment().flat(), 1e-7), "second moments");
    }

    @Test
    void directGemmMatchesMmulForEveryLayoutTheLayersUse() {
        Nd4j.getRandom().setSeed(2);
        for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
            INDArray wide = Nd4j.randn(type, 9, 12);
            INDArray columns = wide.get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                    org.nd4j.linalg.indexing.NDArrayIndex.interval(4, 10)); // a column range: row stride 12
            INDArray x = Nd4j.randn(type, 5, 9);
            for (boolean transA : new boolean[] {false, true}) {
                INDArray a = transA ? x.transpose().dup('c') : x;
                INDArray c = Nd4j.randn(type, 5, 6);
                INDArray expected = x.mmul(columns).muli(0.5).addi(c.mul(2));
                assertTrue(Gemm.run(a, columns, c, transA, false, 0.5, 2.0));
                assertTrue(c.equalsWithEps(expected, 1e-4), type + " transA=" + transA);
            }
            INDArray out = Nd4j.create(type, 5, 9);
            assertTrue(Gemm.run(Nd4j.randn(type, 5, 6), columns, out, false, true, 1, 0), "into a row");
            INDArray q = Nd4j.randn(type, 4, 3, 2);
            INDArray k = Nd4j.randn(type, 4, 5, 2);
            INDArray scores = Nd4j.create(type, 4, 3, 5);
            assertTrue(Gemm.run(q, k, scores, false, true, 1, 0));
            for (int i = 0; i < 4; i++) {
                assertTrue(scores.slice(i).equalsWithEps(q.slice(i).mmul(k.slice(i).transpose()), 1e-4), "batch " + i);
            }
        }
        assertTrue(!Gemm.run(Nd4j.randn(F, 3, 4).transpose(), Nd4j.randn(F, 3, 2), Nd4j.create(F, 4, 2), false, false, 1, 0),
                "a transposed view is left to Mmul");
    }
}
