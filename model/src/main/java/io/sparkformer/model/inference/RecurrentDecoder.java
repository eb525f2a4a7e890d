package io.sparkformer.model.inference;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.deeplearning4j.nn.api.layers.RecurrentLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

import io.sparkformer.model.RecurrentModel;
import io.sparkformer.model.TransformerConfig;

/**
 * The recurrent language model read a few tokens at a time through Deeplearning4j's
 * {@code rnnTimeStep}: a state is each LSTM layer's hidden and cell vectors per row, so a new
 * token costs one step through every layer whatever came before, and a state holds any number of
 * positions. The network keeps one state of its own; each {@link #step} loads the given state
 * into it and reads it back after (the full-sequence forward of training ignores it). Scores are log-probabilities (the network ends in a softmax).
 */
public final class RecurrentDecoder implements StepDecoder {
    /** No position table bounds an LSTM's state; this only keeps Generator's arithmetic far from overflow. */
    private static final int UNBOUNDED = Integer.MAX_VALUE / 4;

    private final RecurrentModel model;
    private final MultiLayerNetwork network;
    private final List<Integer> recurrentLayers = new ArrayList<>();

    public RecurrentDecoder(RecurrentModel model) {
        if (model.config().isClassifier()) {
            throw new IllegalArgumentException("a classifier labels text, it does not generate it");
        }
        this.model = model;
        this.network = model.network();
        for (int i = 0; i < network.getnLayers(); i++) {
            if (network.getLayer(i) instanceof RecurrentLayer) {
                recurrentLayers.add(i);
            }
        }
    }

    @Override
    public TransformerConfig config() { return model.config(); }

    @Override
    public int window() { return UNBOUNDED; }

    /** Per recurrent layer, Deeplearning4j's named state arrays, [R, d] each; empty before the first token. */
    public final class State implements StepDecoder.State {
        private final int rows;
        private int length;
        private final List<Map<String, INDArray>> layers = new ArrayList<>();

        private State(int rows) {
            this.rows = rows;
        }

        @Override
        public int rows() { return rows; }

        @Override
        public int length() { return length; }

        @Override
        public void reorder(int[] from) {
            StepDecoder.State.checkReorder(rows, from);
            for (Map<String, INDArray> layer : layers) {
                layer.replaceAll((name, a) -> Nd4j.pullRows(a, 1, from));
            }
        }
    }

    @Override
    public State start(int rows) {
        return new State(rows);
    }

    @Override
    public State start(int[][] sources) {
        throw new UnsupportedOperationException("an lstm reads one sequence; translation needs an encoder_decoder");
    }

    @Override
    public INDArray step(StepDecoder.State given, int[][] tokens) {
        State state = (State) given;
        int rows = state.rows;
        int n = tokens[0].length;
        int[] ids = new int[rows * n];
        for (int r = 0; r < rows; r++) {
            if (tokens[r].length != n) {
                throw new IllegalArgumentException("every row feeds " + n + " tokens; row " + r + " has " + tokens[r].length);
            }
            System.arraycopy(tokens[r], 0, ids, r * n, n);
        }
        io.sparkformer.model.Transformer.checkIds("tokens", ids, config().vocabSize(), false);
        network.rnnClearPreviousState(); // a fresh state starts from zeros, not from the last rows stepped
        for (int i = 0; i < state.layers.size(); i++) {
            network.rnnSetPreviousState(recurrentLayers.get(i), state.layers.get(i));
        }
        // [R, 1, n]: rnnTimeStep reads a 2-d input as one step of features
        INDArray input = Nd4j.createFromArray(ids).reshape(rows, 1, n).castTo(model.dataType());
        INDArray probabilities = network.rnnTimeStep(input); // [R, V, n]
        state.layers.clear();
        for (int layer : recurrentLayers) {
            Map<String, INDArray> own = new HashMap<>();
            network.rnnGetPreviousState(layer).forEach((name, a) -> own.put(name, a.dup()));
            state.layers.add(own);
        }
        state.length += n;
        INDArray last = probabilities.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(n - 1));
        return Transforms.log(Transforms.max(last.dup('c'), 1e-30, false), false);
    }
}
