package io.sparkformer.model;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Why a job stopped, as far as its exit code and its message are concerned. An exception of one of
 * these kinds may be thrown inside a Spark task and reach the driver only as text (Spark reports a
 * task's failure by its stack trace); {@link #mark} writes the one prefix that text carries, so
 * the driver can tell the kind and the message from it.
 */
public enum FailureKind {
    /** A file, key or value the user gave is wrong: the message names it. */
    BAD_INPUT,
    /** The loss, a gradient or a weight stopped being a number. */
    DIVERGED,
    /** A heap or an off-heap limit was reached: the message names the setting to raise. */
    OUT_OF_MEMORY,
    /** Another live job holds the run directory. */
    RUN_LOCKED,
    /** A worker's state was lost with its executor: the run can resume from its last checkpoint. */
    LOST_WORKER_STATE;

    private static final Pattern MARKED = Pattern.compile("sparkformer:([a-z-]+): ([^\\n]*)");

    /** An exception of a kind: its text ({@code toString}, and so Spark's report of it) is {@link #mark}ed. */
    public interface Typed {
        FailureKind kind();
    }

    /** An error in what the user gave; its {@code toString} must be {@code BAD_INPUT.mark(getMessage())}. */
    public interface BadInput extends Typed {
        @Override
        default FailureKind kind() {
            return BAD_INPUT;
        }
    }

    /** The text an exception of this kind carries across Spark: {@code sparkformer:<kind>: message}. */
    public String mark(String message) {
        return "sparkformer:" + name().toLowerCase(Locale.ROOT).replace('_', '-') + ": " + message;
    }

    /** The first marked failure in {@code text}: its kind and its message (to the end of its line), or null. */
    public static Found find(String text) {
        if (text == null) {
            return null;
        }
        Matcher m = MARKED.matcher(text);
        while (m.find()) {
            for (FailureKind k : values()) {
                if (k.name().toLowerCase(Locale.ROOT).replace('_', '-').equals(m.group(1))) {
                    return new Found(k, m.group(2));
                }
            }
        }
        return null;
    }

    /** A failure found in text. */
    public record Found(FailureKind kind, String message) {}
}
