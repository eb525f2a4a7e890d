package io.sparkformer.worker.batches;

import io.sparkformer.model.Batch;

/** Batches of paired examples (source and target, input and labels, prompt and completion), by epochs. */
public interface PairBatches extends BatchSource {
    int batchesPerEpoch();

    /** One padded batch of the given examples, in that order. */
    Batch assemble(int[] exampleIndices);
}
