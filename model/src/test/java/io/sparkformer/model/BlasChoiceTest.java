package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BlasChoiceTest {
    @Test
    void theFasterLibraryWinsAndNearTiesKeepTheVendorsDefault() {
        assertEquals("openblas", new BlasChoice.Rates(120, 60).faster(true), "an Intel CPU where OpenBLAS is faster");
        assertEquals("mkl", new BlasChoice.Rates(60, 120).faster(false), "an AMD CPU where MKL is faster");
        assertEquals("mkl", new BlasChoice.Rates(110, 100).faster(true), "within the machine's noise");
        assertEquals("openblas", new BlasChoice.Rates(100, 110).faster(false));
    }

    @Test
    void timingsAreRememberedAndAnUnreadableFileIsMeasuredAgain(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("sub").resolve("blas-x.properties");
        BlasChoice.write(file, new BlasChoice.Rates(81.5, 140.25));
        assertEquals(new BlasChoice.Rates(81.5, 140.25), BlasChoice.read(file));
        try (var files = Files.list(file.getParent())) {
            assertEquals(1, files.count(), "no temp file left behind");
        }
        Files.writeString(file, "openblas_gflops=fast\n");
        assertNull(BlasChoice.read(file));
        assertNull(BlasChoice.read(dir.resolve("absent.properties")));
    }

    @Test
    void theKeyNamesThisCpuAndLibraries() {
        String key = BlasChoice.key();
        assertEquals(16, key.length());
        assertEquals(key, BlasChoice.key(), "the same machine, the same key");
        assertNotEquals("unknown", Nd4jRuntime.cpuModel());
    }

    /** Both libraries run in child JVMs and report a plausible rate (one JVM each, ~1-2 s). */
    @Test
    void eachLibraryIsTimedInAChildJvm() throws Exception {
        double openblas = BlasChoice.measure(null);
        assertTrue(openblas > 0.5 && openblas < 10_000, "OpenBLAS GFLOP/s " + openblas);
        double mkl = BlasChoice.measure("mkl_rt");
        assertTrue(mkl > 0.5 && mkl < 10_000, "MKL GFLOP/s " + mkl);
    }
}
