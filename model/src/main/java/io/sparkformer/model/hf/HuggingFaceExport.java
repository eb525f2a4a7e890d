package io.sparkformer.model.hf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.sparkformer.model.ConfigException;
import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.TransformerConfig.Activation;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.TransformerConfig.Pooling;
import io.sparkformer.model.TransformerConfig.Positional;
import io.sparkformer.model.io.SafeTensors;

/**
 * A model of one of the imported families written as a Hugging Face checkpoint directory:
 * config.json, model.safetensors under the family's names (float32) and the tokenizer. Each
 * tensor goes through the same name mapping the import reads ({@link HuggingFaceFamily#target}),
 * so an import exported again gives the same tensors bit for bit. A model with a switch the
 * family has no counterpart for is refused, naming the switch.
 */
public final class HuggingFaceExport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private HuggingFaceExport() {}

    /** The family {@code cfg} exports as, or a {@link ConfigException} naming the first switch with no counterpart. */
    public static HuggingFaceFamily familyOf(TransformerConfig cfg) {
        if (cfg.kind() == Kind.ENCODER) {
            require(cfg.norm() == Norm.POST, "norm", "pre: BERT's layers are post-norm");
            require(cfg.embeddingNorm(), "embedding_norm", "false: BERT normalises its embeddings");
            require(cfg.typeVocabSize() > 0, "type_vocab_size", "0: BERT has token-type embeddings");
            require(!cfg.isClassifier() || cfg.pooling() == Pooling.POOLER || cfg.pooling() == Pooling.FIRST, "pooling",
                    (cfg.isClassifier() ? cfg.pooling().name().toLowerCase(java.util.Locale.ROOT) : "") + ": BERT's classifier reads the first token or its pooler");
        } else if (cfg.kind() == Kind.DECODER) {
            require(cfg.norm() == Norm.PRE, "norm", "post: GPT-2's layers are pre-norm");
            require(!cfg.embeddingNorm(), "embedding_norm", "true: GPT-2 does not normalise its embeddings");
            require(cfg.typeVocabSize() == 0, "type_vocab_size", cfg.typeVocabSize() + ": GPT-2 has no token types");
            require(!cfg.isClassifier(), "num_labels", cfg.numLabels() + ": a GPT-2 classifier is not exported yet");
        } else {
            throw new ConfigException("kind", cfg.kind().name().toLowerCase(java.util.Locale.ROOT)
                    + " has no Hugging Face family here; exported are encoders as bert and decoders as gpt2");
        }
        require(cfg.positional() == Positional.LEARNED, "positional", "sinusoidal: both families learn their positions");
        require(!cfg.scaleEmbeddings(), "scale_embeddings", "true: neither family scales its embeddings");
        require(cfg.tieEmbeddings(), "tie_embeddings", "false: both families tie the output layer to the token embedding");
        return cfg.kind() == Kind.ENCODER ? HuggingFaceFamily.BERT : HuggingFaceFamily.GPT2;
    }

    private static void require(boolean ok, String key, String what) {
        if (!ok) {
            throw new ConfigException(key, what + "; a Hugging Face export needs a model of one of the imported families");
        }
    }

    /**
     * Writes {@code params} (a model of {@code cfg}) into {@code dir} (created; it must not hold a
     * checkpoint already) with {@code tokenizerJson} as tokenizer.json. {@code labels}: a
     * classifier's label names, else null.
     */
    public static void write(Path dir, TransformerConfig cfg, ParameterBuffer params, List<String> labels, byte[] tokenizerJson)
            throws IOException {
        HuggingFaceFamily family = familyOf(cfg);
        if (Files.exists(dir.resolve(HuggingFaceCheckpoint.CONFIG)) || Files.exists(dir.resolve(HuggingFaceCheckpoint.WEIGHTS))) {
            throw new ConfigException("--output", dir + " already holds a checkpoint; export into a new directory");
        }
        Map<String, SafeTensors.Tensor> tensors = new LinkedHashMap<>();
        for (String name : family.exportedNames(cfg)) {
            HuggingFaceFamily.Target target = family.target(family.unprefixed(name), cfg);
            tensors.put(name, SafeTensors.Tensor.of(target.values(params.block(target.block())).castTo(DataType.FLOAT)));
        }
        Files.createDirectories(dir);
        SafeTensors.writeAtomically(dir.resolve(HuggingFaceCheckpoint.WEIGHTS), tensors, Map.of("format", "pt"));
        Files.write(dir.resolve("tokenizer.json"), tokenizerJson);
        Files.write(dir.resolve(HuggingFaceCheckpoint.CONFIG), JSON.writeValueAsBytes(family.configJson(cfg, labels)));
    }

    /** id2label and label2id of a classifier's config.json. */
    static void putLabels(ObjectNode c, List<String> labels) {
        ObjectNode id2label = c.putObject("id2label");
        ObjectNode label2id = c.putObject("label2id");
        for (int i = 0; i < labels.size(); i++) {
            id2label.put(String.valueOf(i), labels.get(i));
            label2id.put(labels.get(i), i);
        }
    }

    /** config.json's activation name. */
    static String activationName(Activation a) {
        return switch (a) {
            case GELU -> "gelu";
            case GELU_TANH -> "gelu_new";
            case RELU -> "relu";
        };
    }

    /** The rows of names for each of a model's layers, in order. */
    static List<String> perLayer(int layers, String prefix, List<String> parts) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < layers; i++) {
            for (String p : parts) {
                out.add(prefix + i + "." + p);
            }
        }
        return out;
    }

    /** The values a target covers in its block, as the checkpoint stores them. */
    static INDArray slice(INDArray block, long from, long to, boolean transpose) {
        INDArray part = from < 0 ? block : block.rank() == 1 ? block.get(NDArrayIndex.interval(from, to))
                : block.get(NDArrayIndex.all(), NDArrayIndex.interval(from, to));
        return (transpose && part.rank() == 2 ? part.transpose() : part).dup('c');
    }
}
