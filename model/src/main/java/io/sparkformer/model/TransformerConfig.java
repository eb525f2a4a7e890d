package io.sparkformer.model;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The architecture of one model: its kind and every switch of the reference spec, validated.
 * Names and values match the spec's config table, so the same JSON describes a golden case, a
 * checkpoint and a job's model section.
 */
public record TransformerConfig(
        Kind kind,
        int vocabSize,
        int dModel,
        int nHeads,
        int nLayers,
        int dFf,
        int maxLen,
        Norm norm,
        Positional positional,
        Activation activation,
        boolean scaleEmbeddings,
        double lnEps,
        int padId,
        double dropout,
        boolean tieEmbeddings,
        int numLabels,
        Pooling pooling,
        int typeVocabSize,
        boolean embeddingNorm,
        boolean mlmHead) implements java.io.Serializable {

    /** Without BERT's masked-LM head: the token head reads the top hidden states directly, with no bias. */
    public TransformerConfig(Kind kind, int vocabSize, int dModel, int nHeads, int nLayers, int dFf, int maxLen, Norm norm,
                             Positional positional, Activation activation, boolean scaleEmbeddings, double lnEps, int padId,
                             double dropout, boolean tieEmbeddings, int numLabels, Pooling pooling, int typeVocabSize,
                             boolean embeddingNorm) {
        this(kind, vocabSize, dModel, nHeads, nLayers, dFf, maxLen, norm, positional, activation, scaleEmbeddings, lnEps,
                padId, dropout, tieEmbeddings, numLabels, pooling, typeVocabSize, embeddingNorm, false);
    }

    /**
     * Without BERT's embedding switches: no token types ({@code typeVocabSize} 0) and no LayerNorm over
     * the embeddings.
     */
    public TransformerConfig(Kind kind, int vocabSize, int dModel, int nHeads, int nLayers, int dFf, int maxLen, Norm norm,
                             Positional positional, Activation activation, boolean scaleEmbeddings, double lnEps, int padId,
                             double dropout, boolean tieEmbeddings, int numLabels, Pooling pooling) {
        this(kind, vocabSize, dModel, nHeads, nLayers, dFf, maxLen, norm, positional, activation, scaleEmbeddings, lnEps,
                padId, dropout, tieEmbeddings, numLabels, pooling, 0, false);
    }

    /** A language model (no classifier head). */
    public TransformerConfig(Kind kind, int vocabSize, int dModel, int nHeads, int nLayers, int dFf, int maxLen, Norm norm,
                             Positional positional, Activation activation, boolean scaleEmbeddings, double lnEps, int padId,
                             double dropout, boolean tieEmbeddings) {
        this(kind, vocabSize, dModel, nHeads, nLayers, dFf, maxLen, norm, positional, activation, scaleEmbeddings, lnEps,
                padId, dropout, tieEmbeddings, 0, null);
    }

    /** The spec's family: the output head is the token embedding (tied). */
    public TransformerConfig(Kind kind, int vocabSize, int dModel, int nHeads, int nLayers, int dFf, int maxLen, Norm norm,
                             Positional positional, Activation activation, boolean scaleEmbeddings, double lnEps, int padId,
                             double dropout) {
        this(kind, vocabSize, dModel, nHeads, nLayers, dFf, maxLen, norm, positional, activation, scaleEmbeddings, lnEps,
                padId, dropout, true);
    }

    /**
     * The three transformer kinds, and the recurrent baseline: LSTM layers over a token embedding,
     * a next-token language model or a classifier (see {@link RecurrentModel}). The transformer
     * switches (heads, d_ff, norm, positions, activation) do not apply to it.
     */
    public enum Kind {
        DECODER, ENCODER, ENCODER_DECODER, LSTM;

        public boolean hasEncoder() { return this == ENCODER || this == ENCODER_DECODER; }
        public boolean hasDecoder() { return this == DECODER || this == ENCODER_DECODER; }
        /** Reads its input left to right and predicts each next token: a decoder or an LSTM. */
        public boolean isCausal() { return this == DECODER || this == LSTM; }
    }

    public enum Norm { PRE, POST }

    public enum Positional { LEARNED, SINUSOIDAL }

    /** The feed-forward's activation: exact (erf) GELU, GELU's tanh approximation (GPT-2's "gelu_new"), or ReLU. */
    public enum Activation { GELU, GELU_TANH, RELU }

    /**
     * Which positions of the top hidden states a classifier reads: the first token (BERT's
     * [CLS] place), the mean over tokens that are not padding, the last such token (a decoder,
     * whose last position has seen the whole input), or BERT's pooler: the first token through a
     * dense layer and tanh.
     */
    public enum Pooling { FIRST, MEAN, LAST, POOLER }

    public static final Set<String> KEYS = Set.of("kind", "vocab_size", "d_model", "n_heads", "n_layers",
            "d_ff", "max_len", "norm", "positional", "activation", "scale_embeddings", "ln_eps", "pad_id", "dropout",
            "tie_embeddings", "num_labels", "pooling", "type_vocab_size", "embedding_norm", "mlm_head");

    public TransformerConfig {
        require(kind != null, "kind", "must be one of decoder, encoder, encoder_decoder, lstm");
        require(vocabSize >= 2, "vocab_size", "must be at least 2, got " + vocabSize);
        require(dModel >= 1, "d_model", "must be positive, got " + dModel);
        require(nHeads >= 1, "n_heads", "must be positive, got " + nHeads);
        require(kind == Kind.LSTM || dModel % nHeads == 0, "n_heads", "must divide d_model (" + dModel + "), got " + nHeads);
        require(nLayers >= 1, "n_layers", "must be positive, got " + nLayers);
        require(dFf >= 1, "d_ff", "must be positive, got " + dFf);
        require(maxLen >= 1, "max_len", "must be positive, got " + maxLen);
        require(norm != null, "norm", "must be pre or post");
        require(positional != null, "positional", "must be learned or sinusoidal");
        require(activation != null, "activation", "must be gelu, gelu_tanh or relu");
        require(lnEps > 0 && Double.isFinite(lnEps), "ln_eps", "must be a positive number, got " + lnEps);
        // -1: no token is padding (GPT-2 has no pad token; its id 0 is a character like any other)
        require(padId >= -1 && padId < vocabSize, "pad_id", "must be a token id in [0, vocab_size) or -1 for none, got " + padId);
        require(dropout >= 0 && dropout < 1, "dropout", "must be in [0, 1), got " + dropout);
        require(kind == Kind.LSTM || positional != Positional.SINUSOIDAL || dModel % 2 == 0, "d_model",
                "must be even for sinusoidal positions, got " + dModel);
        require(numLabels == 0 || numLabels >= 2, "num_labels", "must be at least 2 for a classifier (0: none), got " + numLabels);
        require(numLabels == 0 || pooling != null, "pooling", "must be first, mean, last or pooler for a classifier");
        require(numLabels == 0 || kind != Kind.ENCODER_DECODER, "num_labels",
                "a classifier is an encoder, a decoder or an lstm, not an encoder_decoder");
        require(numLabels == 0 || kind != Kind.LSTM || pooling != Pooling.FIRST, "pooling",
                "an lstm reads left to right: its first position has seen only the first token; use last or mean");
        require(typeVocabSize >= 0, "type_vocab_size", "must be 0 (no token types) or more, got " + typeVocabSize);
        require(!embeddingNorm || kind != Kind.LSTM, "embedding_norm", "is a transformer switch, not an lstm's");
        require(numLabels == 0 || kind != Kind.LSTM || pooling != Pooling.POOLER, "pooling", "pooler is a transformer's, not an lstm's");
        // BERT's head: decoders keep the plain tied head, so generation reads one head only
        require(!mlmHead || (kind == Kind.ENCODER && numLabels == 0), "mlm_head",
                "is an encoder language model's head (BERT's masked-LM transform), not a " + (numLabels > 0 ? "classifier's" : kind.name().toLowerCase(Locale.ROOT) + "'s"));
        if (numLabels == 0) {
            pooling = null;
        }
    }

    /** True when the model ends in a classifier head (one label per sequence) instead of the token head. */
    public boolean isClassifier() { return numLabels > 0; }

    private static void require(boolean ok, String key, String message) {
        if (!ok) {
            throw new ConfigException(key, message);
        }
    }

    public int headDim() { return dModel / nHeads; }

    /** A GPT-style decoder with the spec's defaults for the switches. */
    public static TransformerConfig decoder(int vocab, int d, int heads, int layers, int maxLen) {
        return new TransformerConfig(Kind.DECODER, vocab, d, heads, layers, 4 * d, maxLen, Norm.PRE,
                Positional.LEARNED, Activation.GELU, false, 1e-5, 0, 0.0);
    }

    public TransformerConfig withDropout(double p) {
        return new TransformerConfig(kind, vocabSize, dModel, nHeads, nLayers, dFf, maxLen, norm, positional,
                activation, scaleEmbeddings, lnEps, padId, p, tieEmbeddings, numLabels, pooling, typeVocabSize, embeddingNorm, mlmHead);
    }

    /** The same network ending in a classifier over {@code labels} labels, reading {@code pooling} (no masked-LM head). */
    public TransformerConfig withClassifier(int labels, Pooling pooling) {
        return new TransformerConfig(kind, vocabSize, dModel, nHeads, nLayers, dFf, maxLen, norm, positional,
                activation, scaleEmbeddings, lnEps, padId, dropout, tieEmbeddings, labels, pooling, typeVocabSize, embeddingNorm,
                false);
    }

    /** The same network as a language model: no classifier; with BERT's masked-LM head when {@code mlm}. */
    public TransformerConfig withTokenHead(boolean mlm) {
        return new TransformerConfig(kind, vocabSize, dModel, nHeads, nLayers, dFf, maxLen, norm, positional,
                activation, scaleEmbeddings, lnEps, padId, dropout, tieEmbeddings, 0, null, typeVocabSize, embeddingNorm, mlm);
    }

    /**
     * Reads the spec's JSON-shaped map strictly: an unknown key or a value of the wrong type is a
     * {@link ConfigException} naming the key. {@code dropout} may be absent (0).
     */
    public static TransformerConfig fromMap(Map<String, ?> map) {
        for (String key : map.keySet()) {
            if (!KEYS.contains(key)) {
                throw new ConfigException(key, "unknown model key; known keys are " + new java.util.TreeSet<>(KEYS));
            }
        }
        return new TransformerConfig(
                enumOf(Kind.class, map, "kind"),
                intOf(map, "vocab_size"),
                intOf(map, "d_model"),
                intOf(map, "n_heads"),
                intOf(map, "n_layers"),
                intOf(map, "d_ff"),
                intOf(map, "max_len"),
                enumOf(Norm.class, map, "norm"),
                enumOf(Positional.class, map, "positional"),
                enumOf(Activation.class, map, "activation"),
                boolOf(map, "scale_embeddings", false),
                doubleOf(map, "ln_eps", 1e-5),
                map.containsKey("pad_id") ? intOf(map, "pad_id") : 0,
                doubleOf(map, "dropout", 0.0),
                boolOf(map, "tie_embeddings", true),
                map.containsKey("num_labels") ? intOf(map, "num_labels") : 0,
                map.containsKey("pooling") ? enumOf(Pooling.class, map, "pooling") : null,
                map.containsKey("type_vocab_size") ? intOf(map, "type_vocab_size") : 0,
                boolOf(map, "embedding_norm", false),
                boolOf(map, "mlm_head", false));
    }

    /** The spec's JSON shape, in a stable key order. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", kind.name().toLowerCase(Locale.ROOT));
        m.put("vocab_size", vocabSize);
        m.put("d_model", dModel);
        m.put("n_heads", nHeads);
        m.put("n_layers", nLayers);
        m.put("d_ff", dFf);
        m.put("max_len", maxLen);
        m.put("norm", norm.name().toLowerCase(Locale.ROOT));
        m.put("positional", positional.name().toLowerCase(Locale.ROOT));
        m.put("activation", activation.name().toLowerCase(Locale.ROOT));
        m.put("scale_embeddings", scaleEmbeddings);
        m.put("ln_eps", lnEps);
        m.put("pad_id", padId);
        m.put("dropout", dropout);
        if (!tieEmbeddings) {
            m.put("tie_embeddings", false); // absent means tied, as the spec and older checkpoints
        }
        if (numLabels > 0) { // absent means a language model
            m.put("num_labels", numLabels);
            m.put("pooling", pooling.name().toLowerCase(Locale.ROOT));
        }
        if (typeVocabSize > 0) { // absent: no token types, as every checkpoint before them
            m.put("type_vocab_size", typeVocabSize);
        }
        if (embeddingNorm) {
            m.put("embedding_norm", true);
        }
        if (mlmHead) {
            m.put("mlm_head", true);
        }
        return m;
    }

    private static Object required(Map<String, ?> map, String key) {
        Object v = map.get(key);
        if (v == null) {
            throw new ConfigException(key, "is required");
        }
        return v;
    }

    private static int intOf(Map<String, ?> map, String key) {
        Object v = required(map, key);
        if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())
                && Math.abs(n.doubleValue()) <= Integer.MAX_VALUE) {
            return n.intValue();
        }
        throw new ConfigException(key, "must be a whole number, got " + v);
    }

    private static double doubleOf(Map<String, ?> map, String key, double fallback) {
        return optional(map, key, fallback, Number.class, "a number").doubleValue();
    }

    private static boolean boolOf(Map<String, ?> map, String key, boolean fallback) {
        return optional(map, key, fallback, Boolean.class, "true or false");
    }

    /** The value of {@code key}, {@code fallback} when it is absent; of another type, an error naming the key. */
    private static <T> T optional(Map<String, ?> map, String key, T fallback, Class<T> type, String what) {
        Object v = map.get(key);
        if (v == null) {
            return fallback;
        }
        if (type.isInstance(v)) {
            return type.cast(v);
        }
        throw new ConfigException(key, "must be " + what + ", got " + v);
    }

    private static <E extends Enum<E>> E enumOf(Class<E> type, Map<String, ?> map, String key) {
        Object v = required(map, key);
        for (E e : type.getEnumConstants()) {
            if (e.name().equalsIgnoreCase(String.valueOf(v))) {
                return e;
            }
        }
        StringBuilder allowed = new StringBuilder();
        for (E e : type.getEnumConstants()) {
            allowed.append(allowed.length() == 0 ? "" : ", ").append(e.name().toLowerCase(Locale.ROOT));
        }
        throw new ConfigException(key, "must be one of " + allowed + ", got " + v);
    }
}
