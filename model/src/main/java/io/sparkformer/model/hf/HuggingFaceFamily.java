package io.sparkformer.model.hf;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.nd4j.linalg.api.ndarray.INDArray;

import com.fasterxml.jackson.databind.JsonNode;

import io.sparkformer.model.BadFileException;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.TensorNames;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.TransformerConfig.Activation;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.TransformerConfig.Pooling;
import io.sparkformer.model.TransformerConfig.Positional;
import io.sparkformer.model.io.SafeTensors;

/**
 * The Hugging Face model families this project reads: how a family's config.json becomes a
 * {@link TransformerConfig} and each of its tensor names one of ours ({@link TensorNames}).
 */
public enum HuggingFaceFamily {
    /**
     * GPT-2 (GPT2Model, GPT2LMHeadModel): a pre-norm decoder with learned positions, GELU's tanh
     * form and the output layer tied to the token embedding. Its Conv1D weights are [in, out], as
     * ours; the fused c_attn block is our qkv block. Names with or without "transformer."; the
     * causal-mask buffers of older checkpoints (attn.bias, attn.masked_bias) are not weights.
     */
    GPT2("gpt2", List.of("GPT2Model", "GPT2LMHeadModel")) {
        private static final Pattern LAYER = Pattern.compile("h\\.(\\d+)\\.(.+)");

        @Override
        TransformerConfig config(JsonNode c, String file, java.util.Set<String> tensors) throws BadFileException {
            int d = positive(c, "n_embd", file);
            int inner = c.hasNonNull("n_inner") ? positive(c, "n_inner", file) : 4 * d;
            boolean tied = !c.has("tie_word_embeddings") || c.get("tie_word_embeddings").asBoolean();
            if (!tied) {
                throw new BadFileException(file, "tie_word_embeddings false: a GPT-2 with its own output layer is not"
                        + " read yet");
            }
            return build(file, () -> new TransformerConfig(Kind.DECODER, positive(c, "vocab_size", file), d,
                    positive(c, "n_head", file), positive(c, "n_layer", file), inner, positive(c, "n_positions", file), Norm.PRE,
                    Positional.LEARNED, activation(c, "activation_function", file), false,
                    c.path("layer_norm_epsilon").asDouble(1e-5), -1, 0.0, true));
        }

        @Override
        String unprefixed(String name) {
            return name.startsWith("transformer.") ? name.substring("transformer.".length()) : name;
        }

        @Override
        Target target(String name, TransformerConfig cfg) {
            String n = unprefixed(name);
            switch (n) {
                case "wte.weight" -> { return Target.of(TensorNames.TOKEN_EMBEDDING); }
                case "wpe.weight" -> { return Target.of(TensorNames.POSITIONS); }
                case "ln_f.weight", "ln_f.bias" -> { return Target.of(TensorNames.finalNorm("decoder") + suffix(n)); }
                case "lm_head.weight" -> { return Target.IGNORED; } // tied: the token embedding itself
                default -> { }
            }
            Layer layer = Layer.of(LAYER, n, cfg);
            if (layer == null) {
                return null;
            }
            int i = layer.index();
            String part = layer.part();
            String attention = TensorNames.attention("decoder", i, false);
            String ffn = TensorNames.feedForward("decoder", i);
            return switch (part) {
                case "attn.bias", "attn.masked_bias" -> Target.IGNORED;
                case "ln_1.weight", "ln_1.bias" -> Target.of(TensorNames.norm("decoder", i, 1) + suffix(part));
                case "ln_2.weight", "ln_2.bias" -> Target.of(TensorNames.norm("decoder", i, 2) + suffix(part));
                case "attn.c_attn.weight", "attn.c_attn.bias" -> Target.of(TensorNames.qkv(attention) + suffix(part));
                case "attn.c_proj.weight", "attn.c_proj.bias" -> Target.of(TensorNames.output(attention) + suffix(part));
                case "mlp.c_fc.weight", "mlp.c_fc.bias" -> Target.of(TensorNames.fc1(ffn) + suffix(part));
                case "mlp.c_proj.weight", "mlp.c_proj.bias" -> Target.of(TensorNames.fc2(ffn) + suffix(part));
                default -> null;
            };
        }
    },

    /**
     * BERT (BertModel, BertForMaskedLM, BertForSequenceClassification): a post-norm encoder with
     * learned positions, token types and a LayerNorm over the embeddings. nn.Linear weights are
     * [out, in] and are read transposed; query, key and value fill the columns of our fused qkv
     * block. Names with or without "bert.". What the checkpoint holds picks the head: a
     * classifier ("classifier.*", over the pooler when there is one, else the first token), the
     * masked-LM head ("cls.predictions.*"), or none (BertModel: the plain tied head). A model
     * without a part the checkpoint has skips it (fine-tuning a masked-LM checkpoint as a
     * classifier); next-sentence prediction ("cls.seq_relationship") is never read.
     */
    BERT("bert", List.of("BertModel", "BertForMaskedLM", "BertForPreTraining", "BertForSequenceClassification")) {
        private static final Pattern LAYER = Pattern.compile("encoder\\.layer\\.(\\d+)\\.(.+)");
        private static final java.util.List<String> QKV = java.util.List.of("query", "key", "value");

        @Override
        TransformerConfig config(JsonNode c, String file, java.util.Set<String> tensors) throws BadFileException {
            String positions = c.path("position_embedding_type").asText("absolute");
            if (!positions.equals("absolute")) {
                throw new BadFileException(file, "position_embedding_type \"" + positions + "\": only absolute positions"
                        + " are read");
            }
            int types = c.has("type_vocab_size") ? c.get("type_vocab_size").asInt() : 2;
            boolean pooler = tensors.contains("pooler.dense.weight");
            int labels = 0;
            if (tensors.contains("classifier.weight")) {
                labels = c.has("id2label") ? c.get("id2label").size() : c.path("num_labels").asInt(2);
            }
            int numLabels = labels;
            boolean mlm = labels == 0 && tensors.contains("cls.predictions.transform.dense.weight");
            return build(file, () -> new TransformerConfig(Kind.ENCODER, positive(c, "vocab_size", file),
                    positive(c, "hidden_size", file), positive(c, "num_attention_heads", file),
                    positive(c, "num_hidden_layers", file), positive(c, "intermediate_size", file),
                    positive(c, "max_position_embeddings", file), Norm.POST, Positional.LEARNED,
                    activation(c, "hidden_act", file), false, c.path("layer_norm_eps").asDouble(1e-12),
                    c.path("pad_token_id").asInt(0), c.path("hidden_dropout_prob").asDouble(0.1), true, numLabels,
                    numLabels == 0 ? null : pooler ? Pooling.POOLER : Pooling.FIRST, types, true, mlm));
        }

        @Override
        String unprefixed(String name) {
            return name.startsWith("bert.") ? name.substring("bert.".length()) : name;
        }

        @Override
        Target target(String name, TransformerConfig cfg) {
            String n = unprefixed(name);
            if (n.equals("embeddings.position_ids") || n.startsWith("cls.seq_relationship.")
                    || n.equals("cls.predictions.decoder.weight") || n.equals("cls.predictions.decoder.bias")) {
                return Target.IGNORED; // a buffer; next-sentence prediction; the tied output layer and its bias's alias
            }
            boolean pooler = cfg.isClassifier() && cfg.pooling() == Pooling.POOLER;
            switch (n) {
                case "pooler.dense.weight" -> { return pooler ? Target.transposed(TensorNames.weight(TensorNames.POOLER)) : Target.IGNORED; }
                case "pooler.dense.bias" -> { return pooler ? Target.of(TensorNames.bias(TensorNames.POOLER)) : Target.IGNORED; }
                case "classifier.weight" -> {
                    return cfg.isClassifier() ? Target.transposed(TensorNames.weight(TensorNames.CLASSIFIER)) : Target.IGNORED;
                }
                case "classifier.bias" -> { return cfg.isClassifier() ? Target.of(TensorNames.bias(TensorNames.CLASSIFIER)) : Target.IGNORED; }
                case "cls.predictions.transform.dense.weight" -> {
                    return cfg.mlmHead() ? Target.transposed(TensorNames.weight(TensorNames.MLM_DENSE)) : Target.IGNORED;
                }
                case "cls.predictions.transform.dense.bias" -> {
                    return cfg.mlmHead() ? Target.of(TensorNames.bias(TensorNames.MLM_DENSE)) : Target.IGNORED;
                }
                case "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias" -> {
                    return cfg.mlmHead() ? Target.of(TensorNames.MLM_NORM + suffix(n)) : Target.IGNORED;
                }
                case "cls.predictions.bias" -> { return cfg.mlmHead() ? Target.of(TensorNames.bias(TensorNames.LM_HEAD)) : Target.IGNORED; }
                default -> { }
            }
            switch (n) {
                case "embeddings.word_embeddings.weight" -> { return Target.of(TensorNames.TOKEN_EMBEDDING); }
                case "embeddings.position_embeddings.weight" -> { return Target.of(TensorNames.POSITIONS); }
                case "embeddings.token_type_embeddings.weight" -> { return Target.of(TensorNames.TOKEN_TYPES); }
                case "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias" -> {
                    return Target.of(TensorNames.EMBEDDING_NORM + suffix(n));
                }
                default -> { }
            }
            Layer parsed = Layer.of(LAYER, n, cfg);
            if (parsed == null) {
                return null;
            }
            int i = parsed.index();
            String part = parsed.part();
            String attention = TensorNames.attention("encoder", i, false);
            String ffn = TensorNames.feedForward("encoder", i);
            boolean weight = part.endsWith(".weight");
            for (int k = 0; k < QKV.size(); k++) {
                if (part.startsWith("attention.self." + QKV.get(k) + ".")) {
                    long d = cfg.dModel();
                    return Target.part(TensorNames.qkv(attention) + suffix(part), k * d, (k + 1) * d, weight);
                }
            }
            String layer = switch (part.substring(0, part.lastIndexOf('.'))) {
                case "attention.output.dense" -> TensorNames.output(attention);
                case "attention.output.LayerNorm" -> TensorNames.norm("encoder", i, 1);
                case "intermediate.dense" -> TensorNames.fc1(ffn);
                case "output.dense" -> TensorNames.fc2(ffn);
                case "output.LayerNorm" -> TensorNames.norm("encoder", i, 2);
                default -> null;
            };
            if (layer == null) {
                return null;
            }
            boolean linear = !part.contains("LayerNorm");
            return weight && linear ? Target.transposed(layer + suffix(part)) : Target.of(layer + suffix(part));
        }
    };

    private final String key;
    private final List<String> architectures;

    HuggingFaceFamily(String key, List<String> architectures) {
        this.key = key;
        this.architectures = architectures;
    }

    /** Refuses an architecture of config.json this family does not read (a token classifier's head is not a sequence classifier's). */
    void requireArchitectures(JsonNode config, String file) throws BadFileException {
        for (JsonNode a : config.path("architectures")) {
            if (!architectures.contains(a.asText())) {
                throw new BadFileException(file, "architecture \"" + a.asText() + "\" is not one this project reads;"
                        + " supported for " + key + ": " + architectures);
            }
        }
    }

    /** config.json's model_type. */
    public String key() { return key; }

    /** The tensor names an export of a model of {@code cfg} writes, prefixed as the family's LM or task model saves them. */
    List<String> exportedNames(TransformerConfig cfg) {
        List<String> out = new java.util.ArrayList<>();
        if (this == GPT2) {
            out.addAll(List.of("transformer.wte.weight", "transformer.wpe.weight"));
            out.addAll(HuggingFaceExport.perLayer(cfg.nLayers(), "transformer.h.", withSuffixes("ln_1", "attn.c_attn", "attn.c_proj",
                    "ln_2", "mlp.c_fc", "mlp.c_proj")));
            out.addAll(withSuffixes("transformer.ln_f"));
            return out;
        }
        String bert = cfg.isClassifier() || cfg.mlmHead() ? "bert." : "";
        out.addAll(List.of(bert + "embeddings.word_embeddings.weight", bert + "embeddings.position_embeddings.weight",
                bert + "embeddings.token_type_embeddings.weight"));
        out.addAll(withSuffixes(bert + "embeddings.LayerNorm"));
        out.addAll(HuggingFaceExport.perLayer(cfg.nLayers(), bert + "encoder.layer.", withSuffixes("attention.self.query",
                "attention.self.key", "attention.self.value", "attention.output.dense", "attention.output.LayerNorm",
                "intermediate.dense", "output.dense", "output.LayerNorm")));
        if (cfg.isClassifier() && cfg.pooling() == Pooling.POOLER) {
            out.addAll(withSuffixes(bert + "pooler.dense"));
        }
        if (cfg.isClassifier()) {
            out.addAll(withSuffixes("classifier"));
        }
        if (cfg.mlmHead()) {
            out.addAll(withSuffixes("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm"));
            out.add("cls.predictions.bias");
        }
        return out;
    }

    private static List<String> withSuffixes(String... layers) {
        List<String> out = new java.util.ArrayList<>();
        for (String l : layers) {
            out.add(l + ".weight");
            out.add(l + ".bias");
        }
        return out;
    }

    /** The config.json of a model of {@code cfg}; {@code labels}: a classifier's label names, else null. */
    com.fasterxml.jackson.databind.node.ObjectNode configJson(TransformerConfig cfg, List<String> labels) {
        var c = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        c.put("model_type", key);
        if (this == GPT2) {
            c.putArray("architectures").add("GPT2LMHeadModel");
            c.put("vocab_size", cfg.vocabSize());
            c.put("n_positions", cfg.maxLen());
            c.put("n_ctx", cfg.maxLen());
            c.put("n_embd", cfg.dModel());
            c.put("n_head", cfg.nHeads());
            c.put("n_layer", cfg.nLayers());
            c.put("n_inner", cfg.dFf());
            c.put("activation_function", HuggingFaceExport.activationName(cfg.activation()));
            c.put("layer_norm_epsilon", cfg.lnEps());
            c.put("resid_pdrop", cfg.dropout());
            c.put("embd_pdrop", cfg.dropout());
            c.put("attn_pdrop", cfg.dropout());
            c.put("tie_word_embeddings", true);
            return c;
        }
        c.putArray("architectures").add(cfg.isClassifier() ? "BertForSequenceClassification" : cfg.mlmHead() ? "BertForMaskedLM" : "BertModel");
        c.put("vocab_size", cfg.vocabSize());
        c.put("hidden_size", cfg.dModel());
        c.put("num_hidden_layers", cfg.nLayers());
        c.put("num_attention_heads", cfg.nHeads());
        c.put("intermediate_size", cfg.dFf());
        c.put("hidden_act", HuggingFaceExport.activationName(cfg.activation()));
        c.put("max_position_embeddings", cfg.maxLen());
        c.put("type_vocab_size", cfg.typeVocabSize());
        c.put("layer_norm_eps", cfg.lnEps());
        c.put("pad_token_id", Math.max(0, cfg.padId()));
        c.put("hidden_dropout_prob", cfg.dropout());
        c.put("attention_probs_dropout_prob", cfg.dropout());
        c.put("position_embedding_type", "absolute");
        if (cfg.isClassifier()) {
            HuggingFaceExport.putLabels(c, labels);
            // BertForSequenceClassification reads the pooler; a [CLS] classifier without one is this project's
            c.put(FIRST_TOKEN_KEY, cfg.pooling() == Pooling.FIRST);
        }
        return c;
    }

    /**
     * config.json key of an exported classifier over the first token itself, with no pooler:
     * Hugging Face's BertForSequenceClassification would put a fresh pooler in between.
     */
    static final String FIRST_TOKEN_KEY = "sparkformer_classifier_reads_first_token";

    /** The model config.json describes; {@code tensors}: the checkpoint's tensor names, prefix stripped (they tell the head). */
    abstract TransformerConfig config(JsonNode config, String file, java.util.Set<String> tensors) throws BadFileException;

    /** A tensor name without the family's model prefix ("bert.", "transformer."). */
    abstract String unprefixed(String name);

    /** Where the tensor {@code name} goes in a model of {@code cfg}, {@link Target#IGNORED}, or null: not a tensor of this family. */
    abstract Target target(String name, TransformerConfig cfg);

    /** The family config.json's model_type names, or an error listing the supported ones. */
    static HuggingFaceFamily of(JsonNode config, String file) throws BadFileException {
        String type = config.path("model_type").asText("");
        for (HuggingFaceFamily f : values()) {
            if (f.key.equals(type)) {
                return f;
            }
        }
        throw new BadFileException(file, "model_type \"" + type + "\" is not one this project reads; supported: "
                + Arrays.stream(values()).map(HuggingFaceFamily::key).toList());
    }

    /**
     * Where a checkpoint tensor goes: a block of ours, or its columns [from, to) (a 1-D block's
     * range), read as stored or transposed (nn.Linear keeps [out, in]; ours are [in, out]).
     * {@link #IGNORED}: a tensor that is not a weight (a buffer) or that another one gives (a tied
     * output layer).
     */
    record Target(String block, long from, long to, boolean transpose, boolean ignored) {
        static final Target IGNORED = new Target(null, -1, -1, false, true);

        static Target of(String block) {
            return new Target(block, -1, -1, false, false);
        }

        static Target transposed(String block) {
            return new Target(block, -1, -1, true, false);
        }

        /** Columns [from, to) of a fused block (a 2-D weight transposed into them, or a range of a bias). */
        static Target part(String block, long from, long to, boolean transpose) {
            return new Target(block, from, to, transpose, false);
        }

        /** What this target fills, for telling two tensors that give the same part apart. */
        String key() {
            return from < 0 ? block : block + "[" + from + ":" + to + "]";
        }

        /** The values this target covers in {@code blockArray}, shaped as the checkpoint stores them. */
        INDArray values(INDArray blockArray) {
            return HuggingFaceExport.slice(blockArray, from, to, transpose);
        }

        /** Reads the tensor into its place in {@code blockArray} after checking its shape against it; returns the values written. */
        long read(SafeTensors.Reader reader, SafeTensors.Info info, INDArray blockArray, String source) throws IOException {
            INDArray into = from < 0 ? blockArray : blockArray.rank() == 1
                    ? blockArray.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(from, to))
                    : blockArray.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.interval(from, to));
            long[] stored = info.shape();
            check(info, blockArray.shape(), source);
            if (from < 0 && !transpose) {
                reader.readInto(info.name(), into);
            } else {
                INDArray values = reader.array(info.name(), into.dataType());
                into.assign(transpose && stored.length == 2 ? values.transpose() : values);
            }
            return into.length();
        }

        /**
         * What {@link #read} checks, from the block's shape alone: the tensor's shape against the
         * part of the block it fills. Returns the values it would give.
         */
        long check(SafeTensors.Info info, long[] blockShape, String source) throws BadFileException {
            long[] into = from < 0 ? blockShape : blockShape.length == 1 ? new long[] {to - from} : new long[] {blockShape[0], to - from};
            long[] stored = info.shape();
            long[] wanted = transpose && stored.length == 2 ? new long[] {into[1], into[0]} : into;
            if (!Arrays.equals(stored, wanted)) {
                throw new BadFileException(source, "tensor '" + info.name() + "' has shape " + Arrays.toString(stored)
                        + "; the config makes it " + Arrays.toString(wanted) + " (" + key() + ")");
            }
            long n = 1;
            for (long s : into) {
                n *= s;
            }
            return n;
        }
    }

    /** A layer's tensor: the layer's index and the rest of the name. */
    record Layer(int index, String part) {
        /** {@code name} as {@code pattern} (groups: index, rest) of one of {@code cfg}'s layers, or null. */
        static Layer of(Pattern pattern, String name, TransformerConfig cfg) {
            Matcher m = pattern.matcher(name);
            if (!m.matches() || m.group(1).length() > 6 || Integer.parseInt(m.group(1)) >= cfg.nLayers()) {
                return null;
            }
            return new Layer(Integer.parseInt(m.group(1)), m.group(2));
        }
    }

    /** ".weight" or ".bias": the part of a name after its layer. */
    static String suffix(String name) {
        return name.substring(name.lastIndexOf('.'));
    }

    static int positive(JsonNode c, String key, String file) throws BadFileException {
        JsonNode v = c.get(key);
        if (v == null || !v.canConvertToInt() || v.asInt() < 1 || !v.isIntegralNumber()) {
            throw new BadFileException(file, "\"" + key + "\" must be a positive whole number, got " + v);
        }
        return v.asInt();
    }

    static Activation activation(JsonNode c, String key, String file) throws BadFileException {
        String name = c.path(key).asText("").toLowerCase(Locale.ROOT);
        return switch (name) {
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast" -> Activation.GELU_TANH;
            case "gelu" -> Activation.GELU;
            case "relu" -> Activation.RELU;
            default -> throw new BadFileException(file, "\"" + key + "\" is \"" + name
                    + "\"; supported: gelu, gelu_new (and its aliases gelu_pytorch_tanh, gelu_fast), relu");
        };
    }

    interface ConfigSupplier {
        TransformerConfig get() throws BadFileException;
    }

    /** A config from the checkpoint's values; one our model refuses names config.json and the key. */
    static TransformerConfig build(String file, ConfigSupplier make) throws BadFileException {
        try {
            return make.get();
        } catch (ConfigException e) {
            throw new BadFileException(file, "its values make no model here: " + e.getMessage());
        }
    }
}
