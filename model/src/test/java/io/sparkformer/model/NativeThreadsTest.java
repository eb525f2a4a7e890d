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
        assertEquals(hash("openblas", 1, 1), hash("openblas", 2, 1), "OpenBLAS, 1 task thread, OMP_NUM_THREADS 1 vs 2");
        assertEquals(hash("openblas", 2, 2), hash("openblas", 1, 2), "OpenBLAS, 2 task threads, OMP_NUM_THREADS 2 vs 1");
    }

    @Test
    void oneDnnsThreadsFollowTheTaskNotTheEnvironment() throws Exception {
        assertEquals(hash("onednn", 1, 1), hash("onednn", 2, 1), "oneDNN, 1 task thread, OMP_NUM_THREADS 1 vs 2");
        assertEquals(hash("onednn", 2, 2), hash("onednn", 1, 2), "oneDNN, 2 task threads, OMP_NUM_THREADS 2 vs 1");
    }

    @Test
    void mklUnderStrictReproducibilityGivesTheSameBitsWithAnyThreadCount() throws Exception {
        assertEquals(hash("mkl", 1, 1), hash("mkl", 2, 2), "MKL with 1 and with 2 threads");
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

    /** Runs StepHash in a new JVM with the given BLAS, OMP_NUM_THREADS and task threads. */
    private static String hash(String blas, int ompThreads, int taskThreads) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules=jdk.incubator.vector,jdk.incubator.foreign", "--enable-native-access=ALL-UNNAMED", "-Xmx1g",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"));
        if (blas.equals("mkl")) {
            cmd.add("-D" + Nd4jRuntime.BLAS_LOAD_PROPERTY + "=mkl_rt");
        } else {
            cmd.add("-D" + Nd4jRuntime.BLAS_PROPERTY + "=" + blas);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), StepHash.class.getName(), Integer.toString(taskThreads)));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        Map<String, String> env = pb.environment();
        env.putAll(NativeThreads.environment(ompThreads));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "StepHash did not finish");
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("BLAS " + blas + " threads " + taskThreads), out);
        return out.lines().filter(l -> l.startsWith("HASH ")).findFirst().orElseThrow(() -> new AssertionError(out));
    }
}
