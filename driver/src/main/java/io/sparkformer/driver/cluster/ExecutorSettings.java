package io.sparkformer.driver.cluster;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.bytedeco.javacpp.Pointer;

import io.sparkformer.model.Nd4jRuntime;

/**
 * The native settings executors need, and a report of what they got. ND4J's thread pools read
 * their environment when the library loads, so the variables must reach the executor process
 * itself: they are set as {@code spark.executorEnv.*} unless the user set them (see
 * scripts/lib/native-env.sh for the measurements behind each value).
 */
public final class ExecutorSettings {
    private ExecutorSettings() {}

    /** Environment defaults for executors; a task's BLAS gets the cores Spark gives the task. */
    public static Map<String, String> environmentDefaults(SparkConf conf) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("OMP_WAIT_POLICY", "PASSIVE");
        env.put("OMP_NUM_THREADS", "1");
        env.put("MKL_NUM_THREADS", conf.get("spark.task.cpus", "1"));
        env.put("MKL_DYNAMIC", "FALSE");
        env.put("MKL_CBWR", "AUTO,STRICT");
        return env;
    }

    /** Sets each default the user has not set; returns the keys it set. */
    public static List<String> applyDefaults(SparkConf conf) {
        List<String> set = new ArrayList<>();
        for (Map.Entry<String, String> e : environmentDefaults(conf).entrySet()) {
            String key = "spark.executorEnv." + e.getKey();
            if (!conf.contains(key)) {
                conf.set(key, e.getValue());
                set.add(key + "=" + e.getValue());
            }
        }
        return set;
    }

    /** The driver-side memory settings that decide whether ND4J's off-heap memory fits. */
    public static String describeConf(SparkConf conf) {
        return String.format("spark.master=%s, spark.executor.memory=%s, spark.executor.memoryOverhead=%s,"
                        + " spark.executor.cores=%s, spark.executor.extraJavaOptions=%s",
                conf.get("spark.master", "?"), conf.get("spark.executor.memory", "default (1g)"),
                conf.get("spark.executor.memoryOverhead", "default (max(384m, 10%))"),
                conf.get("spark.executor.cores", "default"), conf.get("spark.executor.extraJavaOptions", "none"));
    }

    /** What one executor JVM runs with; built inside the task. */
    public record Report(String host, long pid, long heapMaxBytes, long javacppMaxBytes, long javacppMaxPhysicalBytes,
                         String nd4jBuild, String blas, String threads, String javacppCache) implements Serializable {
        @Override
        public String toString() {
            return String.format("%s pid %d: heap max %s, javacpp maxbytes %s, maxphysicalbytes %s, ND4J linux-x86_64%s,"
                            + " BLAS %s, %s, JavaCPP cache %s",
                    host, pid, mib(heapMaxBytes), mib(javacppMaxBytes), mib(javacppMaxPhysicalBytes), nd4jBuild, blas,
                    threads, javacppCache);
        }

        private static String mib(long bytes) {
            return bytes <= 0 ? "unlimited" : (bytes >> 20) + " MiB";
        }
    }

    /** The report of the JVM this runs in. */
    public static Report here() {
        String build = Nd4jRuntime.init();
        StringBuilder threads = new StringBuilder();
        for (String v : List.of("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "MKL_DYNAMIC", "MKL_CBWR")) {
            threads.append(threads.length() == 0 ? "" : " ").append(v).append('=').append(System.getenv().getOrDefault(v, "unset"));
        }
        String cache = System.getProperty("org.bytedeco.javacpp.cachedir", System.getProperty("user.home") + "/.javacpp/cache");
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            host = "?";
        }
        return new Report(host, ProcessHandle.current().pid(), Runtime.getRuntime().maxMemory(), Pointer.maxBytes(),
                Pointer.maxPhysicalBytes(), build, Nd4jRuntime.blas(), threads.toString(), cache);
    }

    /** One report per worker slot, gathered by a small job (it also warms ND4J's natives up). */
    public static List<Report> gather(JavaSparkContext sc, int workers) {
        List<Integer> slots = new ArrayList<>();
        for (int i = 0; i < workers; i++) {
            slots.add(i);
        }
        return sc.parallelize(slots, workers).map(w -> here()).collect();
    }

}
