package io.sparkformer.model;

/**
 * Every parameter's name, built here and nowhere else: {@link ParameterLayout} declares them,
 * {@link Transformer}'s layers and the incremental decoder look them up, checkpoints store them.
 * They are the reference spec's names. A linear layer or a LayerNorm called P has the tensors
 * {@code P.weight} and {@code P.bias}; an attention called A projects with {@code A.qkv} (the
 * fused block of {@code A.q}, {@code A.k} and {@code A.v}) and {@code A.o}; a feed-forward F with
 * {@code F.fc1} and {@code F.fc2}.
 */
public final class TensorNames {
    private TensorNames() {}

    public static final String TOKEN_EMBEDDING = "tok_emb";
    public static final String POSITIONS = "pos_emb";
    /** BERT's token-type (segment) embeddings, [types, d]. */
    public static final String TOKEN_TYPES = "type_emb";
    /** The LayerNorm over the embeddings' sum (BERT's). */
    public static final String EMBEDDING_NORM = "emb_ln";
    /** An untied output layer, [vocab, d] as the token embedding (logits = h·Wᵀ). */
    public static final String LM_HEAD = "lm_head";
    /** A classifier's head: logits = pooled·W + b, W [d_model, num_labels]. */
    public static final String CLASSIFIER = "classifier";
    /** BERT's pooler: a dense layer and tanh over the first token, before the classifier. */
    public static final String POOLER = "pooler";
    /** BERT's masked-LM transform (dense, activation, LayerNorm) before the tied output layer, whose bias is lm_head.bias. */
    public static final String MLM_DENSE = "mlm_head.dense";
    public static final String MLM_NORM = "mlm_head.ln";
    /** A recurrent model's token embedding, [d_model, vocab] row-major (Deeplearning4j's [vocab, d] column-major). */
    public static final String RECURRENT_EMBEDDING = "embedding.weight_t";

    public static String weight(String layer) { return layer + ".weight"; }

    public static String bias(String layer) { return layer + ".bias"; }

    /** Layer i of a stack ("encoder" or "decoder"). */
    public static String layer(String stack, int i) { return stack + ".layers." + i; }

    /** Layer i's self-attention, or with {@code cross} its attention over the encoder's output. */
    public static String attention(String stack, int i, boolean cross) {
        return layer(stack, i) + (cross ? ".cross_attn" : ".self_attn");
    }

    /** The fused [d, 3d] query, key and value projection of an attention. */
    public static String qkv(String attention) { return attention + ".qkv"; }

    /** One of an attention's projections as the spec names it: "q", "k" or "v" (a view of {@link #qkv}). */
    public static String projection(String attention, String part) { return attention + "." + part; }

    /** An attention's output projection. */
    public static String output(String attention) { return attention + ".o"; }

    public static String feedForward(String stack, int i) { return layer(stack, i) + ".ffn"; }

    public static String fc1(String feedForward) { return feedForward + ".fc1"; }

    public static String fc2(String feedForward) { return feedForward + ".fc2"; }

    /** Layer i's j-th LayerNorm (1: before or after self-attention, then cross-attention, then the feed-forward). */
    public static String norm(String stack, int i, int j) { return layer(stack, i) + ".ln" + j; }

    /** The LayerNorm after a pre-norm stack's last layer. */
    public static String finalNorm(String stack) { return stack + ".ln_f"; }

    /** Layer i of the recurrent baseline. */
    public static String recurrentLayer(int i) { return "lstm.layers." + i; }
}
