package io.sparkformer.driver.cluster;

import java.util.concurrent.Callable;

import io.sparkformer.model.FailureKind;
import io.sparkformer.model.TypedFailure;

/**
 * Out of memory, as an error that names the setting to raise. Spark ends an executor (or a
 * local-mode driver) with exit code 52 when a task throws OutOfMemoryError; a task's work runs
 * inside {@link #guard}, which turns it into this exception, so the job fails through the normal
 * path and the command exits with its own code and this message.
 *
 * <p>The error is kept as a suppressed exception, not as the cause: Spark's executor looks down a
 * failed task's cause chain (spark.executor.killOnFatalError.depth) and exits the JVM with 52 when
 * it finds an OutOfMemoryError there, which aborted the barrier stage of an all-reduce round.
 */
public class OutOfMemory extends TypedFailure {
    public OutOfMemory(String message, Throwable error) {
        super(FailureKind.OUT_OF_MEMORY, message);
        addSuppressed(error);
    }

    /** Runs a task's work; an OutOfMemoryError leaves it as an OutOfMemory naming the setting. */
    public static <T> T guard(String where, Callable<T> work) throws Exception {
        try {
            return work.call();
        } catch (OutOfMemoryError e) {
            throw new OutOfMemory(describe(where, e), e);
        }
    }

    /** What ran out and what to raise, from the error's own message. */
    public static String describe(String where, Throwable e) {
        String m = String.valueOf(e.getMessage());
        String advice;
        if (m.contains("physicalBytes") || m.contains("maxPhysicalBytes") || m.contains("maxBytes")
                || m.contains("Pointer")) {
            advice = "ND4J's off-heap memory is full: raise the JavaCPP limits -Dorg.bytedeco.javacpp.maxbytes and"
                    + " -Dorg.bytedeco.javacpp.maxphysicalbytes (SPARKFORMER_MAXBYTES and SPARKFORMER_MAXPHYSICALBYTES"
                    + " in local mode; spark.executor.extraJavaOptions with spark.executor.memoryOverhead on a cluster)";
        } else if (m.contains("maxResultSize")) {
            advice = "the workers' results exceed spark.driver.maxResultSize: raise it (and the driver memory with it)";
        } else {
            advice = "the JVM heap is full: raise spark.executor.memory on a cluster, or SPARKFORMER_DRIVER_MEMORY"
                    + " (spark.driver.memory) in local mode, where the tasks run in the driver";
        }
        return "out of memory in " + where + " (" + m + "): " + advice;
    }
}
