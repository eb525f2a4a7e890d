package io.sparkformer.model.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class AveragingTest {
    /**
     * The mean's bits equal the exchange's reference arithmetic (a double sum from zero in worker
     * order, divided by W, cast to float) for every element, the awkward ones included: signed
     * zeros, NaN, sums past float's range, subnormals, across the vector loop's blocks of 4096
     * floats, and a tail shorter than a vector.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 7})
    void theMeanHasTheReferenceBits(int workers) {
        assertTrue(Averaging.vectorized(), "the tests run with --add-modules=jdk.incubator.vector");
        int n = 2 * 4096 + 1000 + 13;
        Random random = new Random(workers);
        float[][] v = new float[workers][n];
        for (float[] x : v) {
            for (int i = 0; i < n; i++) {
                x[i] = (float) random.nextGaussian() * (i % 5 == 0 ? 1e30f : i % 7 == 0 ? 1e-40f : 1f);
            }
            x[0] = -0.0f;
            x[1] = Float.MAX_VALUE;
            x[2] = Float.MIN_VALUE;
        }
        v[0][3] = Float.NaN;
        ByteBuffer[] in = new ByteBuffer[workers];
        for (int w = 0; w < workers; w++) { // direct and heap, both orders: read as little-endian all the same
            in[w] = (w % 2 == 0 ? ByteBuffer.allocateDirect(4 * n + 8) : ByteBuffer.allocate(4 * n + 8)).order(ByteOrder.LITTLE_ENDIAN);
            in[w].position(8);
            for (int i = 0; i < n; i++) {
                in[w].putFloat(8 + 4 * i, v[w][i]);
            }
            in[w].order(w % 3 == 0 ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
        }
        if (workers > 1) { // a peer's chunk read in its holder's shared memory is a read-only buffer
            in[0] = in[0].asReadOnlyBuffer();
        }
        ByteBuffer out = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.BIG_ENDIAN);
        Averaging.mean(in, out, n);
        out.order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            double sum = 0.0;
            for (float[] x : v) {
                sum += x[i];
            }
            float expected = (float) (sum / workers);
            assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(out.getFloat(4 * i)),
                    "element " + i + ": " + expected + " expected, " + out.getFloat(4 * i));
        }
        assertEquals(8, in[0].position(), "an input was moved");
        // again, the mean written over the last worker's own input as well (its slice replaced in
        // place): the same bits in both outputs
        ByteBuffer again = ByteBuffer.allocateDirect(4 * n);
        Averaging.mean(in, again, in[workers - 1], n);
        ByteBuffer own = in[workers - 1].duplicate().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            assertEquals(out.getFloat(4 * i), again.order(ByteOrder.LITTLE_ENDIAN).getFloat(4 * i), "element " + i);
            assertEquals(Float.floatToRawIntBits(out.getFloat(4 * i)), Float.floatToRawIntBits(own.getFloat(8 + 4 * i)),
                    "element " + i + " of the input replaced by the mean");
        }
    }

    /**
     * The vector loop uses the preferred float species, the model's element loops' own: a second
     * float species in one JVM made C2 fall back to heap objects in both (gelu 2-2.5x slower).
     */
    @Test
    void theVectorLoopSharesThePreferredFloatSpecies() {
        assertEquals(jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length(), AveragingLanes.lanes());
    }

    /**
     * The tests' JVM has every tier (the pom sets no TieredStopAtLevel), so the warm-up runs here;
     * the CLI tests' quick JVMs stop at C1 and skip it.
     */
    @Test
    void theWarmUpRunsWhereC2Compiles() {
        assertTrue(Averaging.c2Compiles(), "this JVM compiles with C2");
    }

    @Test
    void tooShortABufferIsRefusedNamingIt() {
        int n = 9;
        ByteBuffer[] in = {ByteBuffer.allocate(4 * n), ByteBuffer.allocate(4 * n - 4)};
        var e = assertThrows(IllegalArgumentException.class, () -> Averaging.mean(in, ByteBuffer.allocate(4 * n), n));
        assertTrue(e.getMessage().startsWith("input 1 holds 32 bytes"), e.getMessage());
    }
}
