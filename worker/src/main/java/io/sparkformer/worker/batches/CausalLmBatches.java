package io.sparkformer.worker.batches;

import java.util.SplittableRandom;

import io.sparkformer.model.Batch;
import io.sparkformer.worker.shards.TokenStream;

/**
 * Next-token batches from a token stream, as nanoGPT samples them: each row is a random window
 * of length+1 tokens; ids are the first length, targets the last length.
 */
public final class CausalLmBatches extends StreamBatches {
    public CausalLmBatches(int[] tokens, int batchSize, int length, long seed) {
        this(TokenStream.of(tokens), batchSize, length, seed);
    }

    public CausalLmBatches(TokenStream tokens, int batchSize, int length, long seed) {
        super(tokens, batchSize, length, seed, length + 1L);
    }

    @Override
    public Batch batch(long index) {
        SplittableRandom rnd = random(index);
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
