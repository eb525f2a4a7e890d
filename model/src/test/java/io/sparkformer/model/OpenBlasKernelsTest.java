package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class OpenBlasKernelsTest {
    private static final Set<String> ZEN3 = Set.of("avx2", "fma", "avx", "sse4_2");
    private static final Set<String> ZEN4 = Set.of("avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl",
            "avx512cd", "avx512_bf16");
    private static final Set<String> SKYLAKE_X = Set.of("avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl",
            "avx512cd");

    @Test
    void kernelsComeFromTheCpusFlags() {
        assertEquals(Optional.of("Cooperlake"), OpenBlasKernels.forCpu(ZEN4, false), "AMD Zen 4: AVX-512 with bf16");
        assertEquals(Optional.of("Cooperlake"), OpenBlasKernels.forCpu(ZEN4, true), "Sapphire or Emerald Rapids");
        assertEquals(Optional.of("SkylakeX"), OpenBlasKernels.forCpu(SKYLAKE_X, true));
        assertEquals(Optional.of("Haswell"), OpenBlasKernels.forCpu(ZEN3, true), "an Intel CPU with AVX2 only");
        assertEquals(Optional.empty(), OpenBlasKernels.forCpu(ZEN3, false), "AMD without AVX-512: OpenBLAS's own pick");
        assertEquals(Optional.empty(), OpenBlasKernels.forCpu(Set.of("sse4_2"), true));
    }

    /** A fresh JVM with the launchers' flags loads OpenBLAS with the kernels named for this CPU. */
    @Test
    void openBlasLoadsTheNamedKernels() throws Exception {
        Optional<String> expected = OpenBlasKernels.forCpu(Nd4jRuntime.cpuFlags(), Nd4jRuntime.isIntel());
        String out = child(true);
        String loaded = out.lines().filter(l -> l.startsWith("KERNELS ")).findFirst().orElseThrow(() -> new AssertionError(out))
                .substring(8);
        if (System.getenv(OpenBlasKernels.ENV) != null) {
            assertEquals(System.getenv(OpenBlasKernels.ENV).toLowerCase(), loaded.toLowerCase(), "the environment's value wins");
        } else if (expected.isPresent()) {
            assertEquals(expected.get(), loaded, out);
        } else {
            assertTrue(!loaded.isEmpty(), "OpenBLAS's own pick: " + out);
        }
    }

    /** Without the foreign linker the JVM says what it could not do, and still runs. */
    @Test
    void withoutTheForeignLinkerAWarningSaysHowToFixIt() throws Exception {
        Assumptions.assumeTrue(System.getenv(OpenBlasKernels.ENV) == null,
                OpenBlasKernels.ENV + " is set in the environment: the JVM names no kernels, so no warning is due");
        Assumptions.assumeFalse(OpenBlasKernels.forCpu(Nd4jRuntime.cpuFlags(), Nd4jRuntime.isIntel()).isEmpty(),
                "OpenBLAS's own pick stands on this CPU: no kernels to name, so no warning is due");
        String out = child(false);
        assertTrue(out.contains("--add-modules=jdk.incubator.foreign"), out);
        assertTrue(out.contains("KERNELS "), out);
    }

    private static String child(boolean foreign) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-D" + Nd4jRuntime.BLAS_PROPERTY + "=openblas"));
        if (foreign) {
            cmd.addAll(List.of("--add-modules=jdk.incubator.foreign", "--enable-native-access=ALL-UNNAMED"));
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Loaded.class.getName()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        // an environment of its own: a child given none inherits this JVM's native one, where
        // Nd4jRuntime may have named the kernels already (System.getenv does not show that)
        pb.environment().remove(OpenBlasKernels.ENV);
        if (System.getenv(OpenBlasKernels.ENV) != null) {
            pb.environment().put(OpenBlasKernels.ENV, System.getenv(OpenBlasKernels.ENV));
        }
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the child JVM did not finish");
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    /** The child: loads OpenBLAS as the model does and prints what it runs ("?" without the linker). */
    public static final class Loaded {
        public static void main(String[] args) {
            Nd4jRuntime.init();
            Loader.load(openblas_nolapack.class);
            System.out.println("KERNELS " + OpenBlasKernels.loaded().orElse("?"));
        }
    }
}
