package io.sparkformer.worker.batches;

import java.util.SplittableRandom;

import io.sparkformer.model.Batch;
import io.sparkformer.model.text.Tokenizer;
import io.sparkformer.worker.shards.TokenStream;

/**
 * Masked-LM batches as BERT builds them: windows of a token stream; each position is selected
 * with probability 15%; a selected position becomes the mask token 80% of the time, a random
 * ordinary token 10%, and stays itself 10%. Targets hold the original ids at selected positions
 * and −1 elsewhere. Reproducible from (seed, index).
 */
public final class MaskedLmBatches extends StreamBatches {
    public static final double SELECT = 0.15;

    private final int vocabSize;

    public MaskedLmBatches(int[] tokens, int batchSize, int length, int vocabSize, long seed) {
        this(TokenStream.of(tokens), batchSize, length, vocabSize, seed);
    }

    public MaskedLmBatches(TokenStream tokens, int batchSize, int length, int vocabSize, long seed) {
        super(tokens, batchSize, length, seed, length);
        if (vocabSize <= Tokenizer.SPECIALS.size()) {
            throw new IllegalArgumentException("vocabulary of " + vocabSize + " has no ordinary tokens to substitute");
        }
        this.vocabSize = vocabSize;
    }

    @Override
    public Batch batch(long index) {
        SplittableRandom rnd = random(index);
        int[] ids = new int[batchSize * length];
        int[] target = new int[batchSize * length];
        long windows = tokens.length() - length + 1;
        int ordinary = vocabSize - Tokenizer.SPECIALS.size();
        for (int r = 0; r < batchSize; r++) {
            tokens.copy(BatchSource.position(rnd, windows), ids, r * length, length);
        }
        for (int i = 0; i < ids.length; i++) {
            target[i] = -1;
            if (ids[i] == Tokenizer.PAD || rnd.nextDouble() >= SELECT) {
                continue;
            }
            target[i] = ids[i];
            double u = rnd.nextDouble();
            if (u < 0.8) {
                ids[i] = Tokenizer.MASK;
            } else if (u < 0.9) {
                ids[i] = Tokenizer.SPECIALS.size() + rnd.nextInt(ordinary);
            }
        }
        return Batch.of(batchSize, length, ids, target);
    }
}
