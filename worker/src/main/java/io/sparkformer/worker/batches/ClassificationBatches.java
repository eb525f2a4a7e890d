package io.sparkformer.worker.batches;

import java.util.Arrays;
import java.util.List;

import io.sparkformer.model.Batch;
import io.sparkformer.model.text.SpecialTokens;

/**
 * Sequence classification: each example is bos, its text's tokens (cut to fit) and eos, with one
 * label. The bos gives first-token pooling a place of its own (BERT's [CLS]); the eos marks the
 * end for last-token pooling (BERT's [SEP]). Rows are padded with the pad token; examples of
 * similar length are batched together when bucketing is on.
 */
public final class ClassificationBatches extends PairBatches {
    private final List<int[]> texts;
    private final int[] labels;
    private final int maxLen;
    private final SpecialTokens specials;

    /** {@code labels}: one single-element row per example, the label's index; {@code specials}: the tokenizer's. */
    public ClassificationBatches(List<int[]> texts, List<int[]> labels, int batchSize, int maxLen, boolean bucketing, long seed,
                                 SpecialTokens specials) {
        if (texts.size() != labels.size() || texts.isEmpty()) {
            throw new IllegalArgumentException(texts.size() + " texts but " + labels.size() + " labels");
        }
        if (maxLen < 3) {
            throw new IllegalArgumentException("max length " + maxLen + " leaves no room for a token between bos and eos");
        }
        this.texts = texts;
        this.labels = new int[labels.size()];
        for (int i = 0; i < this.labels.length; i++) {
            int[] l = labels.get(i);
            if (l.length != 1 || l[0] < 0) {
                throw new IllegalArgumentException("example " + (i + 1) + ": a label is one index, got " + Arrays.toString(l));
            }
            this.labels[i] = l[0];
        }
        this.maxLen = maxLen;
        this.specials = specials;
        this.order = new EpochOrder(texts.size(), batchSize, seed, bucketing ? i -> rowLength(texts.get(i)) : null);
    }

    private int rowLength(int[] text) {
        return Math.min(maxLen, text.length + 2);
    }

    @Override
    public Batch assemble(int[] rows) {
        int t = 3;
        for (int r : rows) {
            t = Math.max(t, rowLength(texts.get(r)));
        }
        int[] ids = new int[rows.length * t];
        int[] rowLabels = new int[rows.length];
        Arrays.fill(ids, specials.pad());
        for (int i = 0; i < rows.length; i++) {
            int[] text = texts.get(rows[i]);
            int n = rowLength(text) - 2;
            ids[i * t] = specials.bos();
            System.arraycopy(text, 0, ids, i * t + 1, n);
            ids[i * t + 1 + n] = specials.eos();
            rowLabels[i] = labels[rows[i]];
        }
        return Batch.classification(rows.length, t, ids, rowLabels);
    }

    /** One row for inference (no label): bos, the text's tokens cut to fit, eos. */
    public static Batch row(int[] text, int maxLen, SpecialTokens specials) {
        int n = Math.min(maxLen, text.length + 2) - 2;
        int[] ids = new int[n + 2];
        ids[0] = specials.bos();
        System.arraycopy(text, 0, ids, 1, n);
        ids[n + 1] = specials.eos();
        return Batch.classification(1, n + 2, ids, null);
    }
}
