package io.sparkformer.worker.batches;

import java.util.Iterator;
import java.util.NoSuchElementException;

import io.sparkformer.model.Batch;

/**
 * Batches as a pure function of their index: batch k is the same on every run with the same
 * seed, so a data cursor is one number and a resumed run draws exactly what an unbroken run
 * would.
 */
public interface BatchSource {
    Batch batch(long index);

    /** Batches start, start + 1, ... count of them. */
    default Iterator<Batch> iterator(long start, long count) {
        return new Iterator<>() {
            long next = start;

            @Override
            public boolean hasNext() { return next < start + count; }

            @Override
            public Batch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return batch(next++);
            }
        };
    }

    /**
     * A uniform position in [0, windows). Streams shorter than 2^31 draw as they always have
     * (nextInt), so their batches stay the same; longer ones draw a long.
     */
    static long position(java.util.SplittableRandom rnd, long windows) {
        return windows <= Integer.MAX_VALUE ? rnd.nextInt((int) windows) : rnd.nextLong(windows);
    }

    /** A seed for (seed, index) that differs in all bits for neighbouring indices. */
    static long mix(long seed, long index) {
        long z = seed * 0x9E3779B97F4A7C15L + index;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
