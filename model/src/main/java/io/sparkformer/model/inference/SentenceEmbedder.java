package io.sparkformer.model.inference;

import java.util.List;

import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.model.Batch;
import io.sparkformer.model.Transformer;

/**
 * Sentence embeddings as sentence-transformers computes them: the mean of a model's top hidden
 * states over each row's own tokens (not its padding), optionally L2-normalised. Rows go through
 * the model in batches, each padded to its longest row with the model's pad id (attention never
 * looks at padding keys, so a row's embedding does not depend on the others in its batch).
 */
public final class SentenceEmbedder {
    private final Transformer model;
    private final int pad;

    public SentenceEmbedder(Transformer model) {
        this.model = model;
        model.forInference();
        // a model without a padding token (pad_id -1) is a decoder: right padding comes after every real token
        this.pad = Math.max(0, model.config().padId());
    }

    /**
     * The embedding of each row of token ids (each at most max_len long), in order. Rows go in
     * batches of similar length, longest first: little padding, and the first batch's buffers
     * hold every later one's.
     */
    public double[][] embed(List<int[]> rows, boolean normalize, int batchSize) {
        Integer[] order = LengthOrder.longestFirst(rows);
        double[][] out = new double[rows.size()][];
        for (int from = 0; from < order.length; from += batchSize) {
            List<int[]> batch = new java.util.ArrayList<>();
            for (int k = from; k < Math.min(order.length, from + batchSize); k++) {
                batch.add(rows.get(order[k]));
            }
            double[][] part = embedBatch(batch, normalize);
            for (int k = 0; k < part.length; k++) {
                out[order[from + k]] = part[k];
            }
        }
        return out;
    }

    private double[][] embedBatch(List<int[]> rows, boolean normalize) {
        int t = 1;
        for (int[] r : rows) {
            if (r.length > model.config().maxLen()) {
                throw new IllegalArgumentException("a row of " + r.length + " tokens; the model reads at most "
                        + model.config().maxLen());
            }
            t = Math.max(t, r.length);
        }
        int[] ids = new int[rows.size() * t];
        java.util.Arrays.fill(ids, pad);
        for (int i = 0; i < rows.size(); i++) {
            System.arraycopy(rows.get(i), 0, ids, i * t, rows.get(i).length);
        }
        // the hidden states alone: the token head's logits would cost more than the encoder itself
        double[] hidden = model.hiddenStates(Batch.of(rows.size(), t, ids, null)).castTo(DataType.DOUBLE).reshape(-1).toDoubleVector();
        int d = model.config().dModel();
        double[][] out = new double[rows.size()][d];
        for (int i = 0; i < rows.size(); i++) {
            int n = Math.max(1, rows.get(i).length);
            for (int j = 0; j < rows.get(i).length; j++) {
                for (int k = 0; k < d; k++) {
                    out[i][k] += hidden[(i * t + j) * d + k];
                }
            }
            double norm = 0;
            for (int k = 0; k < d; k++) {
                out[i][k] /= n;
                norm += out[i][k] * out[i][k];
            }
            if (normalize && norm > 0) {
                double scale = 1.0 / Math.sqrt(norm);
                for (int k = 0; k < d; k++) {
                    out[i][k] *= scale;
                }
            }
        }
        return out;
    }
}
