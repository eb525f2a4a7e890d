package io.sparkformer.model;

import java.util.LinkedHashMap;
import java.util.Map;

import org.nd4j.linalg.factory.Nd4j;

/**
 * The native thread settings of a training task, decided here and nowhere else.
 *
 * <p>What a step computes depends on one thread count only: the BLAS's. OpenBLAS splits a
 * transposed GEMM differently with 1 and 2 threads, so the last bits of a weight gradient follow
 * the count; everything else a float32 step does runs in the model's own loops (see
 * layers.FloatKernels), which split their work by the data's shape alone and give the same bits
 * on any number of threads (layers.HostThreads), and MKL under conditional numerical
 * reproducibility (MKL_CBWR STRICT) gives the same bits with any count. So a task sets its BLAS
 * and host-loop threads from the cores it was given, at the start of its work: local mode and a
 * cluster then compute the same numbers whenever their tasks have the same cores, and W tasks
 * sharing one JVM in local mode each get their share instead of all of them.
 *
 * <p>The thread counts are per process; tasks that share a JVM get the same count, so they
 * agree on it.
 */
public final class NativeThreads {
    private static int applied = -1;

    private NativeThreads() {}

    /**
     * The environment a process that runs tasks of {@code threads} cores starts with; the native
     * libraries read it once, when they load. Passive waiting: libnd4j's OpenMP threads would
     * otherwise spin after each op and starve the BLAS threads (it halved the step time).
     */
    public static Map<String, String> environment(int threads) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("OMP_NUM_THREADS", Integer.toString(threads));
        env.put("OMP_WAIT_POLICY", "PASSIVE");
        env.put("MKL_NUM_THREADS", Integer.toString(threads));
        env.put("MKL_DYNAMIC", "FALSE");
        env.put("MKL_CBWR", "AUTO,STRICT");
        return env;
    }

    /** Gives the BLAS, libnd4j's own loops and the host loops {@code threads} threads; cheap when unchanged. */
    public static synchronized void apply(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("a task needs at least one thread, got " + threads);
        }
        if (threads == applied) {
            return;
        }
        Nd4jRuntime.init();
        Nd4j.factory().blas().setMaxThreads(threads);
        // libnd4j cannot grow its pool past OMP_NUM_THREADS, only use fewer of them
        Nd4j.getEnvironment().setMaxMasterThreads(Math.min(threads, Nd4j.getEnvironment().maxThreads()));
        io.sparkformer.model.layers.HostThreads.set(threads);
        applied = threads;
    }

    /** The BLAS threads of this process now. */
    public static int blasThreads() {
        Nd4jRuntime.init();
        return Nd4j.factory().blas().getMaxThreads();
    }

    /**
     * Cores per task: {@code taskCpus} when the user set spark.task.cpus, otherwise in local mode
     * the machine's cores shared by the tasks that run at once, and on a cluster one.
     */
    public static int perTask(boolean localMode, int localSlots, int workers, int cores, Integer taskCpus) {
        if (taskCpus != null) {
            return Math.max(1, taskCpus);
        }
        if (!localMode) {
            return 1;
        }
        int concurrent = Math.max(1, Math.min(localSlots, workers));
        return Math.max(1, cores / concurrent);
    }
}
