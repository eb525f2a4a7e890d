package io.sparkformer.driver.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

import io.sparkformer.model.Nd4jRuntime;

class ExecutorSettingsTest {
    private static final int CORES = Runtime.getRuntime().availableProcessors();

    @Test
    void localTasksShareTheCoresAndClusterTasksTakeTheirCpus() {
        assertEquals(Math.max(1, CORES / 2), ExecutorSettings.threadsPerTask(new SparkConf(false).setMaster("local[2]"), 2));
        assertEquals(CORES, ExecutorSettings.threadsPerTask(new SparkConf(false).setMaster("local[2]"), 1));
        assertEquals(Math.max(1, CORES / Math.min(CORES, 3)),
                ExecutorSettings.threadsPerTask(new SparkConf(false).setMaster("local[*]"), 3));
        assertEquals(1, ExecutorSettings.threadsPerTask(new SparkConf(false).setMaster("spark://127.0.0.1:7077"), 4));
        assertEquals(4, ExecutorSettings.threadsPerTask(new SparkConf(false).setMaster("yarn").set("spark.task.cpus", "4"), 2));
        assertEquals(3, ExecutorSettings.localSlots("local[3, 2]", 8));
        assertEquals(1, ExecutorSettings.localSlots("local", 8));
    }

    /**
     * How many times Spark tries a task, as the exchange counts on it (a round drops the round
     * before's averaged slices early only when no rerun can read them): read from the master or
     * spark.task.maxFailures, and checked against Spark itself with a task that fails on its first
     * attempt, and, where a task is tried once, with a barrier stage (a round) that fails in its
     * first attempt: it is not run again.
     */
    @Test
    void taskAttemptsAreSparksOwn() {
        assertEquals(1, ExecutorSettings.taskAttempts(new SparkConf(false).setMaster("local[2]")));
        assertEquals(1, ExecutorSettings.taskAttempts(new SparkConf(false).setMaster("local[*]").set("spark.task.maxFailures", "8")));
        assertEquals(1, ExecutorSettings.taskAttempts(new SparkConf(false).setMaster("local")));
        assertEquals(3, ExecutorSettings.taskAttempts(new SparkConf(false).setMaster("local[2, 3]")));
        assertEquals(4, ExecutorSettings.taskAttempts(new SparkConf(false).setMaster("spark://127.0.0.1:7077")));
        assertEquals(2, ExecutorSettings.taskAttempts(new SparkConf(false).setMaster("yarn").set("spark.task.maxFailures", "2")));
        for (String bad : new String[] {"local[x]", "local[2,x]", "local[2", "local[]", "local[2,,3]"}) {
            var e = org.junit.jupiter.api.Assertions.assertThrows(io.sparkformer.model.ConfigException.class,
                    () -> ExecutorSettings.taskAttempts(new SparkConf(false).setMaster(bad)), bad);
            assertEquals("--master", e.key());
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
        for (String master : new String[] {"local[2]", "local[2,2]"}) {
            SparkConf conf = new SparkConf().setMaster(master).setAppName("attempts").set("spark.ui.enabled", "false")
                    .set("spark.driver.host", "127.0.0.1");
            try (var sc = new org.apache.spark.api.java.JavaSparkContext(conf)) {
                sc.setLogLevel("OFF");
                boolean retried = succeeds(() -> sc.parallelize(java.util.List.of(1), 1).foreach(x -> {
                    if (org.apache.spark.TaskContext.get().attemptNumber() == 0) {
                        throw new IllegalStateException("first attempt fails");
                    }
                }));
                assertEquals(ExecutorSettings.taskAttempts(conf) > 1, retried, master + ": a failed task was tried again");
                if (ExecutorSettings.taskAttempts(conf) == 1) { // what the early drop relies on: a round is a barrier stage
                    var tag = scala.reflect.ClassTag$.MODULE$.<Integer>apply(Integer.class);
                    boolean rerun = succeeds(() -> sc.parallelize(java.util.List.of(1, 2), 2).rdd().barrier()
                            .mapPartitions(new FailsItsFirstStageAttempt(), false, tag).collect());
                    assertFalse(rerun, master + ": a failed barrier stage was run again");
                }
            }
        }
    }

    /** A barrier task body whose partition 1 fails in the stage's first attempt. */
    private static final class FailsItsFirstStageAttempt extends scala.runtime.AbstractFunction1<scala.collection.Iterator<Integer>,
            scala.collection.Iterator<Integer>> implements java.io.Serializable {
        @Override
        public scala.collection.Iterator<Integer> apply(scala.collection.Iterator<Integer> it) {
            var task = org.apache.spark.TaskContext.get();
            if (task.stageAttemptNumber() == 0 && task.partitionId() == 1) {
                throw new IllegalStateException("first attempt fails");
            }
            return it;
        }
    }

    /** Whether {@code job} ends without failing; a failure must be the job's own "first attempt fails". */
    private static boolean succeeds(Runnable job) {
        try {
            job.run();
            return true;
        } catch (Exception e) { // Spark's job failure, undeclared
            assertTrue(String.valueOf(e.getMessage()).contains("first attempt fails"), e.toString());
            return false;
        }
    }

    @Test
    void defaultsReachExecutorsWithoutOverridingTheUser() {
        SparkConf conf = new SparkConf(false).set("spark.executorEnv.OMP_WAIT_POLICY", "ACTIVE");
        var set = ExecutorSettings.applyDefaults(conf, 3);
        assertEquals("ACTIVE", conf.get("spark.executorEnv.OMP_WAIT_POLICY"), "the user's value stays");
        assertEquals("3", conf.get("spark.executorEnv.OMP_NUM_THREADS"));
        assertEquals("AUTO,STRICT", conf.get("spark.executorEnv.MKL_CBWR"));
        assertTrue(conf.get("spark.executor.defaultJavaOptions").contains("--add-modules=jdk.incubator.vector"));
        assertTrue(conf.get("spark.executor.defaultJavaOptions").contains("--add-modules=jdk.incubator.foreign"),
                "executors name OpenBLAS's kernels through the foreign linker");
        assertTrue(conf.get("spark.executor.defaultJavaOptions").contains("--enable-native-access=ALL-UNNAMED"));
        assertTrue(conf.get("spark.executor.defaultJavaOptions").contains("-XX:G1PeriodicGCInterval=5000"),
                "idle heap goes back to the system");
        assertEquals(Nd4jRuntime.blas(), conf.get("spark.executorEnv.SPARKFORMER_BLAS"), "executors run the driver's BLAS");
        assertFalse(conf.get("spark.executor.defaultJavaOptions").contains("-Dspark"), "Spark refuses -Dspark* executor options");
        assertFalse(set.contains("spark.executorEnv.OMP_WAIT_POLICY=PASSIVE"));
        SparkConf own = new SparkConf(false).set("spark.executor.extraJavaOptions",
                        "-Xss4m --add-modules=jdk.incubator.vector,jdk.incubator.foreign --enable-native-access=ALL-UNNAMED"
                                + " -XX:G1PeriodicGCInterval=0")
                .set("spark.executorEnv.SPARKFORMER_BLAS", "openblas");
        ExecutorSettings.applyDefaults(own, 1);
        assertFalse(own.contains("spark.executor.defaultJavaOptions"), "the modules and the user's GC interval are not added twice");
        assertEquals("openblas", own.get("spark.executorEnv.SPARKFORMER_BLAS"), "the user's BLAS stays");
    }

    @Test
    void clusterExecutorsAreSizedFromTheModelUnlessTheUserSetTheirMemory() {
        long gpt2Small = 124_439_808L;
        SparkConf cluster = new SparkConf(false).setMaster("spark://127.0.0.1:7077");
        var set = ExecutorSettings.applyMemoryDefaults(cluster, gpt2Small);
        // five vectors of 4P bytes (2373 MiB) and 1 GiB of heap; 22P bytes (2610 MiB) and 1.5 GiB off-heap
        assertEquals("3584m", cluster.get("spark.executor.memory"), set.toString());
        assertEquals("4352m", cluster.get("spark.executor.memoryOverhead"));
        assertTrue(cluster.get("spark.executor.defaultJavaOptions").contains("-Dorg.bytedeco.javacpp.maxbytes=4352m"));
        assertTrue(cluster.get("spark.executor.defaultJavaOptions").contains("-Dorg.bytedeco.javacpp.maxphysicalbytes=9984m"));

        SparkConf own = new SparkConf(false).setMaster("yarn").set("spark.executor.memory", "9g");
        ExecutorSettings.applyMemoryDefaults(own, gpt2Small);
        assertEquals("9g", own.get("spark.executor.memory"), "the user's memory stays");
        assertTrue(own.get("spark.executor.defaultJavaOptions").contains("maxphysicalbytes=" + (9 * 1024 + 4352 + 2048) + "m"));

        assertTrue(ExecutorSettings.applyMemoryDefaults(new SparkConf(false).setMaster("local[2]"), gpt2Small).isEmpty(),
                "local mode: the driver's memory is the tasks'");
        assertTrue(ExecutorSettings.applyMemoryDefaults(new SparkConf(false).setMaster("spark://h:7077"), 1_000_000).isEmpty(),
                "a small model keeps Spark's defaults");
    }
}
