package io.sparkformer.model.layers;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs the host loops' independent pieces on the task's threads. Each piece is a range of whole
 * rows whose results do not depend on any other piece, and the pieces are fixed by the data's
 * shape alone, so the bits are the same with any number of threads; only the wall time changes.
 * The thread count is the task's (see NativeThreads.apply), the same as the BLAS's: tasks that
 * share a JVM in local mode each get one thread, and then everything runs on the caller.
 */
public final class HostThreads {
    private static volatile int threads = 1;
    private static final ExecutorService POOL = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "sparkformer-host");
        t.setDaemon(true);
        return t;
    });

    private HostThreads() {}

    /** The threads each host loop may use (at least one: the caller). */
    public static void set(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("host loops need at least one thread, got " + n);
        }
        threads = n;
    }

    public static int get() {
        return threads;
    }

    /** A piece of work: piece {@code index} of a fixed split. */
    interface Piece {
        void run(int index);
    }

    /** Runs pieces 0 .. count-1, each exactly once, on up to {@link #get()} threads; rethrows the first failure. */
    static void run(int count, Piece piece) {
        int n = Math.min(threads, count);
        if (n <= 1) {
            for (int i = 0; i < count; i++) {
                piece.run(i);
            }
            return;
        }
        AtomicInteger next = new AtomicInteger();
        Runnable worker = () -> {
            for (int i = next.getAndIncrement(); i < count; i = next.getAndIncrement()) {
                piece.run(i);
            }
        };
        Future<?>[] helpers = new Future<?>[n - 1];
        for (int h = 0; h < helpers.length; h++) {
            helpers[h] = POOL.submit(worker);
        }
        RuntimeException failure = null;
        try {
            worker.run();
        } catch (RuntimeException e) {
            failure = e;
            next.set(count); // the helpers stop at their next piece
        }
        for (Future<?> f : helpers) {
            try {
                f.get();
            } catch (java.util.concurrent.ExecutionException e) {
                if (failure == null) {
                    failure = e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (failure == null) {
                    failure = new IllegalStateException("interrupted while host loops ran", e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
