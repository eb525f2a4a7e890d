package io.sparkformer.model;

import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.TransformerConfig.Pooling;
import io.sparkformer.model.TransformerConfig.Positional;
import io.sparkformer.model.layers.Attention;
import io.sparkformer.model.layers.AttentionMask;
import io.sparkformer.model.layers.BufferSet;
import io.sparkformer.model.layers.ClassifierHead;
import io.sparkformer.model.layers.Dropout;
import io.sparkformer.model.layers.Embedding;
import io.sparkformer.model.layers.FeedForward;
import io.sparkformer.model.layers.LayerNorm;
import io.sparkformer.model.layers.MaskedLmTransform;
import io.sparkformer.model.layers.Ops;
import io.sparkformer.model.layers.Residual;
import io.sparkformer.model.layers.Sublayer;
import io.sparkformer.model.layers.TiedHeadLoss;
import io.sparkformer.model.layers.Weights;

/**
 * The three kinds of the reference spec wired from the layers: decoder (causal LM), encoder
 * (masked LM) and encoder_decoder (seq2seq). Parameters and gradients are two flat buffers of one
 * layout. Activations are allocated for a batch shape and reused until the shape changes.
 * Shapes: B batch rows, T target (or only) positions, S source positions, d the model width, h
 * heads of hd = d/h each. Parameter names come from {@link TensorNames}.
 *
 * <p>Not thread-safe: one model per thread.
 */
public final class Transformer implements Model {

    private final TransformerConfig config;
    private final DataType dataType;
    private final ParameterLayout layout;
    private final ParameterBuffer params;
    private final ParameterBuffer grads;

    private final Embedding encoderEmbedding;
    private final Embedding decoderEmbedding;
    private final Dropout encoderEmbeddingDropout;
    private final Dropout decoderEmbeddingDropout;
    /** embedding_norm: BERT's LayerNorm over each embedding's sum (one set of weights), else null. */
    private final LayerNorm encoderEmbeddingNorm;
    private final LayerNorm decoderEmbeddingNorm;
    private final Stack encoder;
    private final Stack decoder;
    private final TiedHeadLoss head;             // null for a classifier
    private final ClassifierHead classifier;     // null for a language model
    private final MaskedLmTransform mlmTransform; // BERT's masked-LM transform before the token head, or null
    private INDArray mlmGrad;

    // Per batch shape.
    private long batchSize = -1;
    private long length = -1;
    private long srcLength = -1;
    private INDArray ids, src, targets;
    private INDArray selfBias, encoderBias, crossBias;
    private INDArray memoryGrad, hiddenGrad;
    private INDArray encoderNormGrad, decoderNormGrad, encoderOnes, decoderOnes;
    private INDArray hidden;
    private int[] lastMaskKey;
    private boolean forwardDone;
    private boolean tokenHeadAllocated;
    private final BufferSet buffers = new BufferSet();

    public Transformer(TransformerConfig config, DataType dataType) {
        this(config, dataType, ParameterBuffer.Memory.ND4J);
    }

    /** As {@link #Transformer(TransformerConfig, DataType)}, with the parameters in memory from {@code parameterMemory}. */
    public Transformer(TransformerConfig config, DataType dataType, ParameterBuffer.Memory parameterMemory) {
        Nd4jRuntime.init();
        if (dataType != DataType.FLOAT && dataType != DataType.DOUBLE) {
            throw new IllegalArgumentException("data type must be FLOAT or DOUBLE, got " + dataType);
        }
        if (config.kind() == Kind.LSTM) {
            throw new IllegalArgumentException("an lstm is a RecurrentModel (Model.create), not a Transformer");
        }
        this.config = config;
        this.dataType = dataType;
        this.layout = ParameterLayout.of(config);
        this.params = new ParameterBuffer(layout, dataType, parameterMemory);
        this.grads = new ParameterBuffer(layout, dataType);

        INDArray positions;
        INDArray positionsGrad;
        if (config.positional() == Positional.LEARNED) {
            positions = params.tensor(TensorNames.POSITIONS);
            positionsGrad = grads.tensor(TensorNames.POSITIONS);
        } else {
            positions = sinusoidal(config.maxLen(), config.dModel(), dataType);
            positionsGrad = null;
        }
        INDArray tok = params.tensor(TensorNames.TOKEN_EMBEDDING);
        INDArray tokGrad = grads.tensor(TensorNames.TOKEN_EMBEDDING);
        boolean hasEnc = config.kind().hasEncoder();
        boolean hasDec = config.kind().hasDecoder();
        encoderEmbedding = hasEnc ? new Embedding(tok, tokGrad, positions, positionsGrad, config.scaleEmbeddings()) : null;
        decoderEmbedding = hasDec ? new Embedding(tok, tokGrad, positions, positionsGrad, config.scaleEmbeddings()) : null;
        if (config.typeVocabSize() > 0) {
            INDArray types = params.tensor(TensorNames.TOKEN_TYPES);
            INDArray typesGrad = grads.tensor(TensorNames.TOKEN_TYPES);
            for (Embedding e : new Embedding[] {encoderEmbedding, decoderEmbedding}) {
                if (e != null) {
                    e.withTypes(types, typesGrad);
                }
            }
        }
        Weights embeddingNorm = config.embeddingNorm() ? Weights.of(params, grads, TensorNames.EMBEDDING_NORM) : null;
        encoderEmbeddingNorm = hasEnc && embeddingNorm != null ? new LayerNorm(embeddingNorm, config.lnEps()) : null;
        decoderEmbeddingNorm = hasDec && embeddingNorm != null ? new LayerNorm(embeddingNorm, config.lnEps()) : null;
        encoderEmbeddingDropout = new Dropout(config.dropout());
        decoderEmbeddingDropout = new Dropout(config.dropout());
        encoder = hasEnc ? new Stack("encoder") : null;
        decoder = hasDec ? new Stack("decoder") : null;
        if (config.isClassifier()) {
            head = null;
            String head = TensorNames.CLASSIFIER;
            classifier = new ClassifierHead(params.tensor(TensorNames.weight(head)), params.tensor(TensorNames.bias(head)),
                    grads.tensor(TensorNames.weight(head)), grads.tensor(TensorNames.bias(head)), config.pooling(),
                    config.pooling() == Pooling.POOLER ? Weights.of(params, grads, TensorNames.POOLER) : null);
            mlmTransform = null;
        } else {
            classifier = null;
            head = config.tieEmbeddings() ? new TiedHeadLoss(tok, tokGrad)
                    : new TiedHeadLoss(params.tensor(TensorNames.weight(TensorNames.LM_HEAD)), grads.tensor(TensorNames.weight(TensorNames.LM_HEAD)));
            if (config.mlmHead()) {
                mlmTransform = new MaskedLmTransform(Weights.of(params, grads, TensorNames.MLM_DENSE),
                        Weights.of(params, grads, TensorNames.MLM_NORM), config.activation(), config.lnEps());
                head.withBias(params.tensor(TensorNames.bias(TensorNames.LM_HEAD)), grads.tensor(TensorNames.bias(TensorNames.LM_HEAD)));
            } else {
                mlmTransform = null;
            }
        }
    }

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

    @Override
    public long parameterCount() { return layout.size(); }

    /**
     * GPT-2 style initialisation from a seed: linear and embedding weights N(0, 0.02), output
     * projections of each residual branch scaled by 1/√(2·layers), biases 0, LayerNorm gains 1.
     */
    public void initialize(long seed) {
        initialize(seed, Init.GPT2);
    }

    /** Weight initialisation schemes. */
    public enum Init {
        /** Linear and embedding weights N(0, 0.02), residual outputs scaled by 1/√(2·layers). */
        GPT2,
        /** Every matrix U(±√(6/(fan_in + fan_out))), as the original Transformer and the Annotated Transformer. */
        XAVIER
    }

    @Override
    public void forInference() {
        buffers.forInference();
    }

    /** Initialises from a seed with the given scheme; biases 0 and LayerNorm gains 1 in both. */
    @Override
    public void initialize(long seed, Init scheme) {
        Nd4j.getRandom().setSeed(seed);
        int residualBranches = 2 * config.nLayers() * ParameterLayout.stacks(config.kind()).size();
        for (ParameterLayout.Tensor t : layout.tensors().values()) {
            INDArray view = params.tensor(t.name());
            String name = t.name();
            if (t.rank() >= 2 && scheme == Init.XAVIER) {
                double bound = Math.sqrt(6.0 / (t.shape()[0] + t.shape()[1]));
                view.assign(Nd4j.rand(dataType, t.shape()).muli(2 * bound).subi(bound));
            } else if (t.rank() >= 2) {
                double std = 0.02;
                if (name.endsWith(".o.weight") || name.endsWith("fc2.weight")) {
                    std /= Math.sqrt(residualBranches);
                }
                view.assign(Nd4j.randn(dataType, t.shape()).muli(std));
            } else if (name.matches("(.*[._])?ln\\w*\\.weight")) { // every LayerNorm's gain: ln1, ln_f, emb_ln, mlm_head.ln
                view.assign(1.0);
            } else {
                view.assign(0.0);
            }
        }
    }

    /** Runs the forward pass and returns the loss (NaN when the batch has no targets). */
    @Override
    public double forward(Batch batch, boolean training) {
        // with targets a backward pass may follow (dropout off or not): the layers keep what it reads
        INDArray hidden = stacks(batch, training, training || batch.labels() != null || batch.target() != null);
        if (classifier != null) {
            classifier.forwardLogits(hidden);
            forwardDone = batch.labels() != null;
            return forwardDone ? classifier.loss(batch.labels()) : Double.NaN;
        }
        if (!tokenHeadAllocated) {
            // [B·T, V] buffers (110 MB each at BERT's vocabulary and 900 rows): made when a pass needs them
            buffers.add(() -> head.allocate(dataType, batchSize * length));
            tokenHeadAllocated = true;
        }
        head.forwardLogits(mlmTransform != null ? mlmTransform.forward(hidden) : hidden);
        double loss = batch.target() == null ? Double.NaN : head.loss(targets, batch.target(), batch.countedTargets());
        forwardDone = batch.target() != null;
        return loss;
    }

    /**
     * The top hidden states of {@code batch}, [B·T, d], with no head and no dropout: what an
     * embedding reads, without the token head's vocabulary-wide logits. A backward pass needs
     * {@link #forward} first.
     */
    public INDArray hiddenStates(Batch batch) {
        forwardDone = false;
        return stacks(batch, false, false);
    }

    /** The embeddings and stacks of {@code batch}; returns the top hidden states. */
    private INDArray stacks(Batch batch, boolean training, boolean keep) {
        prepare(batch);
        INDArray memory = null;
        if (encoder != null) {
            boolean encoderOnly = config.kind() == Kind.ENCODER;
            INDArray x = encoderEmbedding.forward(encoderOnly ? ids : src, encoderOnly ? batch.types() : null);
            x = encoderEmbeddingDropout.forward(encoderEmbeddingNorm != null ? encoderEmbeddingNorm.forward(x, keep) : x, training);
            memory = encoder.forward(x, encoderBias, null, null, training, keep);
        }
        INDArray hidden;
        if (decoder != null) {
            INDArray x = decoderEmbedding.forward(ids, batch.types());
            x = decoderEmbeddingDropout.forward(decoderEmbeddingNorm != null ? decoderEmbeddingNorm.forward(x, keep) : x, training);
            hidden = decoder.forward(x, selfBias, memory, crossBias, training, keep);
        } else {
            hidden = memory;
        }
        this.hidden = hidden;
        return hidden;
    }

    /** Zeroes the gradients and back-propagates the loss of the last {@link #forward}. */
    @Override
    public void backward() {
        if (!forwardDone) {
            throw new IllegalStateException("backward needs a forward pass with targets first");
        }
        grads.zero();
        if (classifier != null) {
            classifier.backward(hiddenGrad);
        } else if (mlmTransform != null) {
            head.backward(mlmGrad);
            mlmTransform.backward(mlmGrad, hiddenGrad);
        } else {
            head.backward(hiddenGrad);
        }
        if (decoder != null) {
            if (memoryGrad != null) {
                memoryGrad.assign(0);
            }
            INDArray dx = decoder.backward(hiddenGrad, memoryGrad);
            decoderEmbeddingDropout.backward(dx);
            if (decoderEmbeddingNorm != null) {
                decoderEmbeddingNorm.backward(dx, decoderNormGrad, null, decoderOnes);
                dx = decoderNormGrad;
            }
            decoderEmbedding.backward(dx);
        }
        if (encoder != null) {
            INDArray dTop = config.kind() == Kind.ENCODER ? hiddenGrad : memoryGrad;
            INDArray dx = encoder.backward(dTop, null);
            encoderEmbeddingDropout.backward(dx);
            if (encoderEmbeddingNorm != null) {
                encoderEmbeddingNorm.backward(dx, encoderNormGrad, null, encoderOnes);
                dx = encoderNormGrad;
            }
            encoderEmbedding.backward(dx);
        }
        forwardDone = false;
    }

    /** Forward with dropout on, then backward; returns the loss. */
    @Override
    public double forwardBackward(Batch batch) {
        double loss = forward(batch, true);
        backward();
        return loss;
    }

    /** The top layer's hidden states of the last forward pass, [B·T, d] (after the final LayerNorm of a pre-norm stack). */
    public INDArray hiddenStates() { return hidden; }

    /** A classifier's pooled rows of the last forward pass, [B, d]: with pooling pooler, BERT's pooler_output. */
    public INDArray pooledOutput() {
        if (classifier == null) {
            throw new IllegalStateException("a language model pools nothing");
        }
        return classifier.pooledOutput();
    }

    /** Logits of the last forward pass, [B·T, V] (a classifier's: [B, labels]); overwritten by the next one. */
    @Override
    public INDArray logits() { return classifier != null ? classifier.logits() : head.logits(); }

    /** Attention probabilities [B·h, Tq, Tk] of a layer's self- or cross-attention, last forward. */
    public INDArray attentionProbabilities(String stack, int layer, boolean cross) {
        Stack s = stack.equals("encoder") ? encoder : decoder;
        if (s == null) {
            throw new IllegalArgumentException("this " + config.kind() + " model has no " + stack);
        }
        return (cross ? s.crossAttention.get(layer) : s.selfAttention.get(layer)).probabilities();
    }

    // ------------------------------------------------------------------ batch preparation

    private void prepare(Batch batch) {
        int vocab = config.vocabSize();
        checkIds("ids", batch.ids(), vocab, false);
        if (batch.target() != null) {
            checkIds("target", batch.target(), vocab, true);
        }
        if (config.isClassifier() && (batch.target() != null || batch.hasSource())) {
            throw new IllegalArgumentException("a classifier takes a batch of ids and one label per row, not token targets");
        }
        if (batch.length() > config.maxLen()) {
            throw new IllegalArgumentException("sequence length " + batch.length() + " exceeds max_len " + config.maxLen());
        }
        if (config.kind() == Kind.ENCODER_DECODER) {
            if (!batch.hasSource()) {
                throw new IllegalArgumentException("an encoder_decoder model needs a batch with a source");
            }
            checkIds("src", batch.src(), vocab, false);
            if (batch.srcLength() > config.maxLen()) {
                throw new IllegalArgumentException("source length " + batch.srcLength() + " exceeds max_len " + config.maxLen());
            }
        }
        long s = batch.hasSource() ? batch.srcLength() : 0;
        if (batch.size() != batchSize || batch.length() != length || s != srcLength) {
            buffers.allocate(() -> allocate(batch.size(), batch.length(), s));
        }
        Ops.assignAndFree(ids, Nd4j.createFromArray(batch.ids()));
        if (src != null) {
            Ops.assignAndFree(src, Nd4j.createFromArray(batch.src()));
        }
        if (batch.target() != null) {
            Ops.assignAndFree(targets, Nd4j.createFromArray(batch.target()));
        }
        buildMasks(batch);
        if (classifier != null) {
            classifier.setRows(batch.ids(), config.padId());
        }
    }

    /** One side's embedding, its LayerNorm and dropout, and its stack, for B rows of {@code len} (memory: the source's length). */
    private void allocateSide(boolean encoderSide, long b, long len, long memory, INDArray ones, INDArray onesMemory) {
        (encoderSide ? encoderEmbedding : decoderEmbedding).allocate(dataType, b, len);
        allocateEmbeddingNorm(encoderSide, b * len, ones);
        (encoderSide ? encoderEmbeddingDropout : decoderEmbeddingDropout).allocate(dataType, b * len, config.dModel());
        (encoderSide ? encoder : decoder).allocate(new Sublayer.Shape(b, len, memory, ones, onesMemory));
    }

    private void allocateEmbeddingNorm(boolean encoderSide, long rows, INDArray onesRows) {
        LayerNorm norm = encoderSide ? encoderEmbeddingNorm : decoderEmbeddingNorm;
        if (norm == null) {
            return;
        }
        norm.allocate(dataType, rows, config.dModel());
        INDArray grad = Ops.buffer(dataType, rows, config.dModel());
        if (encoderSide) {
            encoderNormGrad = grad;
            encoderOnes = onesRows;
        } else {
            decoderNormGrad = grad;
            decoderOnes = onesRows;
        }
    }

    /** Every id in [0, vocab) (or −1 where {@code allowIgnore}); else an error naming the entry. */
    public static void checkIds(String what, int[] values, int vocab, boolean allowIgnore) {
        for (int i = 0; i < values.length; i++) {
            int v = values[i];
            if (v >= vocab || v < (allowIgnore ? -1 : 0)) {
                throw new IllegalArgumentException(what + "[" + i + "] = " + v + " is outside the vocabulary [0, "
                        + vocab + ")" + (allowIgnore ? " (or -1 to ignore)" : ""));
            }
        }
    }

    private void allocate(long b, long t, long s) {
        batchSize = b;
        length = t;
        srcLength = s;
        int d = config.dModel();
        ids = Ops.buffer(DataType.INT32, b * t);
        targets = Ops.buffer(DataType.INT32, b * t);
        src = s > 0 ? Ops.buffer(DataType.INT32, b * s) : null;
        long heads = config.nHeads();
        INDArray onesT = Ops.ones(dataType, b * t);
        INDArray onesS = s > 0 ? Ops.ones(dataType, b * s) : null;
        lastMaskKey = null;
        switch (config.kind()) {
            case DECODER -> {
                selfBias = Ops.buffer(dataType, b * heads, t, t);
                allocateSide(false, b, t, 0, onesT, null);
            }
            case ENCODER -> {
                encoderBias = Ops.buffer(dataType, b * heads, t, t);
                allocateSide(true, b, t, 0, onesT, null);
            }
            case ENCODER_DECODER -> {
                encoderBias = Ops.buffer(dataType, b * heads, s, s);
                selfBias = Ops.buffer(dataType, b * heads, t, t);
                crossBias = Ops.buffer(dataType, b * heads, t, s);
                allocateSide(true, b, s, 0, onesS, null);
                allocateSide(false, b, t, s, onesT, onesS);
                memoryGrad = Ops.buffer(dataType, b * s, d);
            }
        }
        if (classifier != null) {
            classifier.allocate(dataType, b, t, d);
        }
        tokenHeadAllocated = false; // made by the first forward pass that computes logits
        if (mlmTransform != null) {
            mlmTransform.allocate(dataType, b * t, d, onesT);
            mlmGrad = Ops.buffer(dataType, b * t, d);
        }
        hiddenGrad = Ops.buffer(dataType, b * t, d);
    }

    /**
     * Builds the additive masks: decoder self-attention allows k ≤ q with key not pad; encoder
     * self-attention and cross-attention allow every key that is not pad. Skipped when the pad
     * pattern is the same as the last batch's.
     */
    private void buildMasks(Batch batch) {
        int pad = config.padId();
        int b = batch.size();
        int t = batch.length();
        int s = batch.hasSource() ? batch.srcLength() : 0;
        boolean[] keyPad = padPattern(batch.ids(), pad);
        boolean[] srcPad = batch.hasSource() ? padPattern(batch.src(), pad) : new boolean[0];
        int[] key = maskKey(keyPad, srcPad);
        if (Arrays.equals(key, lastMaskKey)) {
            return;
        }
        lastMaskKey = key;
        int h = config.nHeads();
        switch (config.kind()) {
            case DECODER -> fill(selfBias, b, h, t, t, keyPad, true);
            case ENCODER -> fill(encoderBias, b, h, t, t, keyPad, false);
            case ENCODER_DECODER -> {
                fill(encoderBias, b, h, s, s, srcPad, false);
                fill(selfBias, b, h, t, t, keyPad, true);
                fill(crossBias, b, h, t, s, srcPad, false);
            }
        }
    }

    private static boolean[] padPattern(int[] values, int pad) {
        boolean[] p = new boolean[values.length];
        for (int i = 0; i < values.length; i++) {
            p[i] = values[i] == pad;
        }
        return p;
    }

    private static int[] maskKey(boolean[] a, boolean[] b) {
        int[] k = new int[a.length + b.length + 1];
        k[0] = a.length;
        for (int i = 0; i < a.length; i++) {
            k[i + 1] = a[i] ? 1 : 0;
        }
        for (int i = 0; i < b.length; i++) {
            k[a.length + 1 + i] = b[i] ? 1 : 0;
        }
        return k;
    }

    private static void fill(INDArray target, int b, int h, int tq, int tk, boolean[] keyIsPad, boolean causal) {
        AttentionMask.fill(target, b, h, tq, tk, 0, causal, (r, k) -> keyIsPad[r * tk + k]);
    }

    /** The sinusoidal position table of the spec, [maxLen, d]. */
    public static INDArray sinusoidalTable(int maxLen, int d, DataType type) {
        return sinusoidal(maxLen, d, type);
    }

    static INDArray sinusoidal(int maxLen, int d, DataType type) {
        double[] pe = new double[maxLen * d];
        for (int p = 0; p < maxLen; p++) {
            for (int i = 0; i < d; i += 2) {
                double angle = p / Math.pow(10000.0, (double) i / d);
                pe[p * d + i] = Math.sin(angle);
                pe[p * d + i + 1] = Math.cos(angle);
            }
        }
        return Nd4j.createFromArray(pe).reshape(maxLen, d).castTo(type);
    }

    // ------------------------------------------------------------------ stacks

    /** The layers of the encoder or the decoder, with the final LayerNorm under pre-norm. */
    private final class Stack {
        final List<Residual> blocks = new ArrayList<>();
        final List<Attention> selfAttention = new ArrayList<>();
        final List<Attention> crossAttention = new ArrayList<>();
        final LayerNorm finalNorm;
        INDArray selfMask, crossMask, memory, memoryGradient;
        INDArray onesMemory;

        Stack(String name) {
            boolean pre = config.norm() == Norm.PRE;
            boolean cross = ParameterLayout.hasCrossAttention(config, name);
            double p = config.dropout();
            for (int i = 0; i < config.nLayers(); i++) {
                int ln = 1;
                Attention self = Attention.self(config.nHeads(), attentionWeights(name, i, false), attentionOutput(name, i, false),
                        new Dropout(p));
                selfAttention.add(self);
                blocks.add(new Residual(new AttentionSublayer(self, false), norm(TensorNames.norm(name, i, ln++)), pre, p,
                        blocks.size()));
                if (cross) {
                    Attention c = Attention.cross(config.nHeads(), attentionWeights(name, i, true), attentionOutput(name, i, true),
                            new Dropout(p));
                    crossAttention.add(c);
                    blocks.add(new Residual(new AttentionSublayer(c, true), norm(TensorNames.norm(name, i, ln++)), pre, p,
                            blocks.size()));
                }
                String ffn = TensorNames.feedForward(name, i);
                FeedForward f = new FeedForward(Weights.of(params, grads, TensorNames.fc1(ffn)),
                        Weights.of(params, grads, TensorNames.fc2(ffn)), config.activation());
                blocks.add(new Residual(new FeedForwardSublayer(f), norm(TensorNames.norm(name, i, ln)), pre, p, blocks.size()));
            }
            finalNorm = pre ? norm(TensorNames.finalNorm(name)) : null;
        }

        private Weights attentionWeights(String stack, int layer, boolean cross) {
            return Weights.of(params, grads, TensorNames.qkv(TensorNames.attention(stack, layer, cross)));
        }

        private Weights attentionOutput(String stack, int layer, boolean cross) {
            return Weights.of(params, grads, TensorNames.output(TensorNames.attention(stack, layer, cross)));
        }

        private LayerNorm norm(String name) {
            return new LayerNorm(Weights.of(params, grads, name), config.lnEps());
        }

        private INDArray finalGrad;
        private INDArray onesRows;

        void allocate(Sublayer.Shape shape) {
            onesRows = shape.onesRows();
            onesMemory = shape.onesMemoryRows();
            for (Residual r : blocks) {
                r.allocate(dataType, shape, config.dModel());
            }
            if (finalNorm != null) {
                finalNorm.allocate(dataType, shape.rows(), config.dModel());
                finalGrad = Ops.buffer(dataType, shape.rows(), config.dModel());
            }
        }

        INDArray forward(INDArray x, INDArray selfMask, INDArray memory, INDArray crossMask, boolean training, boolean keep) {
            this.selfMask = selfMask;
            this.memory = memory;
            this.crossMask = crossMask;
            for (Residual r : blocks) {
                x = r.forward(x, training, keep);
            }
            return finalNorm != null ? finalNorm.forward(x, keep) : x;
        }

        /** Returns dL/d(stack input); adds dL/d(memory) into memoryGradient when there is one. */
        INDArray backward(INDArray dOut, INDArray memoryGradient) {
            this.memoryGradient = memoryGradient;
            INDArray d = dOut;
            if (finalNorm != null) {
                finalNorm.backward(dOut, finalGrad, null, onesRows);
                d = finalGrad;
            }
            for (int i = blocks.size() - 1; i >= 0; i--) {
                d = blocks.get(i).backward(d);
            }
            return d;
        }

        private final class AttentionSublayer implements Sublayer {
            final Attention attention;
            final boolean cross;
            INDArray ones;

            AttentionSublayer(Attention attention, boolean cross) {
                this.attention = attention;
                this.cross = cross;
            }

            @Override
            public void allocate(DataType type, Shape shape) {
                ones = shape.onesRows();
                attention.allocate(type, shape.batch(), shape.length(), cross ? shape.memoryLength() : shape.length());
            }

            @Override
            public INDArray forward(INDArray x, boolean training, boolean keep) {
                return cross ? attention.forward(x, memory, crossMask, training)
                        : attention.forward(x, x, selfMask, training, keep);
            }

            @Override
            public void backward(INDArray dOut, INDArray dx, boolean accumulate) {
                attention.backward(dOut, dx, accumulate, cross ? memoryGradient : null, ones, onesMemory);
            }
        }

        private static final class FeedForwardSublayer implements Sublayer {
            final FeedForward ffn;
            INDArray ones;

            FeedForwardSublayer(FeedForward ffn) {
                this.ffn = ffn;
            }

            @Override
            public void allocate(DataType type, Shape shape) {
                ones = shape.onesRows();
                ffn.allocate(type, shape.rows(), ffn.inputWidth(), ffn.hiddenWidth());
            }

            @Override
            public INDArray forward(INDArray x, boolean training, boolean keep) {
                return ffn.forward(x, training);
            }

            @Override
            public void backward(INDArray dOut, INDArray dx, boolean accumulate) {
                ffn.backward(dOut, dx, accumulate, ones);
            }
        }
    }
}
