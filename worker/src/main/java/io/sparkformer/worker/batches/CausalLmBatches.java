package io.sparkformer.worker.batches;

import java.util.SplittableRandom;

import io.sparkformer.model.Batch;
import io.sparkformer.worker.shards.TokenStream;

/**
 * Next-token batches from a token stream, as nanoGPT samples them: each row is a random window
 * of length+1 tokens; ids are the first length, targets the last length.
 */
public final class CausalLmBatches implements BatchSource {
    private final TokenStream tokens;
    private final int batchSize;
    private final int length;
    private final long seed;

    public CausalLmBatches(int[] tokens, int batchSize, int length, long seed) {
        this(TokenStream.of(tokens), batchSize, length, seed);
    }

    public CausalLmBatches(TokenStream tokens, int batchSize, int length, long seed) {
        if (tokens.length() < length + 1) {
            throw new IllegalArgumentException("a stream of " + tokens.length() + " tokens is too short for blocks of "
                    + length + " (needs at least " + (length + 1) + ")");
        }
        this.tokens = tokens;
        this.batchSize = batchSize;
        this.length = length;
        this.seed = seed;
    }

    @Override
    public Batch batch(long index) {
        SplittableRandom rnd = new SplittableRandom(BatchSource.mix(seed, index));
        int[] ids = new int[batchSize * length];
        int[] target = new int[batchSize * length];
        long windows = tokens.length() - length;
        int[] window = new int[length + 1];
        for (int r = 0; r < batchSize; r++) {
            tokens.copy(BatchSource.position(rnd, windows), window, 0, length + 1);
            System.arraycopy(window, 0, ids, r * length, length);
            System.arraycopy(window, 1, target, r * length, length);
        }
        return Batch.of(batchSize, length, ids, target);
    }
}
