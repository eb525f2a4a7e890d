package io.sparkformer.driver;

import java.io.FileNotFoundException;

import io.sparkformer.model.FailureKind;

/**
 * Why a job failed, read once from an exception's cause chain: a typed exception of a
 * {@link FailureKind}, a failure marked in the text of a Spark job's report (what a task threw
 * reaches the driver as text), or one of Spark's own reports that say what happened. Null
 * {@code kind}: none of these, a bug.
 */
public record Failures(FailureKind kind, String message) {
    /** Spark's own words for results too large for the driver. */
    private static final String RESULTS_TOO_LARGE = "bigger than spark.driver.maxResultSize";
    /** Spark aborts a barrier stage that lost an executor instead of rerunning it. */
    private static final String FAILED_BARRIER = "failed barrier";
    private static final String EXECUTOR_LOST = "ExecutorLostFailure";

    public static Failures of(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof FailureKind.Typed typed) {
                return new Failures(typed.kind(), c.getMessage());
            }
            if (c instanceof OutOfMemoryError) {
                return new Failures(FailureKind.OUT_OF_MEMORY, c.getMessage());
            }
            if (c instanceof FileNotFoundException) {
                return new Failures(FailureKind.BAD_INPUT, c.getMessage());
            }
            String text = c.getMessage();
            FailureKind.Found marked = FailureKind.find(text);
            if (marked != null) {
                return new Failures(marked.kind(), marked.message());
            }
            if (text != null && text.contains(RESULTS_TOO_LARGE)) {
                return new Failures(FailureKind.OUT_OF_MEMORY, line(text, text.indexOf(RESULTS_TOO_LARGE)));
            }
            if (text != null && text.contains(FAILED_BARRIER) && text.contains(EXECUTOR_LOST)) {
                return new Failures(FailureKind.LOST_WORKER_STATE,
                        "a barrier round lost its executor: " + line(text, text.indexOf(EXECUTOR_LOST)));
            }
        }
        return new Failures(null, e.toString());
    }

    public boolean is(FailureKind k) {
        return kind == k;
    }

    /** The line of {@code text} from {@code at} on. */
    private static String line(String text, int at) {
        int end = text.indexOf('\n', at);
        return text.substring(at, end < 0 ? text.length() : end);
    }
}
