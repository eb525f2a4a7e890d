package io.sparkformer.driver.models;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;

import org.apache.hadoop.conf.Configuration;

import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.model.BadFileException;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.hf.CheckpointFiles;
import io.sparkformer.model.hf.HuggingFaceCheckpoint;
import io.sparkformer.model.text.Tokenizer;

/**
 * A Hugging Face checkpoint directory as a run's start (train --init-from): its config.json
 * decides the job's model section, its tokenizer.json the tokens, its weights the replicas'
 * first values under a fresh classifier where the task needs one. Read from a local directory, a
 * Hub id's snapshot or a directory on a Hadoop file system, and never written to.
 */
public final class PretrainedStart {
    private final HuggingFaceCheckpoint checkpoint;

    private PretrainedStart(HuggingFaceCheckpoint checkpoint) {
        this.checkpoint = checkpoint;
    }

    /**
     * The checkpoint {@code path} names when it is a Hugging Face directory (it has config.json)
     * or a Hub model id (hf:org/name[@revision], fetched into Hugging Face's cache), else null.
     */
    public static PretrainedStart openIfHuggingFace(String path) throws IOException {
        return openIfHuggingFace(path, new Configuration());
    }

    /**
     * The same, with {@code conf} for a directory on a Hadoop file system (HDFS, S3A): its files
     * are read where they lie, by whichever JVM opens it (the workers of a cluster too).
     */
    public static PretrainedStart openIfHuggingFace(String path, Configuration conf) throws IOException {
        if (HubCache.isHubId(path)) {
            return new PretrainedStart(HuggingFaceCheckpoint.open(new HubCache(HubCache.Settings.fromEnvironment(System.getenv()))
                    .snapshot(path)));
        }
        CheckpointFiles dir = files(path, conf);
        return dir.isFile(HuggingFaceCheckpoint.CONFIG) ? new PretrainedStart(HuggingFaceCheckpoint.open(dir)) : null;
    }

    /** The directory {@code path} names, read where it lies: on this machine's disk or a Hadoop file system. */
    private static CheckpointFiles files(String path, Configuration conf) {
        Path local = localDirectory(path);
        return local != null ? CheckpointFiles.local(local) : new HadoopCheckpointFiles(path, conf);
    }

    /** A file: URI or a plain path as a local directory; null for another file system. */
    public static Path localDirectory(String path) {
        if (path.startsWith("file:")) {
            return Path.of(java.net.URI.create(path.startsWith("file://") ? path : "file://" + path.substring("file:".length())));
        }
        return path.matches("^[A-Za-z][A-Za-z0-9+.-]*:.*") ? null : Path.of(path);
    }

    public HuggingFaceCheckpoint checkpoint() { return checkpoint; }

    /**
     * The model keys the checkpoint decides: its architecture (fixed: a job may repeat a value but
     * not contradict it), its dropout, pooling and masked-LM head (a job's own value wins).
     */
    public JobConfig.Preset preset() {
        TransformerConfig c = checkpoint.config();
        JsonNodeFactory f = JsonNodeFactory.instance;
        Map<String, JsonNode> fixed = new LinkedHashMap<>();
        fixed.put("model.kind", f.textNode(lower(c.kind())));
        fixed.put("model.vocab_size", f.textNode(String.valueOf(c.vocabSize())));
        fixed.put("model.d_model", f.numberNode(c.dModel()));
        fixed.put("model.n_heads", f.numberNode(c.nHeads()));
        fixed.put("model.n_layers", f.numberNode(c.nLayers()));
        fixed.put("model.d_ff", f.numberNode(c.dFf()));
        fixed.put("model.max_len", f.numberNode(c.maxLen()));
        fixed.put("model.norm", f.textNode(lower(c.norm())));
        fixed.put("model.positional", f.textNode(lower(c.positional())));
        fixed.put("model.activation", f.textNode(lower(c.activation())));
        fixed.put("model.scale_embeddings", f.booleanNode(c.scaleEmbeddings()));
        fixed.put("model.ln_eps", f.numberNode(c.lnEps()));
        fixed.put("model.tie_embeddings", f.booleanNode(c.tieEmbeddings()));
        fixed.put("model.type_vocab_size", f.numberNode(c.typeVocabSize()));
        fixed.put("model.embedding_norm", f.booleanNode(c.embeddingNorm()));
        fixed.put("model.pad_id", f.numberNode(c.padId()));
        Map<String, JsonNode> suggested = new LinkedHashMap<>();
        suggested.put("model.dropout", f.numberNode(c.dropout()));
        suggested.put("model.mlm_head", f.booleanNode(c.mlmHead()));
        if (checkpoint.hasPooler()) {
            suggested.put("model.pooling", f.textNode("pooler"));
        }
        return new JobConfig.Preset(checkpoint.files().location(HuggingFaceCheckpoint.CONFIG), fixed, suggested);
    }

    /**
     * The "data.tokenizer=" setting of the checkpoint's tokenizer.json, put first so a job's own
     * --set still wins; an error when it has none and the job names none.
     */
    public List<String> withTokenizer(List<String> settings) throws IOException {
        if (settings.stream().anyMatch(o -> o.startsWith("data.tokenizer="))) {
            return settings;
        }
        String tokenizer = checkpoint.tokenizerFile();
        if (tokenizer == null) {
            throw new ConfigException("--init-from", checkpoint.location() + " has no tokenizer.json: the checkpoint's token"
                    + " ids mean nothing without its tokenizer; give one with --set data.tokenizer=PATH");
        }
        List<String> out = new java.util.ArrayList<>(settings);
        out.add(0, "data.tokenizer=" + tokenizer);
        return out;
    }

    /** Refuses a tokenizer with ids past the checkpoint's embedding table. */
    public void requireTokenizerFits(Tokenizer tokenizer, String source) throws BadFileException {
        int vocab = checkpoint.config().vocabSize();
        if (tokenizer.vocabSize() > vocab) {
            throw new BadFileException(source, "has " + tokenizer.vocabSize() + " token ids but "
                    + checkpoint.files().location(HuggingFaceCheckpoint.CONFIG) + " says vocab_size " + vocab
                    + ": the tokenizer is not this checkpoint's");
        }
    }

    /**
     * The checkpoint's weights into {@code params} (a buffer of {@code model}'s layout); a
     * classifier or pooler the checkpoint lacks keeps {@code params}'s initial values. Returns
     * the blocks left so.
     */
    public List<String> readInto(ParameterBuffer params, TransformerConfig model) throws IOException {
        return checkpoint.readInto(params, model, true);
    }

    /** What {@link #readInto} would refuse, from the weight files' headers alone; returns the blocks it would leave. */
    public List<String> check(TransformerConfig model) throws IOException {
        return checkpoint.check(model, true);
    }

    /**
     * The checkpoint as a model ready to use (classify, evaluate, generate, attention): its
     * weights, its tokenizer and a job config of its model section and task (a classifier's
     * classification, BERT's masked_lm, GPT-2's causal_lm) with sequences up to 512 tokens.
     */
    public TrainedModel load() throws IOException {
        String tokenizerFile = checkpoint.tokenizerFile();
        if (tokenizerFile == null) {
            throw new ConfigException("--model", checkpoint.location() + " has no tokenizer.json: its token ids mean nothing"
                    + " without the checkpoint's tokenizer");
        }
        Tokenizer tokenizer = Tokenizer.fromJson(checkpoint.files().readAll("tokenizer.json"), tokenizerFile);
        requireTokenizerFits(tokenizer, tokenizerFile);
        TransformerConfig c = checkpoint.config();
        String task = c.isClassifier() ? "classification" : c.kind() == TransformerConfig.Kind.ENCODER ? "masked_lm" : "causal_lm";
        JobConfig cfg = JobConfig.parse("", checkpoint.files().location(HuggingFaceCheckpoint.CONFIG),
                // data.inputs: no corpus trained this here; the checkpoint stands in for it
                List.of("data.task=" + task, "data.tokenizer=" + tokenizerFile, "data.inputs=[" + checkpoint.location() + "]", "train.block_size=" + Math.min(512, c.maxLen()),
                        "model.pooling=" + (c.isClassifier() ? lower(c.pooling()) : "auto")), preset());
        return new TrainedModel(checkpoint.location(), checkpoint.load(org.nd4j.linalg.api.buffer.DataType.FLOAT),
                tokenizer, cfg, checkpoint.labels());
    }

    private static String lower(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    /** True when {@code dir} holds weights Hugging Face's way (config.json) rather than this project's checkpoint. */
    public static boolean isHuggingFace(String dir) {
        return isHuggingFace(dir, new Configuration());
    }

    /** The same, with {@code conf} for a directory on a Hadoop file system. */
    public static boolean isHuggingFace(String dir, Configuration conf) {
        if (HubCache.isHubId(dir)) {
            return true;
        }
        try {
            return files(dir, conf).isFile(HuggingFaceCheckpoint.CONFIG);
        } catch (IOException e) {
            // a scheme no file system here serves, an unreachable NameNode: bad input, named
            throw new ConfigException(dir, "cannot be read: " + e.getMessage().split("\n")[0]);
        }
    }
}
