package io.sparkformer.driver.cluster;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.bytedeco.javacpp.Pointer;

import io.sparkformer.model.ConfigException;
import io.sparkformer.model.NativeThreads;
import io.sparkformer.model.Nd4jRuntime;

/**
 * The native settings executors need, and a report of what they got. ND4J's thread pools read
 * their environment when the library loads, so the variables must reach the executor process
 * itself: they are set as {@code spark.executorEnv.*} unless the user set them. How many threads
 * a task computes with is decided by {@link NativeThreads} from {@link #threadsPerTask}, the
 * same rule in local mode and on every cluster manager.
 */
public final class ExecutorSettings {
    private ExecutorSettings() {}

    /**
     * The cores each training task computes with: spark.task.cpus when set; otherwise one on a
     * cluster (Spark's own default) and, in local mode, the machine's cores shared by the tasks
     * that run at once (local[2] with two workers on two cores: one each).
     */
    public static int threadsPerTask(SparkConf conf, int workers) {
        String master = conf.get("spark.master", "local[*]");
        boolean local = master.startsWith("local");
        int cores = Runtime.getRuntime().availableProcessors();
        Integer taskCpus = conf.contains("spark.task.cpus") ? conf.getInt("spark.task.cpus", 1) : null;
        return NativeThreads.perTask(local, local ? localSlots(master, cores) : 0, workers, cores, taskCpus);
    }

    /**
     * How many times Spark tries a task before failing its job: F of local[N,F], once for the
     * other local masters (Spark ignores spark.task.maxFailures there), else spark.task.maxFailures.
     */
    public static int taskAttempts(SparkConf conf) {
        String master = conf.get("spark.master", "local[*]");
        if (master.startsWith("local[") || master.equals("local")) {
            String[] n = bracketed(master);
            return n.length == 2 ? Integer.parseInt(n[1]) : 1;
        }
        return conf.getInt("spark.task.maxFailures", 4);
    }

    /** Task slots of a local master: local, local[N], local[*], local[N,F] (and local-cluster[N,...]'s N). */
    static int localSlots(String master, int cores) {
        String[] n = bracketed(master);
        if (n.length == 0) {
            return 1;
        }
        return n[0].equals("*") ? cores : Integer.parseInt(n[0]);
    }

    /**
     * The numbers between a local master's brackets, trimmed ("*" may come first); none for
     * "local". Anything else is refused naming --master, before Spark starts.
     */
    private static String[] bracketed(String master) {
        int open = master.indexOf('[');
        if (open < 0) {
            return new String[0];
        }
        int close = master.indexOf(']', open);
        String[] n = close < 0 ? new String[] {"?"} : master.substring(open + 1, close).split(",", -1);
        for (int i = 0; i < n.length; i++) {
            n[i] = n[i].trim();
            if (!n[i].matches("[0-9]{1,9}") && !(i == 0 && n[i].equals("*"))) {
                throw new ConfigException("--master", "'" + master + "' is not a local master Spark runs: local, local[N], "
                        + "local[*] or local[N,F], with N and F whole numbers");
            }
        }
        return n;
    }

    /**
     * Sets each default the user has not set; returns the keys it set. Executors also get G1's
     * periodic collection ({@link #PERIODIC_GC}), the Vector API module, which the model's host
     * loops use when it is there (same bits without),
     * the foreign linker, with which each executor names OpenBLAS's kernels for its own CPU
     * (OpenBlasKernels), and the BLAS the driver chose (call {@link Nd4jRuntime#init()} first).
     */
    public static List<String> applyDefaults(SparkConf conf, int threads) {
        List<String> set = new ArrayList<>();
        for (Map.Entry<String, String> e : NativeThreads.environment(threads).entrySet()) {
            String key = "spark.executorEnv." + e.getKey();
            if (!conf.contains(key)) {
                conf.set(key, e.getValue());
                set.add(key + "=" + e.getValue());
            }
        }
        String options = conf.get(DEFAULT_JAVA_OPTIONS, "");
        String all = options + " " + conf.get("spark.executor.extraJavaOptions", "");
        for (String module : MODULES) {
            if (!all.contains(module)) {
                options = (options + " --add-modules=" + module).trim();
            }
        }
        if (!all.contains(NATIVE_ACCESS)) {
            options = (options + " " + NATIVE_ACCESS).trim();
        }
        if (!all.contains(PERIODIC_GC)) {
            options = (options + " " + PERIODIC_GC + "=5000").trim();
        }
        // the driver's BLAS for every executor: tasks that may rerun elsewhere must give the same bits
        // (an environment variable: Spark refuses executor options that start with -Dspark)
        String blasKey = "spark.executorEnv." + Nd4jRuntime.BLAS_ENV;
        if (!conf.contains(blasKey) && !all.contains(Nd4jRuntime.BLAS_PROPERTY) && !all.contains(Nd4jRuntime.BLAS_LOAD_PROPERTY)) {
            conf.set(blasKey, Nd4jRuntime.blas());
            set.add(blasKey + "=" + Nd4jRuntime.blas());
        }
        if (!options.equals(conf.get(DEFAULT_JAVA_OPTIONS, ""))) {
            conf.set(DEFAULT_JAVA_OPTIONS, options);
            set.add(DEFAULT_JAVA_OPTIONS + "=" + options);
        }
        return set;
    }

    /**
     * On a cluster, sizes the executor memory the user has not set from the model's parameter
     * count P, instead of Spark's 1g heap and 10% overhead, which a 124M-parameter replica
     * outgrows in its first round; returns the keys it set. Heap: 1 GiB for Spark and the batches,
     * plus five vectors of 4P bytes: Spark's storage memory (0.6 of the heap above 300 MiB) counts
     * the all-reduce's blocks though they live in native memory, and must hold them (at W = 2 a
     * worker's averaged slices of two rounds, a raw slice, and a peer's averaged slices when
     * they are replicated: 10P bytes), or they go to disk. G1 commits only what it uses (under
     * 0.5 GB at 124M).
     * Overhead (off-heap, what YARN and Kubernetes enforce): ND4J's parameters, gradients and two
     * moments (16P bytes), the all-reduce's blocks, which Spark keeps in native memory (at W = 2
     * a worker's averaged slices of two rounds and a raw slice: 6P bytes), plus 1.5 GiB of
     * activations and caches; JavaCPP's limits are raised to match, its physical limit counting
     * the whole process, heap and JVM (2 GiB) included. Measured at 124M parameters on the
     * standalone cluster: 4.1 GB peak RSS per executor.
     * Models under 16M parameters keep Spark's defaults.
     */
    public static List<String> applyMemoryDefaults(SparkConf conf, long parameters) {
        List<String> set = new ArrayList<>();
        if (conf.get("spark.master", "local").startsWith("local")) {
            return set; // the tasks run in the driver: SPARKFORMER_DRIVER_MEMORY sizes them
        }
        if (16 * parameters < 256 * MIB) {
            return set; // under 16M parameters Spark's defaults hold a replica
        }
        long heapMiB = roundUp(1024 + 5 * 4 * parameters / MIB);
        long nativeMiB = roundUp(1536 + (16 + 6) * parameters / MIB);
        if (!conf.contains("spark.executor.memory")) {
            conf.set("spark.executor.memory", heapMiB + "m");
            set.add("spark.executor.memory=" + heapMiB + "m");
        }
        if (!conf.contains("spark.executor.memoryOverhead")) {
            conf.set("spark.executor.memoryOverhead", nativeMiB + "m");
            set.add("spark.executor.memoryOverhead=" + nativeMiB + "m");
        }
        String all = conf.get(DEFAULT_JAVA_OPTIONS, "") + " " + conf.get("spark.executor.extraJavaOptions", "");
        if (!all.contains("org.bytedeco.javacpp.maxbytes")) {
            long heap = conf.getSizeAsMb("spark.executor.memory", "1g");
            // maxphysicalbytes bounds the whole process: heap, ND4J's buffers, and the JVM's own
            String options = (conf.get(DEFAULT_JAVA_OPTIONS, "") + " -Dorg.bytedeco.javacpp.maxbytes=" + nativeMiB + "m"
                    + " -Dorg.bytedeco.javacpp.maxphysicalbytes=" + (heap + nativeMiB + 2048) + "m").trim();
            conf.set(DEFAULT_JAVA_OPTIONS, options);
            set.add(DEFAULT_JAVA_OPTIONS + "=" + options);
        }
        return set;
    }

    private static final long MIB = 1 << 20;

    private static long roundUp(long mib) {
        return (mib + 255) / 256 * 256;
    }

    private static final String DEFAULT_JAVA_OPTIONS = "spark.executor.defaultJavaOptions";
    /** The Vector API (host loops) and the foreign linker (OpenBlasKernels' setenv). */
    private static final List<String> MODULES = List.of("jdk.incubator.vector", "jdk.incubator.foreign");
    private static final String NATIVE_ACCESS = "--enable-native-access=ALL-UNNAMED";
    /**
     * A collection after 5 s without one, which gives back the heap regions G1 grew to and no
     * longer uses: a training executor's heap holds little that lives (its blocks are native),
     * and a region once touched otherwise stays resident (as in the launchers).
     */
    private static final String PERIODIC_GC = "-XX:G1PeriodicGCInterval";

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
                         String nd4jBuild, String blas, int blasThreads, String threads, String javacppCache)
            implements Serializable {
        @Override
        public String toString() {
            return String.format("%s pid %d: heap max %s, javacpp maxbytes %s, maxphysicalbytes %s, ND4J linux-x86_64%s,"
                            + " BLAS %s with %d threads per task, %s, JavaCPP cache %s",
                    host, pid, mib(heapMaxBytes), mib(javacppMaxBytes), mib(javacppMaxPhysicalBytes), nd4jBuild, blas,
                    blasThreads, threads, javacppCache);
        }

        private static String mib(long bytes) {
            return bytes <= 0 ? "unlimited" : (bytes >> 20) + " MiB";
        }
    }

    /** The report of the JVM this runs in, after giving its tasks {@code taskThreads} threads. */
    public static Report here(int taskThreads) {
        String build = Nd4jRuntime.init();
        NativeThreads.apply(taskThreads);
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
                Pointer.maxPhysicalBytes(), build, Nd4jRuntime.blasDescription(), NativeThreads.blasThreads(), threads.toString(), cache);
    }

    /** One report per worker slot, gathered by a small job (it also warms ND4J's natives up). */
    public static List<Report> gather(JavaSparkContext sc, int workers, int taskThreads) {
        List<Integer> slots = new ArrayList<>();
        for (int i = 0; i < workers; i++) {
            slots.add(i);
        }
        return sc.parallelize(slots, workers).map(w -> here(taskThreads)).collect();
    }

}
