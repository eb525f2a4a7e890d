package io.sparkformer.driver.corpus;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Numbered points in the driver's writes where a test may stop the JVM as SIGKILL would: no
 * finally blocks, no shutdown hooks. {@code -Dsparkformer.fault.halt_at=N} halts at the N-th point
 * with exit code 137; {@code -Dsparkformer.fault.trace=true} prints every point passed, so a test
 * can count them. Without either property a point costs one property read.
 */
public final class FaultInjection {
    public static final String HALT_AT = "sparkformer.fault.halt_at";
    public static final String TRACE = "sparkformer.fault.trace";
    public static final String MARK = "sparkformer-fault-point ";
    private static final AtomicInteger PASSED = new AtomicInteger();

    private FaultInjection() {}

    /** Passes point {@code what} ("before", "written" or "replaced", and the file). */
    public static void point(String what) {
        String haltAt = System.getProperty(HALT_AT);
        boolean trace = Boolean.getBoolean(TRACE);
        if (haltAt == null && !trace) {
            return;
        }
        int n = PASSED.incrementAndGet();
        if (trace) {
            System.err.println(MARK + n + " " + what);
        }
        if (haltAt != null && Integer.parseInt(haltAt.trim()) == n) {
            System.err.println(MARK + n + " " + what + ": halting");
            System.err.flush();
            Runtime.getRuntime().halt(137);
        }
    }
}
