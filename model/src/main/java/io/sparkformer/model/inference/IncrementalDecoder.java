package io.sparkformer.model.inference;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.ParameterLayout;
import io.sparkformer.model.TensorNames;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.layers.Attention;
import io.sparkformer.model.layers.AttentionMask;
import io.sparkformer.model.layers.FeedForward;
import io.sparkformer.model.layers.LayerNorm;
import io.sparkformer.model.layers.Linear;
import io.sparkformer.model.layers.Ops;
import io.sparkformer.model.layers.Weights;

/**
 * Forward passes for generation, reading a trained model's weights in place. The decoder keeps
 * each layer's keys and values for the positions it has seen (a key/value cache), so a new token
 * costs one row through every layer and attention over the cached keys: O(T) per token, not
 * O(T²). Cross-attention's keys and values over the encoder output are computed once per source.
 * Rows (R) are independent sequences (lines of a batch, or beams); {@link State#reorder} follows beam
 * search's choices. The LayerNorms, feed-forwards, projections, softmax and masks are the training
 * layers' own (forward only, over the same weights), so the math is {@link Transformer}'s without
 * dropout; tested equal to it position by position. Shapes: R rows, n new positions, T cached
 * positions, S source positions, d the model width, h heads of hd = d/h each.
 */
public final class IncrementalDecoder implements StepDecoder {
    private final TransformerConfig cfg;
    private final DataType type;
    private final ParameterBuffer p;
    private final INDArray tokEmb;
    private final INDArray head;
    private final INDArray positions;
    private final double embScale;
    private final int heads;
    private final int d;
    private final int dk;

    public IncrementalDecoder(Transformer model) {
        this.cfg = model.config();
        this.type = model.dataType();
        this.p = model.parameters();
        this.tokEmb = p.tensor(TensorNames.TOKEN_EMBEDDING);
        this.head = cfg.tieEmbeddings() ? tokEmb : p.tensor(TensorNames.weight(TensorNames.LM_HEAD));
        this.positions = cfg.positional() == TransformerConfig.Positional.LEARNED ? p.tensor(TensorNames.POSITIONS)
                : Transformer.sinusoidalTable(cfg.maxLen(), cfg.dModel(), type);
        this.embScale = cfg.scaleEmbeddings() ? Math.sqrt(cfg.dModel()) : 1.0;
        this.heads = cfg.nHeads();
        this.d = cfg.dModel();
        this.dk = d / heads;
        for (String stack : ParameterLayout.stacks(cfg.kind())) {
            for (int i = 0; i < cfg.nLayers(); i++) {
                String ffn = TensorNames.feedForward(stack, i);
                feedForwards.put(ffn, new RowLayer<>(new FeedForward(Weights.of(p, null, TensorNames.fc1(ffn)),
                        Weights.of(p, null, TensorNames.fc2(ffn)), cfg.activation()),
                        (f, rows) -> f.allocate(type, rows, d, cfg.dFf())));
                for (int j = 1; j <= 3; j++) {
                    norm(TensorNames.norm(stack, i, j));
                }
            }
            norm(TensorNames.finalNorm(stack));
        }
    }

    /** The training layers' own LayerNorms and feed-forwards over the same weights (forward only), by name. */
    private final java.util.Map<String, RowLayer<LayerNorm>> norms = new java.util.HashMap<>();
    private final java.util.Map<String, RowLayer<FeedForward>> feedForwards = new java.util.HashMap<>();

    private void norm(String name) {
        if (p.layout().blocks().containsKey(TensorNames.weight(name))) {
            norms.put(name, new RowLayer<>(new LayerNorm(Weights.of(p, null, name), cfg.lnEps()), (n, rows) -> n.allocate(type, rows, d)));
        }
    }

    /** A layer whose buffers are sized for a number of rows, sized again when a call brings another. */
    private static final class RowLayer<L> {
        final L layer;
        final java.util.function.ObjLongConsumer<L> allocate;
        long rows = -1;

        RowLayer(L layer, java.util.function.ObjLongConsumer<L> allocate) {
            this.layer = layer;
            this.allocate = allocate;
        }

        L sized(long n) {
            if (n != rows) {
                allocate.accept(layer, n);
                rows = n;
            }
            return layer;
        }
    }

    @Override
    public TransformerConfig config() { return cfg; }

    /** The positions the model was trained with. */
    @Override
    public int window() { return cfg.maxLen(); }

    /** The decoding state of R rows: caches, positions, and the encoder memory if any. */
    public final class State implements StepDecoder.State {
        private final int rows;
        private int length;
        private INDArray[] keys;     // per decoder layer [R·h, maxLen, dk]
        private INDArray[] values;
        private INDArray[] crossKeys;    // per layer [R·h, S, dk]
        private INDArray[] crossValues;
        private boolean[][] sourcePad;   // [R][S]
        private boolean[][] selfPad;     // [R][maxLen]: the token at that position is pad_id

        private State(int rows) {
            this.rows = rows;
            this.selfPad = new boolean[rows][cfg.maxLen()];
            int layers = cfg.nLayers();
            keys = new INDArray[layers];
            values = new INDArray[layers];
            for (int l = 0; l < layers; l++) {
                keys[l] = Nd4j.create(type, (long) rows * heads, cfg.maxLen(), dk);
                values[l] = Nd4j.create(type, (long) rows * heads, cfg.maxLen(), dk);
            }
        }

        @Override
        public int rows() { return rows; }

        /** Positions already in the cache. */
        @Override
        public int length() { return length; }

        @Override
        public void reorder(int[] from) {
            StepDecoder.State.checkReorder(rows, from);
            int[] headRows = new int[rows * heads];
            for (int r = 0; r < rows; r++) {
                for (int h = 0; h < heads; h++) {
                    headRows[r * heads + h] = from[r] * heads + h;
                }
            }
            for (int l = 0; l < keys.length; l++) {
                keys[l] = pick(keys[l], headRows);
                values[l] = pick(values[l], headRows);
                if (crossKeys != null) {
                    crossKeys[l] = pick(crossKeys[l], headRows);
                    crossValues[l] = pick(crossValues[l], headRows);
                }
            }
            boolean[][] own = new boolean[rows][];
            for (int r = 0; r < rows; r++) {
                own[r] = selfPad[from[r]].clone();
            }
            selfPad = own;
            if (sourcePad != null) {
                boolean[][] pads = new boolean[rows][];
                for (int r = 0; r < rows; r++) {
                    pads[r] = sourcePad[from[r]];
                }
                sourcePad = pads;
            }
        }
    }

    private static INDArray pick(INDArray a, int[] rows) {
        long[] shape = a.shape();
        INDArray flat = a.reshape(shape[0], shape[1] * shape[2]);
        return Nd4j.pullRows(flat, 1, rows).reshape(shape);
    }

    /** A fresh state for a decoder-only model. */
    @Override
    public State start(int rows) {
        if (cfg.kind() != Kind.DECODER) {
            throw new IllegalStateException("start(rows) is for decoder models; an encoder-decoder starts from sources");
        }
        return new State(rows);
    }

    /**
     * Encodes the sources (one per row, padded with pad_id to the longest) and returns a state whose
     * cross-attention reads them.
     */
    @Override
    public State start(int[][] sources) {
        if (cfg.kind() != Kind.ENCODER_DECODER) {
            throw new IllegalStateException("sources need an encoder-decoder model");
        }
        int rows = sources.length;
        int longest = 0;
        for (int[] src : sources) {
            longest = Math.max(longest, src.length);
        }
        final int s = longest;
        if (s > cfg.maxLen()) {
            throw new IllegalArgumentException("a source has " + s + " tokens; the model's max_len is " + cfg.maxLen());
        }
        int[][] padded = new int[rows][s];
        boolean[][] pad = new boolean[rows][s];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < s; j++) {
                padded[r][j] = j < sources[r].length ? sources[r][j] : cfg.padId();
                pad[r][j] = j >= sources[r].length;
            }
        }
        INDArray x = embed(padded, 0);
        for (int l = 0; l < cfg.nLayers(); l++) {
            String attn = TensorNames.attention("encoder", l, false);
            String ffn = TensorNames.feedForward("encoder", l);
            x = sublayer(x, TensorNames.norm("encoder", l, 1), h -> {
                INDArray qkv = linear(h, TensorNames.qkv(attn));
                INDArray q = split(qkv, 0, rows, s);
                INDArray k = split(qkv, 1, rows, s);
                INDArray v = split(qkv, 2, rows, s);
                return project(attend(q, k, v, mask(rows, s, s, 0, false, pad)), TensorNames.output(attn), rows, s);
            });
            x = sublayer(x, TensorNames.norm("encoder", l, 2), h -> feedForward(h, ffn));
        }
        if (cfg.norm() == Norm.PRE) {
            x = layerNorm(x, TensorNames.finalNorm("encoder"));
        }
        State state = new State(rows);
        state.sourcePad = pad;
        state.crossKeys = new INDArray[cfg.nLayers()];
        state.crossValues = new INDArray[cfg.nLayers()];
        for (int l = 0; l < cfg.nLayers(); l++) {
            String w = TensorNames.qkv(TensorNames.attention("decoder", l, true));
            INDArray kv = x.mmul(p.block(TensorNames.weight(w)).get(all(), interval(d, 3 * d)))
                    .addiRowVector(p.block(TensorNames.bias(w)).get(interval(d, 3 * d)));
            state.crossKeys[l] = split(kv, 0, rows, s);
            state.crossValues[l] = split(kv, 1, rows, s);
        }
        return state;
    }

    /**
     * Feeds the next {@code tokens[r].length} tokens of every row (the same count for all rows) and
     * returns the logits after the last of them, [R, V].
     */
    @Override
    public INDArray step(StepDecoder.State state, int[][] tokens) {
        return step((State) state, tokens);
    }

    public INDArray step(State state, int[][] tokens) {
        int rows = state.rows;
        int n = tokens[0].length;
        int t0 = state.length;
        if (t0 + n > cfg.maxLen()) {
            throw new IllegalArgumentException("sequence longer than the model's max_len " + cfg.maxLen());
        }
        INDArray x = embed(tokens, t0);
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < n; j++) {
                state.selfPad[r][t0 + j] = tokens[r][j] == cfg.padId(); // masked as keys, as in training
            }
        }
        String stack = "decoder";
        for (int l = 0; l < cfg.nLayers(); l++) {
            final int layer = l;
            String self = TensorNames.attention(stack, l, false);
            String cross = TensorNames.attention(stack, l, true);
            int ln = 1;
            x = sublayer(x, TensorNames.norm(stack, l, ln++), h -> {
                INDArray qkv = linear(h, TensorNames.qkv(self));
                INDArray q = split(qkv, 0, rows, n);
                state.keys[layer].get(all(), interval(t0, t0 + n), all()).assign(split(qkv, 1, rows, n));
                state.values[layer].get(all(), interval(t0, t0 + n), all()).assign(split(qkv, 2, rows, n));
                INDArray k = state.keys[layer].get(all(), interval(0, t0 + n), all());
                INDArray v = state.values[layer].get(all(), interval(0, t0 + n), all());
                return project(attend(q, k, v, mask(rows, n, t0 + n, t0, true, state.selfPad)), TensorNames.output(self), rows, n);
            });
            if (state.crossKeys != null) {
                x = sublayer(x, TensorNames.norm(stack, l, ln++), h -> {
                    String w = TensorNames.qkv(cross);
                    INDArray q = h.mmul(p.block(TensorNames.weight(w)).get(all(), interval(0, d)))
                            .addiRowVector(p.block(TensorNames.bias(w)).get(interval(0, d)));
                    int s = state.sourcePad[0].length;
                    return project(attend(split(q, 0, rows, n), state.crossKeys[layer], state.crossValues[layer],
                            mask(rows, n, s, 0, false, state.sourcePad)), TensorNames.output(cross), rows, n);
                });
            }
            x = sublayer(x, TensorNames.norm(stack, l, ln), h -> feedForward(h, TensorNames.feedForward(stack, layer)));
        }
        if (cfg.norm() == Norm.PRE) {
            x = layerNorm(x, TensorNames.finalNorm(stack));
        }
        state.length = t0 + n;
        // the last position of each row
        int[] last = new int[rows];
        for (int r = 0; r < rows; r++) {
            last[r] = r * n + n - 1;
        }
        INDArray h = n == 1 ? x : Nd4j.pullRows(x, 1, last);
        return h.mmul(head.transpose());
    }

    // ------------------------------------------------------------------ the layers

    private interface Block {
        INDArray apply(INDArray normed);
    }

    /** pre: x + f(LN(x)); post: LN(x + f(x)). */
    private INDArray sublayer(INDArray x, String norm, Block f) {
        if (cfg.norm() == Norm.PRE) {
            return x.add(f.apply(layerNorm(x, norm)));
        }
        return layerNorm(x.add(f.apply(x)), norm);
    }

    private INDArray embed(int[][] ids, int offset) {
        int rows = ids.length;
        int n = ids[0].length;
        int[] flat = new int[rows * n];
        int[] pos = new int[rows * n];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < n; j++) {
                flat[r * n + j] = ids[r][j];
                pos[r * n + j] = offset + j;
            }
        }
        INDArray x = Nd4j.pullRows(tokEmb, 1, flat);
        if (embScale != 1.0) {
            x.muli(embScale);
        }
        return x.addi(Nd4j.pullRows(positions, 1, pos));
    }

    /** The training layer's LayerNorm of rows x (its output buffer: read it before the next call of the same norm). */
    private INDArray layerNorm(INDArray x, String name) {
        return norms.get(name).sized(x.size(0)).forward(x);
    }

    private INDArray linear(INDArray x, String name) {
        INDArray y = Nd4j.create(type, x.size(0), p.block(TensorNames.weight(name)).size(1));
        Linear.forward(x, p.block(TensorNames.weight(name)), p.block(TensorNames.bias(name)), y);
        return y;
    }

    /** The training layer's feed-forward of rows x. */
    private INDArray feedForward(INDArray x, String name) {
        return feedForwards.get(name).sized(x.size(0)).forward(x);
    }

    /** Block {@code which} (0 q, 1 k, 2 v) of a fused [R·n, k·d] projection as heads [R·h, n, dk]. */
    private INDArray split(INDArray fused, int which, int rows, int n) {
        INDArray part = fused.get(all(), interval((long) which * d, (long) (which + 1) * d));
        return part.reshape(rows, n, heads, dk).permute(0, 2, 1, 3).dup().reshape((long) rows * heads, n, dk);
    }

    /** softmax(q·kᵀ/√hd + mask)·v for [R·h, n, hd] queries over [R·h, T, hd] keys, with the training layer's softmax. */
    private INDArray attend(INDArray q, INDArray k, INDArray v, INDArray bias) {
        long bh = q.size(0);
        long n = q.size(1);
        long t = k.size(1);
        INDArray scores = Nd4j.create(type, bh, n, t);
        Ops.mm(q, k.dup(), scores, false, true, 1.0 / Math.sqrt(dk), 0.0);
        INDArray probs = Nd4j.create(type, bh, n, t);
        Attention.maskedSoftmax(scores, bias, probs);
        INDArray ctx = Nd4j.create(type, bh, n, dk);
        Ops.mm(probs, v.dup(), ctx, false, false, 1.0, 0.0);
        return ctx;
    }

    /** Heads [R·h, n, dk] back to rows [R·n, d], then the output projection. */
    private INDArray project(INDArray ctx, String prefix, int rows, int n) {
        INDArray merged = ctx.reshape(rows, heads, n, dk).permute(0, 2, 1, 3).dup().reshape((long) rows * n, d);
        return linear(merged, prefix);
    }

    /** The mask of n queries at positions offset.. over T keys; keyPad[r][j]: key j of row r is padding. */
    private INDArray mask(int rows, int n, int t, int offset, boolean causal, boolean[][] keyPad) {
        return AttentionMask.of(type, rows, heads, n, t, offset, causal, (r, j) -> keyPad != null && keyPad[r][j]);
    }

    /** Log-probabilities of a [R, V] logits matrix, row by row, as doubles. */
    public static double[][] logSoftmax(INDArray logits) {
        double[][] l = logits.castTo(DataType.DOUBLE).toDoubleMatrix();
        for (double[] row : l) {
            double max = Double.NEGATIVE_INFINITY;
            for (double v : row) {
                max = Math.max(max, v);
            }
            double sum = 0;
            for (double v : row) {
                sum += Math.exp(v - max);
            }
            double log = max + Math.log(sum);
            for (int i = 0; i < row.length; i++) {
                row[i] -= log;
            }
        }
        return l;
    }
}
