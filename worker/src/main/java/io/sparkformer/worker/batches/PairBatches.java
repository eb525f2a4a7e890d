package io.sparkformer.worker.batches;

import java.util.List;

import io.sparkformer.model.Batch;
import io.sparkformer.model.text.SpecialTokens;

/** Batches of paired examples (source and target, input and labels, prompt and completion), by epochs. */
public abstract class PairBatches implements BatchSource {
    /** Which examples batch k holds; set by each task's constructor once it can say how long an example is. */
    EpochOrder order;

    public int batchesPerEpoch() { return order.batchesPerEpoch(); }

    @Override
    public Batch batch(long index) {
        return assemble(order.batch(index));
    }

    /** One padded batch of the given examples, in that order. */
    public abstract Batch assemble(int[] exampleIndices);

    /**
     * The batches of a pair task (seq2seq, tagging, completion or classification) over sources
     * (inputs, prompts, texts) and targets (labels, completions, one label index). {@code specials}:
     * the tokenizer's (a classifier's texts take its start, end and padding; the other tasks
     * use this project's ids).
     */
    public static PairBatches forTask(Task task, List<List<int[]>> pairs, int batchSize, int maxLen, boolean bucketing, long seed,
                                      SpecialTokens specials) {
        return switch (task) {
            case TAGGING -> new TaggingBatches(pairs.get(0), pairs.get(1), batchSize, maxLen, seed);
            case COMPLETION -> new CompletionBatches(pairs.get(0), pairs.get(1), batchSize, maxLen, seed);
            case CLASSIFICATION -> new ClassificationBatches(pairs.get(0), pairs.get(1), batchSize, maxLen, bucketing, seed, specials);
            case SEQ2SEQ -> new Seq2SeqBatches(pairs.get(0), pairs.get(1), batchSize, maxLen, bucketing, seed);
            case CAUSAL_LM, MASKED_LM -> throw new IllegalArgumentException("not a pair task: " + task.key());
        };
    }
}
