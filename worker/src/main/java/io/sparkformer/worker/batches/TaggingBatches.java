package io.sparkformer.worker.batches;

import java.util.Arrays;
import java.util.List;

import io.sparkformer.model.Batch;
import io.sparkformer.model.text.Tokenizer;

/**
 * Token classification for the encoder kind: every input token has a label token (the same count),
 * and the loss covers every position. Rows are padded with pad_id; padding is not scored.
 */
public final class TaggingBatches extends PairBatches {
    private final List<int[]> inputs;
    private final List<int[]> labels;
    private final int maxLen;

    public TaggingBatches(List<int[]> inputs, List<int[]> labels, int batchSize, int maxLen, long seed) {
        if (inputs.size() != labels.size() || inputs.isEmpty()) {
            throw new IllegalArgumentException(inputs.size() + " inputs but " + labels.size() + " label rows");
        }
        for (int i = 0; i < inputs.size(); i++) {
            if (inputs.get(i).length != labels.get(i).length) {
                throw new IllegalArgumentException("example " + (i + 1) + ": " + inputs.get(i).length + " input tokens but "
                        + labels.get(i).length + " labels");
            }
        }
        this.inputs = inputs;
        this.labels = labels;
        this.maxLen = maxLen;
        this.order = new EpochOrder(inputs.size(), batchSize, seed, null);
    }

    @Override
    public Batch assemble(int[] rows) {
        int t = 1;
        for (int r : rows) {
            t = Math.max(t, Math.min(maxLen, inputs.get(r).length));
        }
        int[] ids = new int[rows.length * t];
        int[] target = new int[rows.length * t];
        Arrays.fill(ids, Tokenizer.PAD);
        Arrays.fill(target, -1);
        for (int i = 0; i < rows.length; i++) {
            int n = Math.min(t, inputs.get(rows[i]).length);
            System.arraycopy(inputs.get(rows[i]), 0, ids, i * t, n);
            System.arraycopy(labels.get(rows[i]), 0, target, i * t, n);
        }
        return Batch.of(rows.length, t, ids, target);
    }
}
