package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * A task's numbers depend on its BLAS thread count alone, and that count is set at run time:
 * so tasks sharing one JVM in local mode compute what executors started with that count do.
 * Each case runs {@link StepHash} in fresh JVMs, on each BLAS path whatever the CPU (MKL is
 * forced the way Nd4jRuntime loads it on Intel).
 */
class NativeThreadsTest {
    @Test
    void libnd4jsOwnThreadCountChangesNoBit() throws Exception {
        assertEquals(hashes("openblas", 1), hashes("openblas", 2), "OpenBLAS, 1 and 2 task threads, OMP_NUM_THREADS 1 vs 2");
    }

    @Test
    void oneDnnsThreadsFollowTheTaskNotTheEnvironment() throws Exception {
        assertEquals(hashes("onednn", 1), hashes("onednn", 2), "oneDNN, 1 and 2 task threads, OMP_NUM_THREADS 1 vs 2");
    }

    @Test
    void mklUnderStrictReproducibilityGivesTheSameBitsWithAnyThreadCount() throws Exception {
        List<String> h = hashes("mkl", 2);
        assertEquals(h.get(0).split(" ")[2], h.get(1).split(" ")[2], "MKL with 1 and with 2 threads: " + h);
    }

    @Test
    void perTaskSharesLocalCoresAndTakesTaskCpusElsewhere() {
        assertEquals(1, NativeThreads.perTask(true, 2, 2, 2, null), "local[2], two workers, two cores");
        assertEquals(2, NativeThreads.perTask(true, 2, 1, 2, null), "one worker gets both cores");
        assertEquals(1, NativeThreads.perTask(true, 2, 4, 2, null), "never below one");
        assertEquals(4, NativeThreads.perTask(true, 2, 2, 8, null), "local[2] on eight cores");
        assertEquals(1, NativeThreads.perTask(false, 0, 8, 64, null), "a cluster task: Spark's one core");
        assertEquals(3, NativeThreads.perTask(false, 0, 8, 64, 3), "spark.task.cpus wins");
        assertEquals(3, NativeThreads.perTask(true, 2, 2, 2, 3), "also in local mode");
    }

    /** Runs StepHash in a new JVM with the given BLAS and OMP_NUM_THREADS, for 1 and then 2 task threads. */
    private static List<String> hashes(String blas, int ompThreads) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules=jdk.incubator.vector,jdk.incubator.foreign", "--enable-native-access=ALL-UNNAMED", "-Xmx1g",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"));
        if (blas.equals("mkl")) {
            cmd.add("-D" + Nd4jRuntime.BLAS_LOAD_PROPERTY + "=mkl_rt");
        } else {
            cmd.add("-D" + Nd4jRuntime.BLAS_PROPERTY + "=" + blas);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), StepHash.class.getName(), "1", "2"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        Map<String, String> env = pb.environment();
        env.putAll(NativeThreads.environment(ompThreads));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "StepHash did not finish");
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("BLAS " + blas + " threads 1") && out.contains("BLAS " + blas + " threads 2"), out);
        List<String> hashes = out.lines().filter(l -> l.startsWith("HASH ")).toList();
        assertEquals(2, hashes.size(), out);
        return hashes;
    }
}
