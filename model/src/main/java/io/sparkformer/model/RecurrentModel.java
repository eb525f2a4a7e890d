package io.sparkformer.model;

import java.util.Map;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.WorkspaceMode;
import org.deeplearning4j.nn.conf.dropout.Dropout;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.impl.LossSparseMCXENT;
import org.nd4j.linalg.ops.transforms.Transforms;

import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Pooling;

/**
 * The recurrent baseline: a token embedding, {@code n_layers} LSTM layers of width
 * {@code d_model} and a softmax head, built from Deeplearning4j's own layers. As a language model
 * it predicts each next token; as a classifier it reads the last non-pad position (or the mean
 * over them) into a softmax over the labels.
 *
 * <p>The network computes on views of this model's two flat buffers (see
 * {@link ParameterLayout}), so averaging, AdamW and checkpoints treat it as any model. The loss
 * is the mean over counted targets (a classifier: over rows), as the transformer's; Deeplearning4j's
 * score (a sum over the batch's targets divided by its rows) and its gradient (the sum's) are
 * rescaled to it. Deeplearning4j computes the gradient with the forward pass, so a training
 * {@link #forward} does both and {@link #backward} has nothing left to do.
 *
 * <p>Not thread-safe: one model per thread.
 */
public final class RecurrentModel implements Model {
    private final TransformerConfig config;
    private final DataType dataType;
    private final ParameterLayout layout;
    private final ParameterBuffer params;
    private final ParameterBuffer grads;
    private final SharedBuffersNetwork network;

    private INDArray logits;          // log-probabilities of the last inference forward
    private boolean gradientReady;

    public RecurrentModel(TransformerConfig config, DataType dataType) {
        this(config, dataType, ParameterBuffer.Memory.ND4J);
    }

    /** As {@link #RecurrentModel(TransformerConfig, DataType)}, with the parameters in memory from {@code parameterMemory}. */
    public RecurrentModel(TransformerConfig config, DataType dataType, ParameterBuffer.Memory parameterMemory) {
        Nd4jRuntime.init();
        if (config.kind() != Kind.LSTM) {
            throw new IllegalArgumentException("a RecurrentModel is an lstm, got " + config.kind());
        }
        if (dataType != DataType.FLOAT && dataType != DataType.DOUBLE) {
            throw new IllegalArgumentException("data type must be FLOAT or DOUBLE, got " + dataType);
        }
        this.config = config;
        this.dataType = dataType;
        this.layout = ParameterLayout.of(config);
        this.params = new ParameterBuffer(layout, dataType, parameterMemory);
        this.grads = new ParameterBuffer(layout, dataType);
        this.network = new SharedBuffersNetwork(networkConfiguration(config, dataType, 0));
        network.init(params.flat(), false);
        network.shareGradients(grads.flat());
        checkViews();
    }

    /** A network whose backward pass writes into a gradient buffer of ours instead of one of its own. */
    private static final class SharedBuffersNetwork extends MultiLayerNetwork {
        SharedBuffersNetwork(MultiLayerConfiguration conf) {
            super(conf);
        }

        void shareGradients(INDArray flat) {
            setBackpropGradientsViewArray(flat);
            flattenedGradients = flat; // else the first backward allocates its own and the layers' views move there
        }
    }

    /** Deeplearning4j's description of the network; {@code seed} drives its weight initialisation. */
    static MultiLayerConfiguration networkConfiguration(TransformerConfig cfg, DataType type, long seed) {
        int d = cfg.dModel();
        var layers = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(type)
                .updater(new NoOp()) // AdamW is ours, over the flat buffers
                .weightInit(WeightInit.XAVIER)
                .trainingWorkspaceMode(WorkspaceMode.ENABLED)
                .inferenceWorkspaceMode(WorkspaceMode.ENABLED)
                .list()
                .layer(new EmbeddingSequenceLayer.Builder().nIn(cfg.vocabSize()).nOut(d).hasBias(false)
                        .outputDataFormat(RNNFormat.NCW).build());
        for (int i = 0; i < cfg.nLayers(); i++) {
            LSTM.Builder lstm = new LSTM.Builder().nIn(d).nOut(d).activation(Activation.TANH)
                    .gateActivationFunction(Activation.SIGMOID).dataFormat(RNNFormat.NCW);
            if (cfg.dropout() > 0) {
                lstm.dropOut(new Dropout(1.0 - cfg.dropout())); // Deeplearning4j takes the retain probability
            }
            layers.layer(lstm.build());
        }
        // The head's dropout is a layer of its own: an output layer's own draws a second mask in its backward pass.
        Dropout headDropout = cfg.dropout() > 0 ? new Dropout(1.0 - cfg.dropout()) : null;
        if (cfg.isClassifier() && cfg.pooling() == Pooling.MEAN) {
            layers.layer(new GlobalPoolingLayer.Builder(PoolingType.AVG).build()); // over unmasked steps
            if (headDropout != null) {
                layers.layer(new DropoutLayer.Builder(headDropout).build());
            }
            layers.layer(new OutputLayer.Builder().lossFunction(new LossSparseMCXENT())
                    .activation(Activation.SOFTMAX).nIn(d).nOut(cfg.numLabels()).build());
        } else {
            // Last pooling is a per-step head whose label mask keeps each row's last token
            // (Deeplearning4j's LastTimeStep wrapper fails the finite-difference check).
            if (headDropout != null) {
                layers.layer(new DropoutLayer.Builder(headDropout).build());
            }
            layers.layer(new RnnOutputLayer.Builder().lossFunction(new LossSparseMCXENT()).activation(Activation.SOFTMAX)
                    .nIn(d).nOut(cfg.isClassifier() ? cfg.numLabels() : cfg.vocabSize()).dataFormat(RNNFormat.NCW).build());
        }
        return layers.build();
    }

    /** The network's parameter views must be the layout's blocks, in order: else checkpoints would mislabel them. */
    private void checkViews() {
        var blocks = layout.blocks().values().iterator();
        long base = params.flat().offset();
        for (Map.Entry<String, INDArray> e : network.paramTable().entrySet()) {
            INDArray view = e.getValue();
            ParameterLayout.Block block = blocks.hasNext() ? blocks.next() : null;
            if (block == null || view.offset() - base != block.offset() || view.length() != block.size()) {
                throw new IllegalStateException("Deeplearning4j parameter " + e.getKey() + " (offset " + (view.offset() - base)
                        + ", " + view.length() + " values) does not match the layout's " + (block == null ? "end" : block.name()
                        + " (offset " + block.offset() + ", " + block.size() + ")"));
            }
        }
        if (blocks.hasNext()) {
            throw new IllegalStateException("the layout has blocks Deeplearning4j's network lacks, from " + blocks.next().name());
        }
    }

    /** Deeplearning4j's network on this model's buffers: what {@link io.sparkformer.model.inference.RecurrentDecoder} steps through. */
    public MultiLayerNetwork network() { return network; }

    @Override
    public TransformerConfig config() { return config; }

    @Override
    public DataType dataType() { return dataType; }

    @Override
    public ParameterLayout layout() { return layout; }

    @Override
    public ParameterBuffer parameters() { return params; }

    @Override
    public ParameterBuffer gradients() { return grads; }

    /**
     * Deeplearning4j's initialisation from a seed: Xavier weights, zero biases but the forget
     * gates' (1). The transformer's schemes do not apply.
     */
    @Override
    public void initialize(long seed, Transformer.Init scheme) {
        MultiLayerNetwork fresh = new MultiLayerNetwork(networkConfiguration(config, dataType, seed));
        fresh.init();
        params.flat().assign(fresh.params().reshape(params.flat().length()));
    }

    @Override
    public double forward(Batch batch, boolean training) {
        check(batch);
        int b = batch.size();
        int t = batch.length();
        boolean pooledMean = config.isClassifier() && config.pooling() == Pooling.MEAN;
        int[] last = config.isClassifier() && !pooledMean ? lastTokens(batch.ids(), b, t) : null;
        INDArray input = Nd4j.createFromArray(batch.ids()).reshape(b, t).castTo(dataType);
        // Causal, so right padding changes nothing before it: only the mean needs to know the pads.
        INDArray featureMask = pooledMean ? notPad(batch.ids(), b, t) : null;
        gradientReady = false;
        logits = null;
        if (config.isClassifier() ? batch.labels() == null : batch.target() == null) {
            logits = logProbabilities(network.output(input, false, featureMask, null), b, t, last);
            return Double.NaN;
        }
        int counted = batch.countedTargets();
        if (counted == 0) { // nothing to predict: no loss, a zero gradient (as the transformer)
            grads.zero();
            gradientReady = training;
            return Double.NaN;
        }
        INDArray labels;
        INDArray labelMask = null;
        if (pooledMean) {
            labels = Nd4j.createFromArray(batch.labels()).reshape(b, 1).castTo(dataType);
        } else {
            int[] target = new int[b * t];
            float[] keep = new float[b * t];
            for (int i = 0; i < target.length; i++) {
                int y = last != null ? (i % t == last[i / t] ? batch.labels()[i / t] : -1) : batch.target()[i];
                keep[i] = y == -1 ? 0 : 1;
                target[i] = Math.max(y, 0); // an ignored position needs some class; its mask is 0
            }
            labels = Nd4j.createFromArray(target).reshape(b, 1, t).castTo(dataType);
            labelMask = Nd4j.createFromArray(keep).reshape(b, t).castTo(dataType);
        }
        if (training) {
            network.setInput(input);
            network.setLabels(labels);
            network.setLayerMaskArrays(featureMask, labelMask);
            network.computeGradientAndScore();
            network.clearLayerMaskArrays();
            grads.flat().muli(1.0 / counted); // Deeplearning4j's gradient is the sum's
            gradientReady = true;
            return network.score() * b / counted; // its score is the sum over the rows' count
        }
        logits = logProbabilities(network.output(input, false, featureMask, labelMask), b, t, last);
        double sum = 0;
        int rows = config.isClassifier() ? b : b * t;
        for (int i = 0; i < rows; i++) {
            int y = config.isClassifier() ? batch.labels()[i] : batch.target()[i];
            if (y != -1) {
                sum -= logits.getDouble(i, y);
            }
        }
        return sum / counted;
    }

    /**
     * Deeplearning4j's softmax output as log-probabilities: per step [B, V, T] to [B·T, V]; a
     * classifier's [B, labels], read at each row's last token when {@code last} is given.
     */
    private INDArray logProbabilities(INDArray probabilities, int b, int t, int[] last) {
        INDArray p;
        if (last != null) {
            p = Nd4j.create(dataType, b, config.numLabels());
            for (int r = 0; r < b; r++) {
                p.putRow(r, probabilities.get(NDArrayIndex.point(r), NDArrayIndex.all(), NDArrayIndex.point(last[r])));
            }
        } else if (config.isClassifier()) {
            p = probabilities.dup('c');
        } else {
            p = probabilities.permute(0, 2, 1).dup('c').reshape(b * (long) t, config.vocabSize());
        }
        return Transforms.log(Transforms.max(p, 1e-30, false), false);
    }

    /** Each row's last position that is not padding (rows are right-padded). */
    private int[] lastTokens(int[] ids, int b, int t) {
        int[] last = new int[b];
        for (int r = 0; r < b; r++) {
            int i = t - 1;
            while (i > 0 && ids[r * t + i] == config.padId()) {
                i--;
            }
            last[r] = i;
        }
        return last;
    }

    private INDArray notPad(int[] ids, int b, int t) {
        float[] mask = new float[ids.length];
        for (int i = 0; i < ids.length; i++) {
            mask[i] = ids[i] == config.padId() ? 0 : 1;
        }
        return Nd4j.createFromArray(mask).reshape(b, t).castTo(dataType);
    }

    private void check(Batch batch) {
        Transformer.checkIds("ids", batch.ids(), config.vocabSize(), false);
        if (batch.hasSource()) {
            throw new IllegalArgumentException("an lstm reads one sequence: a seq2seq batch needs an encoder_decoder");
        }
        if (config.isClassifier()) {
            if (batch.target() != null) {
                throw new IllegalArgumentException("a classifier takes a batch of ids and one label per row, not token targets");
            }
            if (batch.labels() != null) {
                for (int i = 0; i < batch.size(); i++) {
                    if (batch.labels()[i] < 0 || batch.labels()[i] >= config.numLabels()) {
                        throw new IllegalArgumentException("labels[" + i + "] = " + batch.labels()[i] + " is outside [0, "
                                + config.numLabels() + ")");
                    }
                }
            }
        } else if (batch.target() != null) {
            Transformer.checkIds("target", batch.target(), config.vocabSize(), true);
        }
        if (batch.length() > config.maxLen()) {
            throw new IllegalArgumentException("sequence length " + batch.length() + " exceeds max_len " + config.maxLen());
        }
    }

    /** Computed with the training forward; checks that there was one. */
    @Override
    public void backward() {
        if (!gradientReady) {
            throw new IllegalStateException("backward needs a training forward pass with targets first");
        }
        gradientReady = false;
    }

    @Override
    public INDArray logits() {
        if (logits == null) {
            throw new IllegalStateException("no logits: the last forward was a training step (Deeplearning4j keeps none)");
        }
        return logits;
    }
}
