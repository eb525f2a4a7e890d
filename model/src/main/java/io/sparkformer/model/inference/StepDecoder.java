package io.sparkformer.model.inference;

import org.nd4j.linalg.api.ndarray.INDArray;

import io.sparkformer.model.TransformerConfig;

/**
 * A model read a few tokens at a time for generation, keeping what it has read in a state: the
 * transformer's key/value cache ({@link IncrementalDecoder}) or the recurrent model's hidden and
 * cell vectors ({@link RecurrentDecoder}). Rows are independent sequences.
 */
public interface StepDecoder {
    TransformerConfig config();

    /** The most positions a state holds; {@link Generator} starts over from a window of the recent tokens past it. */
    int window();

    /** A fresh state of {@code rows} rows for a model that reads one sequence. */
    State start(int rows);

    /** A state whose rows translate {@code sources} (an encoder-decoder). */
    State start(int[][] sources);

    /**
     * Feeds the next {@code tokens[r].length} tokens of every row (the same count for all rows)
     * and returns the scores after the last of them, [R, V]: logits, or log-probabilities, which
     * a softmax turns into the same distribution.
     */
    INDArray step(State state, int[][] tokens);

    /** What a decoder has read, per row. */
    interface State {
        int rows();

        /** Positions read so far. */
        int length();

        /** Keeps rows {@code from[i]} as the new row i (beam search's surviving hypotheses). */
        void reorder(int[] from);

        /** A reorder names one source row for every row. */
        static void checkReorder(int rows, int[] from) {
            if (from.length != rows) {
                throw new IllegalArgumentException("reorder needs " + rows + " rows, got " + from.length);
            }
        }
    }
}
