package io.sparkformer.model.inference;

import java.util.Arrays;
import java.util.List;

import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.model.Batch;
import io.sparkformer.model.Model;

/**
 * A classifier's label probabilities for many rows at once: rows sorted by length (longest first,
 * so the first batch's buffers hold every later one's), padded to their batch's longest with the
 * model's pad id, and put back in their order. Pooling and attention never read padding, so a
 * row's figures match those of the row alone to float rounding, and its likeliest label is the same.
 */
public final class BatchClassifier {
    private final Model model;
    private final int pad;
    private final int batchSize;

    public BatchClassifier(Model model, int batchSize) {
        if (!model.config().isClassifier()) {
            throw new IllegalArgumentException("a " + model.config().kind().name().toLowerCase() + " language model is not a classifier");
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        }
        this.model = model;
        this.pad = Math.max(0, model.config().padId());
        this.batchSize = batchSize;
        model.forInference();
    }

    /** Each row's probability of each label, in the rows' order; every row already framed (e.g. bos, text, eos). */
    public double[][] probabilities(List<int[]> rows) {
        Integer[] order = LengthOrder.longestFirst(rows);
        double[][] out = new double[rows.size()][];
        for (int from = 0; from < order.length; from += batchSize) {
            int n = Math.min(batchSize, order.length - from);
            int t = Math.max(1, rows.get(order[from]).length);
            int[] ids = new int[n * t];
            Arrays.fill(ids, pad);
            for (int r = 0; r < n; r++) {
                int[] row = rows.get(order[from + r]);
                System.arraycopy(row, 0, ids, r * t, row.length);
            }
            model.forward(Batch.classification(n, t, ids, null), false);
            double[] logits = model.logits().castTo(DataType.DOUBLE).reshape(-1).toDoubleVector();
            int labels = logits.length / n;
            for (int r = 0; r < n; r++) {
                out[order[from + r]] = softmax(logits, r * labels, labels);
            }
        }
        return out;
    }

    private static double[] softmax(double[] logits, int from, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, logits[from + i]);
        }
        double[] p = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            p[i] = Math.exp(logits[from + i] - max);
            sum += p[i];
        }
        for (int i = 0; i < n; i++) {
            p[i] /= sum;
        }
        return p;
    }
}
