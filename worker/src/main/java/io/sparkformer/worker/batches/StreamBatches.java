package io.sparkformer.worker.batches;

import java.util.SplittableRandom;

import io.sparkformer.worker.shards.TokenStream;

/**
 * Batches of windows of one token stream (the language models'), each batch a function of
 * (seed, index) alone: its windows come from a random source of its own.
 */
abstract class StreamBatches implements BatchSource {
    final TokenStream tokens;
    final int batchSize;
    final int length;
    final long seed;

    /** {@code needed}: the fewest tokens a window takes. */
    StreamBatches(TokenStream tokens, int batchSize, int length, long seed, long needed) {
        if (tokens.length() < needed) {
            throw new IllegalArgumentException("a stream of " + tokens.length() + " tokens is too short for blocks of "
                    + length + " (needs at least " + needed + ")");
        }
        this.tokens = tokens;
        this.batchSize = batchSize;
        this.length = length;
        this.seed = seed;
    }

    /** Batch {@code index}'s random source: the same numbers for the same (seed, index) on any machine. */
    SplittableRandom random(long index) {
        return new SplittableRandom(BatchSource.mix(seed, index));
    }
}
