package io.sparkformer.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where each parameter lives in the one flat buffer.
 *
 * <p>Two kinds of entries: <em>blocks</em>, the contiguous regions the layers compute with (the
 * fused {@code [d, 3d]} Q/K/V weight, so one GEMM projects all three), and <em>tensors</em>, the
 * spec's named weights, each a (possibly strided) view into a block. AdamW decays the tensors of
 * two or more dimensions, the {@link #decayedRanges}: in a transformer they all come first (one
 * prefix); a recurrent model keeps Deeplearning4j's order, each layer's bias after its matrices.
 */
public final class ParameterLayout {

    /** A contiguous region of the flat buffer, row-major. */
    public record Block(String name, long offset, long[] shape) {
        public long size() {
            long n = 1;
            for (long s : shape) {
                n *= s;
            }
            return n;
        }
    }

    /**
     * A spec tensor: {@code columns} [colStart, colStart + shape[last]) of its block. A 1-D tensor
     * is the range [colStart, colStart + shape[0]) of a 1-D block.
     */
    public record Tensor(String name, String block, long colStart, long[] shape) {
        public int rank() { return shape.length; }

        public long size() {
            long n = 1;
            for (long s : shape) {
                n *= s;
            }
            return n;
        }
    }

    private final Map<String, Block> blocks;
    private final Map<String, Tensor> tensors;
    private final long size;
    private final long[] decayedRanges;

    private ParameterLayout(Map<String, Block> blocks, Map<String, Tensor> tensors, long size) {
        this.blocks = Collections.unmodifiableMap(blocks);
        this.tensors = Collections.unmodifiableMap(tensors);
        this.size = size;
        List<Long> ranges = new ArrayList<>();
        for (Block b : blocks.values()) {
            if (b.shape().length < 2) {
                continue;
            }
            int n = ranges.size();
            if (n > 0 && ranges.get(n - 1) == b.offset()) {
                ranges.set(n - 1, b.offset() + b.size());
            } else {
                ranges.add(b.offset());
                ranges.add(b.offset() + b.size());
            }
        }
        this.decayedRanges = ranges.stream().mapToLong(Long::longValue).toArray();
    }

    public long size() { return size; }

    /**
     * The elements that belong to tensors of two or more dimensions, as [start, end) pairs in
     * ascending order, adjacent blocks merged: {@code {0, decayedSize}} for a transformer.
     */
    public long[] decayedRanges() { return decayedRanges.clone(); }

    /** The end of the decayed prefix [0, decayedSize): all decayed elements when they form one. */
    public long decayedSize() {
        if (decayedRanges.length == 0) {
            return 0;
        }
        if (decayedRanges.length != 2 || decayedRanges[0] != 0) {
            throw new IllegalStateException("this layout's decayed elements are not one prefix; use decayedRanges");
        }
        return decayedRanges[1];
    }

    public Map<String, Block> blocks() { return blocks; }

    /** The spec's tensors in layout order. */
    public Map<String, Tensor> tensors() { return tensors; }

    public Block block(String name) {
        Block b = blocks.get(name);
        if (b == null) {
            throw new IllegalArgumentException("no parameter block named " + name);
        }
        return b;
    }

    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new IllegalArgumentException("no parameter tensor named " + name);
        }
        return t;
    }

    /** The stacks a kind has, in forward order. */
    public static List<String> stacks(TransformerConfig.Kind kind) {
        return switch (kind) {
            case DECODER -> List.of("decoder");
            case ENCODER -> List.of("encoder");
            case ENCODER_DECODER -> List.of("encoder", "decoder");
            case LSTM -> List.of();
        };
    }

    public static boolean hasCrossAttention(TransformerConfig cfg, String stack) {
        return cfg.kind() == TransformerConfig.Kind.ENCODER_DECODER && stack.equals("decoder");
    }

    public static ParameterLayout of(TransformerConfig cfg) {
        if (cfg.kind() == TransformerConfig.Kind.LSTM) {
            return recurrent(cfg);
        }
        Builder b = new Builder();
        int d = cfg.dModel();
        int ff = cfg.dFf();
        // Matrices first: everything AdamW decays.
        b.matrix(TensorNames.TOKEN_EMBEDDING, cfg.vocabSize(), d);
        if (!cfg.tieEmbeddings() && !cfg.isClassifier()) {
            b.matrix(TensorNames.weight(TensorNames.LM_HEAD), cfg.vocabSize(), d); // logits = h·Wᵀ, stored as tok_emb is
        }
        if (cfg.positional() == TransformerConfig.Positional.LEARNED) {
            b.matrix(TensorNames.POSITIONS, cfg.maxLen(), d);
        }
        if (cfg.typeVocabSize() > 0) {
            b.matrix(TensorNames.TOKEN_TYPES, cfg.typeVocabSize(), d);
        }
        for (String stack : stacks(cfg.kind())) {
            for (int i = 0; i < cfg.nLayers(); i++) {
                for (String attn : attentions(cfg, stack, i)) {
                    b.fusedColumns(TensorNames.weight(TensorNames.qkv(attn)), d, d, TensorNames.weight(TensorNames.projection(attn, "q")),
                            TensorNames.weight(TensorNames.projection(attn, "k")), TensorNames.weight(TensorNames.projection(attn, "v")));
                    b.matrix(TensorNames.weight(TensorNames.output(attn)), d, d);
                }
                String ffn = TensorNames.feedForward(stack, i);
                b.matrix(TensorNames.weight(TensorNames.fc1(ffn)), d, ff);
                b.matrix(TensorNames.weight(TensorNames.fc2(ffn)), ff, d);
            }
        }
        if (cfg.isClassifier()) {
            b.matrix(TensorNames.weight(TensorNames.CLASSIFIER), d, cfg.numLabels()); // [in, out] as every linear layer
        }
        if (cfg.isClassifier() && cfg.pooling() == TransformerConfig.Pooling.POOLER) {
            b.matrix(TensorNames.weight(TensorNames.POOLER), d, d);
        }
        if (cfg.mlmHead()) {
            b.matrix(TensorNames.weight(TensorNames.MLM_DENSE), d, d);
        }
        if (cfg.embeddingNorm()) {
            b.norm(TensorNames.EMBEDDING_NORM, d);
        }
        for (String stack : stacks(cfg.kind())) {
            for (int i = 0; i < cfg.nLayers(); i++) {
                List<String> attns = attentions(cfg, stack, i);
                for (String attn : attns) {
                    b.fusedVector(TensorNames.bias(TensorNames.qkv(attn)), d, TensorNames.bias(TensorNames.projection(attn, "q")),
                            TensorNames.bias(TensorNames.projection(attn, "k")), TensorNames.bias(TensorNames.projection(attn, "v")));
                    b.vector(TensorNames.bias(TensorNames.output(attn)), d);
                }
                String ffn = TensorNames.feedForward(stack, i);
                b.vector(TensorNames.bias(TensorNames.fc1(ffn)), ff);
                b.vector(TensorNames.bias(TensorNames.fc2(ffn)), d);
                for (int j = 1; j <= attns.size() + 1; j++) {
                    b.norm(TensorNames.norm(stack, i, j), d);
                }
            }
            if (cfg.norm() == TransformerConfig.Norm.PRE) {
                b.norm(TensorNames.finalNorm(stack), d);
            }
        }
        if (cfg.isClassifier()) {
            b.vector(TensorNames.bias(TensorNames.CLASSIFIER), cfg.numLabels());
        }
        if (cfg.isClassifier() && cfg.pooling() == TransformerConfig.Pooling.POOLER) {
            b.vector(TensorNames.bias(TensorNames.POOLER), d);
        }
        if (cfg.mlmHead()) {
            b.vector(TensorNames.bias(TensorNames.MLM_DENSE), d);
            b.norm(TensorNames.MLM_NORM, d);
            b.vector(TensorNames.bias(TensorNames.LM_HEAD), cfg.vocabSize());
        }
        return new ParameterLayout(b.blocks, b.tensors, b.offset);
    }

    /**
     * A recurrent model's parameters in Deeplearning4j's flat order (layer by layer, each layer's
     * parameters in its initializer's order), so the network computes on views of this buffer.
     * Deeplearning4j keeps its matrices column-major; each is declared here by its row-major
     * shape over the same memory: the embedding [d, vocab], an LSTM layer's input and recurrent
     * weights [4d, in] and [4d, d] (PyTorch's weight_ih and weight_hh shapes; the gates in
     * Deeplearning4j's order), the head [out, d] as a PyTorch Linear.
     */
    private static ParameterLayout recurrent(TransformerConfig cfg) {
        Builder b = new Builder();
        int d = cfg.dModel();
        b.matrix(TensorNames.RECURRENT_EMBEDDING, d, cfg.vocabSize());
        for (int i = 0; i < cfg.nLayers(); i++) {
            String layer = TensorNames.recurrentLayer(i);
            b.matrix(layer + ".weight_ih", 4L * d, d);
            b.matrix(layer + ".weight_hh", 4L * d, d);
            b.vector(TensorNames.bias(layer), 4L * d);
        }
        int out = cfg.isClassifier() ? cfg.numLabels() : cfg.vocabSize();
        String head = cfg.isClassifier() ? TensorNames.CLASSIFIER : TensorNames.LM_HEAD;
        b.matrix(TensorNames.weight(head), out, d);
        b.vector(TensorNames.bias(head), out);
        return new ParameterLayout(b.blocks, b.tensors, b.offset);
    }

    /** Layer i's attentions, by name: self-attention, then cross-attention in an encoder-decoder's decoder. */
    static List<String> attentions(TransformerConfig cfg, String stack, int i) {
        List<String> a = new ArrayList<>();
        a.add(TensorNames.attention(stack, i, false));
        if (hasCrossAttention(cfg, stack)) {
            a.add(TensorNames.attention(stack, i, true));
        }
        return a;
    }

    private static final class Builder {
        final Map<String, Block> blocks = new LinkedHashMap<>();
        final Map<String, Tensor> tensors = new LinkedHashMap<>();
        long offset;

        void matrix(String name, long rows, long cols) {
            blocks.put(name, new Block(name, offset, new long[] {rows, cols}));
            tensors.put(name, new Tensor(name, name, 0, new long[] {rows, cols}));
            offset += rows * cols;
        }

        void fusedColumns(String blockName, long rows, long cols, String... parts) {
            blocks.put(blockName, new Block(blockName, offset, new long[] {rows, cols * parts.length}));
            for (int i = 0; i < parts.length; i++) {
                tensors.put(parts[i], new Tensor(parts[i], blockName, i * cols, new long[] {rows, cols}));
            }
            offset += rows * cols * parts.length;
        }

        void vector(String name, long n) {
            blocks.put(name, new Block(name, offset, new long[] {n}));
            tensors.put(name, new Tensor(name, name, 0, new long[] {n}));
            offset += n;
        }

        void norm(String name, long n) {
            vector(TensorNames.weight(name), n);
            vector(TensorNames.bias(name), n);
        }

        void fusedVector(String blockName, long n, String... parts) {
            blocks.put(blockName, new Block(blockName, offset, new long[] {n * parts.length}));
            for (int i = 0; i < parts.length; i++) {
                tensors.put(parts[i], new Tensor(parts[i], blockName, i * n, new long[] {n}));
            }
            offset += n * parts.length;
        }
    }
}
