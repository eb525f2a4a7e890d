package io.sparkformer.worker.batches;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.IntUnaryOperator;

/**
 * Which examples make batch k: each epoch is a shuffle drawn from (seed, epoch), cut into batches;
 * with a length key, examples of similar length are grouped inside windows of 50 batches and the
 * batches shuffled again (fewer pad tokens). A pure function of (seed, k).
 */
final class EpochOrder {
    private static final int BUCKET_WINDOW = 50;

    private final int examples;
    private final int batchSize;
    private final long seed;
    private final IntUnaryOperator lengthKey;
    private final int batchesPerEpoch;
    private long cachedEpoch = -1;
    private int[][] cachedBatches;

    EpochOrder(int examples, int batchSize, long seed, IntUnaryOperator lengthKey) {
        this.examples = examples;
        this.batchSize = batchSize;
        this.seed = seed;
        this.lengthKey = lengthKey;
        this.batchesPerEpoch = (examples + batchSize - 1) / batchSize;
    }

    int batchesPerEpoch() { return batchesPerEpoch; }

    synchronized int[] batch(long index) {
        long epoch = index / batchesPerEpoch;
        if (epoch != cachedEpoch) {
            cachedBatches = epochBatches(epoch);
            cachedEpoch = epoch;
        }
        return cachedBatches[(int) (index % batchesPerEpoch)];
    }

    private int[][] epochBatches(long epoch) {
        SplittableRandom rnd = new SplittableRandom(BatchSource.mix(seed, epoch));
        Integer[] order = new Integer[examples];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        shuffle(order, rnd);
        if (lengthKey != null) {
            int window = batchSize * BUCKET_WINDOW;
            for (int from = 0; from < order.length; from += window) {
                Arrays.sort(order, from, Math.min(order.length, from + window),
                        (a, b) -> Integer.compare(lengthKey.applyAsInt(a), lengthKey.applyAsInt(b)));
            }
        }
        int[][] batches = new int[batchesPerEpoch][];
        for (int k = 0; k < batchesPerEpoch; k++) {
            int from = k * batchSize;
            int to = Math.min(order.length, from + batchSize);
            batches[k] = new int[to - from];
            for (int i = from; i < to; i++) {
                batches[k][i - from] = order[i];
            }
        }
        if (lengthKey != null) {
            shuffle(batches, rnd);
        }
        return batches;
    }

    private static <T> void shuffle(T[] a, SplittableRandom rnd) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            T t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }
}
