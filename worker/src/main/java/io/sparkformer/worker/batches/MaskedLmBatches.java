package io.sparkformer.worker.batches;

import java.util.SplittableRandom;

import io.sparkformer.model.Batch;
import io.sparkformer.model.text.SpecialTokens;
import io.sparkformer.model.text.Tokenizer;
import io.sparkformer.worker.shards.TokenStream;

/**
 * Masked-LM batches as BERT builds them: windows of a token stream; each position is selected
 * with probability 15%; a selected position becomes the mask token 80% of the time, a random
 * ordinary token 10%, and stays itself 10%. Targets hold the original ids at selected positions
 * and −1 elsewhere. Reproducible from (seed, index). The mask and padding are the tokenizer's
 * own (BERT's [MASK] and [PAD]); a random token is one past this project's reserved ids, or any
 * id of a pretrained tokenizer's vocabulary (as Hugging Face's collator draws them).
 */
public final class MaskedLmBatches extends StreamBatches {
    public static final double SELECT = 0.15;

    private final int vocabSize;
    private final SpecialTokens specials;
    private final int firstRandom;

    public MaskedLmBatches(int[] tokens, int batchSize, int length, int vocabSize, long seed) {
        this(TokenStream.of(tokens), batchSize, length, vocabSize, seed, SpecialTokens.OWN);
    }

    public MaskedLmBatches(TokenStream tokens, int batchSize, int length, int vocabSize, long seed, SpecialTokens specials) {
        super(tokens, batchSize, length, seed, length);
        if (specials.mask() < 0) {
            throw new IllegalArgumentException("the tokenizer has no mask token: masked_lm needs one");
        }
        this.firstRandom = specials.equals(SpecialTokens.OWN) ? Tokenizer.SPECIALS.size() : 0;
        if (vocabSize <= firstRandom) {
            throw new IllegalArgumentException("vocabulary of " + vocabSize + " has no ordinary tokens to substitute");
        }
        this.vocabSize = vocabSize;
        this.specials = specials;
    }

    @Override
    public Batch batch(long index) {
        SplittableRandom rnd = random(index);
        int[] ids = new int[batchSize * length];
        int[] target = new int[batchSize * length];
        long windows = tokens.length() - length + 1;
        int ordinary = vocabSize - firstRandom;
        for (int r = 0; r < batchSize; r++) {
            tokens.copy(BatchSource.position(rnd, windows), ids, r * length, length);
        }
        for (int i = 0; i < ids.length; i++) {
            target[i] = -1;
            if (ids[i] == specials.pad() || rnd.nextDouble() >= SELECT) {
                continue;
            }
            target[i] = ids[i];
            double u = rnd.nextDouble();
            if (u < 0.8) {
                ids[i] = specials.mask();
            } else if (u < 0.9) {
                ids[i] = firstRandom + rnd.nextInt(ordinary);
            }
        }
        return Batch.of(batchSize, length, ids, target);
    }
}
