package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BlasChoiceTest {
    @Test
    void theFasterLibraryWinsAndNearTiesKeepTheVendorsDefault() {
        assertEquals("openblas", new BlasChoice.Rates(120, 60, 0).faster(true), "an Intel CPU where OpenBLAS is faster");
        assertEquals("mkl", new BlasChoice.Rates(60, 120, 0).faster(false), "an AMD CPU where MKL is faster");
        assertEquals("mkl", new BlasChoice.Rates(110, 100, 0).faster(true), "within the machine's noise");
        assertEquals("openblas", new BlasChoice.Rates(100, 110, 0).faster(false));
        assertEquals("onednn", new BlasChoice.Rates(90, 60, 180).faster(false), "an AMD EPYC, OpenBLAS on Haswell kernels");
        assertEquals("onednn", new BlasChoice.Rates(90, 120, 180).faster(true), "ahead of MKL by more than the margin");
        assertEquals("mkl", new BlasChoice.Rates(90, 120, 130).faster(true), "within the noise of the vendor's MKL");
        assertEquals("mkl", new BlasChoice.Rates(90, 160, 130).faster(false), "MKL fastest on a non-Intel CPU");
        assertEquals("openblas", new BlasChoice.Rates(100, 0, 0).faster(true), "an Intel CPU without MKL on the class path");
    }

    @Test
    void timingsAreRememberedAndAnUnreadableFileIsMeasuredAgain(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("sub").resolve("blas-x.properties");
        BlasChoice.write(file, new BlasChoice.Rates(81.5, 140.25, 170.5));
        assertEquals(new BlasChoice.Rates(81.5, 140.25, 170.5), BlasChoice.read(file));
        try (var files = Files.list(file.getParent())) {
            assertEquals(1, files.count(), "no temp file left behind");
        }
        Files.writeString(file, "openblas_gflops=fast\n");
        assertNull(BlasChoice.read(file));
        Files.writeString(file, "openblas_gflops=80\nmkl_gflops=40\n");
        assertNull(BlasChoice.read(file), "a file from before oneDNN was timed");
        assertNull(BlasChoice.read(dir.resolve("absent.properties")));
    }

    @Test
    void theKeyNamesThisCpuAndLibraries() {
        String key = BlasChoice.key();
        assertEquals(16, key.length());
        assertEquals(key, BlasChoice.key(), "the same machine, the same key");
        assertNotEquals("unknown", Nd4jRuntime.cpuModel());
    }

    /**
     * All three libraries run in child JVMs on one thread and report a rate one core can reach: at most
     * the core's AVX-512 peak at twice its nominal clock (64 float FLOP a cycle: two 16-wide FMAs),
     * at least a sixteenth of that peak at the nominal clock (scalar or SSE kernels, or a rate
     * in the wrong unit, fall below it). One JVM each, ~1-2 s.
     */
    @Test
    void eachLibraryIsTimedInAChildJvm() throws Exception {
        double mhz = nominalMhz();
        Assumptions.assumeTrue(mhz > 0, "/proc/cpuinfo gives no clock: no bound to hold the rates to");
        double floor = mhz * 64 / 16 / 1000;
        double ceiling = mhz * 2 * 64 / 1000;
        double openblas = BlasChoice.measure(null);
        assertTrue(openblas > floor && openblas < ceiling, "OpenBLAS GFLOP/s " + openblas + ", bounds " + floor + " to " + ceiling);
        double mkl = BlasChoice.measure("mkl_rt");
        assertTrue(mkl > floor && mkl < ceiling, "MKL GFLOP/s " + mkl + ", bounds " + floor + " to " + ceiling);
        double onednn = BlasChoice.measure(BlasChoice.ONEDNN);
        assertTrue(onednn > floor && onednn < ceiling, "oneDNN GFLOP/s " + onednn + ", bounds " + floor + " to " + ceiling);
    }

    private static double nominalMhz() throws java.io.IOException {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        if (!Files.isReadable(cpuinfo)) {
            return 0;
        }
        return Files.readAllLines(cpuinfo).stream().filter(l -> l.startsWith("cpu MHz")).findFirst()
                .map(l -> Double.parseDouble(l.substring(l.indexOf(':') + 1).trim())).orElse(0.0);
    }
}
