package io.sparkformer.model.hf;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import org.nd4j.linalg.api.buffer.DataType;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.model.BadFileException;
import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.TensorNames;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.io.SafeTensors;

/**
 * A Hugging Face checkpoint directory read as one of this project's models: {@code config.json}
 * gives the {@link TransformerConfig}, {@code model.safetensors} (or the shards a
 * {@code model.safetensors.index.json} lists, each inside the directory) the weights, under the
 * family's tensor names ({@link HuggingFaceFamily}). Everything is checked before the model is
 * allocated, and nothing in the directory is written. Pickled weights are refused, never read.
 */
public final class HuggingFaceCheckpoint {
    public static final String CONFIG = "config.json";
    public static final String WEIGHTS = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";
    /** Weights in Python's pickle format: running them would run whatever code they hold. */
    private static final List<String> PICKLED = List.of("pytorch_model.bin", "model.bin", "model.pt", "model.ckpt",
            "pytorch_model.bin.index.json", "tf_model.h5");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final CheckpointFiles files;
    private final HuggingFaceFamily family;
    private final TransformerConfig config;
    private final List<String> weightFiles;
    private final java.util.Set<String> tensorNames; // without the family's prefix
    private final List<String> labels;

    private HuggingFaceCheckpoint(CheckpointFiles files, HuggingFaceFamily family, TransformerConfig config, List<String> weightFiles,
                                  java.util.Set<String> tensorNames, List<String> labels) {
        this.labels = labels;
        this.files = files;
        this.family = family;
        this.config = config;
        this.weightFiles = weightFiles;
        this.tensorNames = tensorNames;
    }

    /** Reads and checks {@code dir}'s config and lists its weight files; allocates no model. */
    public static HuggingFaceCheckpoint open(Path dir) throws IOException {
        return open(CheckpointFiles.local(dir));
    }

    /** The same for a directory of any file system (its config and the weights' headers read, no model allocated). */
    public static HuggingFaceCheckpoint open(CheckpointFiles dir) throws IOException {
        String configFile = dir.location(CONFIG);
        if (!dir.isFile(CONFIG)) {
            throw new BadFileException(dir.location(), "not a Hugging Face checkpoint: it has no " + CONFIG);
        }
        JsonNode cfg;
        try {
            cfg = JSON.readTree(dir.readAll(CONFIG));
        } catch (IOException e) {
            throw new BadFileException(configFile, "not JSON: " + e.getMessage().split("\n")[0], e);
        }
        if (cfg == null || !cfg.isObject()) {
            throw new BadFileException(configFile, "not a JSON object");
        }
        HuggingFaceFamily family = HuggingFaceFamily.of(cfg, configFile);
        family.requireArchitectures(cfg, configFile);
        List<String> files = weightFiles(dir);
        java.util.Set<String> names = new java.util.HashSet<>();
        for (String file : files) {
            try (SafeTensors.Reader reader = SafeTensors.open(dir.open(file))) { // the header only
                reader.tensors().keySet().forEach(n -> names.add(family.unprefixed(n)));
            }
        }
        TransformerConfig config = family.config(cfg, configFile, names);
        long parameters = io.sparkformer.model.ParameterLayout.of(config).size(); // sizes only: nothing allocated yet
        if (parameters > Integer.MAX_VALUE - 8) {
            throw new BadFileException(configFile, "its sizes make " + parameters + " parameters; a model here holds at"
                    + " most " + (Integer.MAX_VALUE - 8) + " (one flat buffer)");
        }
        List<String> labels = null;
        if (config.isClassifier()) {
            labels = new ArrayList<>();
            for (int i = 0; i < config.numLabels(); i++) {
                JsonNode name = cfg.path("id2label").get(String.valueOf(i));
                labels.add(name != null ? name.asText() : "LABEL_" + i); // Hugging Face's own default names
            }
        }
        return new HuggingFaceCheckpoint(dir, family, config, files, java.util.Set.copyOf(names), labels);
    }

    /** The local directory, or null for one on another file system ({@link #location()}). */
    public Path directory() { return files.localDirectory(); }

    /** Where the checkpoint is: a local directory or a Hadoop file system's path. */
    public String location() { return files.location(); }

    /** The checkpoint's files. */
    public CheckpointFiles files() { return files; }

    public HuggingFaceFamily family() { return family; }

    public TransformerConfig config() { return config; }

    /** A classifier's label names in index order (config.json's id2label), else null. */
    public List<String> labels() { return labels; }

    /** True when the checkpoint has BERT's pooler (a classifier may read it: pooling pooler). */
    public boolean hasPooler() { return tensorNames.contains("pooler.dense.weight"); }

    /** The tokenizer file beside the weights (a local path or a Hadoop one), or null when the directory has none. */
    public String tokenizerFile() throws IOException {
        return files.isFile("tokenizer.json") ? files.location("tokenizer.json") : null;
    }

    /** A model of the checkpoint's architecture with its weights. */
    public Transformer load(DataType type) throws IOException {
        Transformer model = new Transformer(config, type);
        readInto(model.parameters());
        return model;
    }

    /** The checkpoint's weights into {@code params} (a buffer of {@link #config()}'s layout). */
    public void readInto(ParameterBuffer params) throws IOException {
        readInto(params, config, false);
    }

    /**
     * The checkpoint's weights into {@code params}, a buffer of {@code model}'s layout: the
     * checkpoint's network under another head (a classifier over a masked-LM checkpoint, a
     * language model over a classifier's) and dropout. With {@code freshHead} the classifier and
     * pooler may be missing from the checkpoint: their blocks keep the values {@code params} holds
     * (an initialisation). Returns the blocks left so.
     */
    public List<String> readInto(ParameterBuffer params, TransformerConfig model, boolean freshHead) throws IOException {
        return readInto(params, params.layout(), model, freshHead);
    }

    /**
     * What {@link #readInto(ParameterBuffer, TransformerConfig, boolean)} would refuse, from the
     * files' headers and {@code model}'s layout alone: no weights read, no buffer allocated.
     */
    public List<String> check(TransformerConfig model, boolean freshHead) throws IOException {
        return readInto(null, io.sparkformer.model.ParameterLayout.of(model), model, freshHead);
    }

    /** The weights into {@code params}, or with null only the checks against {@code layout}. */
    private List<String> readInto(ParameterBuffer params, io.sparkformer.model.ParameterLayout layout, TransformerConfig model,
                                  boolean freshHead) throws IOException {
        requireSameNetwork(model);
        Map<String, String> filled = new LinkedHashMap<>();
        Map<String, Long> values = new LinkedHashMap<>();
        for (String file : weightFiles) {
            try (SafeTensors.Reader reader = SafeTensors.open(files.open(file))) {
                read(reader, "", params, layout, model, filled, values);
            }
        }
        return complete(layout, values, freshHead, weightFiles.stream().map(files::location).toList().toString());
    }

    /**
     * The tensors of {@code reader} whose names start with {@code keyPrefix} (stripped), under the
     * family's names, into {@code params}; every parameter must be given once.
     */
    public void readInto(ParameterBuffer params, SafeTensors.Reader reader, String keyPrefix) throws IOException {
        readInto(params, reader, keyPrefix, config, false);
    }

    /** As {@link #readInto(ParameterBuffer, TransformerConfig, boolean)}, from the tensors of {@code reader} under {@code keyPrefix}. */
    public List<String> readInto(ParameterBuffer params, SafeTensors.Reader reader, String keyPrefix, TransformerConfig model,
                                 boolean freshHead) throws IOException {
        requireSameNetwork(model);
        Map<String, Long> values = new LinkedHashMap<>();
        read(reader, keyPrefix, params, params.layout(), model, new LinkedHashMap<>(), values);
        return complete(params.layout(), values, freshHead, reader.name());
    }

    private void requireSameNetwork(TransformerConfig model) throws BadFileException {
        if (!network(model).equals(network(config))) {
            throw new BadFileException(files.location(CONFIG), "describes the network " + network(config).toMap()
                    + "; the model asks for " + network(model).toMap());
        }
    }

    /** Everything but the head and dropout: what must agree for weights to carry over. */
    private static TransformerConfig network(TransformerConfig c) {
        return c.withTokenHead(false).withDropout(0.0);
    }

    /** Requires every block given, but for a fresh head's when allowed; returns the blocks left as they were. */
    private static List<String> complete(io.sparkformer.model.ParameterLayout layout, Map<String, Long> values, boolean freshHead,
                                         String source) throws BadFileException {
        List<String> fresh = new ArrayList<>();
        if (freshHead) {
            for (var block : layout.blocks().values()) {
                boolean head = block.name().startsWith(TensorNames.CLASSIFIER + ".") || block.name().startsWith(TensorNames.POOLER + ".");
                if (head && !values.containsKey(block.name())) {
                    fresh.add(block.name());
                    values.put(block.name(), block.size());
                }
            }
        }
        requireComplete(layout, values, source);
        return fresh;
    }

    /**
     * {@code filled}: what gave each part so far; {@code values}: how many values of each block
     * were given. With {@code params} null nothing is read: the shapes are checked against
     * {@code layout}'s blocks.
     */
    private void read(SafeTensors.Reader reader, String keyPrefix, ParameterBuffer params, io.sparkformer.model.ParameterLayout layout,
                      TransformerConfig model, Map<String, String> filled, Map<String, Long> values) throws IOException {
        List<String> unknown = new ArrayList<>();
        for (SafeTensors.Info info : reader.tensors().values()) {
            if (!info.name().startsWith(keyPrefix)) {
                continue;
            }
            String name = info.name().substring(keyPrefix.length());
            HuggingFaceFamily.Target target = family.target(name, model);
            if (target == null) {
                unknown.add(name);
                continue;
            }
            if (target.ignored()) {
                continue;
            }
            String before = filled.put(target.key(), name);
            if (before != null) {
                throw new BadFileException(reader.name(), "tensors '" + before + "' and '" + name + "' both give " + target.key());
            }
            long given = params != null ? target.read(reader, info, params.block(target.block()), reader.name())
                    : target.check(info, layout.blocks().get(target.block()).shape(), reader.name());
            values.merge(target.block(), given, Long::sum);
        }
        if (!unknown.isEmpty()) {
            throw new BadFileException(reader.name(), "tensors a " + family.key() + " model does not have: "
                    + abbreviate(new TreeSet<>(unknown)));
        }
    }

    private static void requireComplete(io.sparkformer.model.ParameterLayout layout, Map<String, Long> values, String source)
            throws BadFileException {
        TreeSet<String> missing = new TreeSet<>();
        for (var block : layout.blocks().values()) {
            if (values.getOrDefault(block.name(), 0L) != block.size()) {
                missing.add(block.name());
            }
        }
        if (!missing.isEmpty()) {
            throw new BadFileException(source, "the checkpoint lacks the weights of " + abbreviate(missing));
        }
    }

    private static String abbreviate(TreeSet<String> names) {
        List<String> shown = new ArrayList<>(names).subList(0, Math.min(8, names.size()));
        return shown + (names.size() > shown.size() ? " and " + (names.size() - shown.size()) + " more" : "");
    }

    /**
     * The weight files: model.safetensors, or the shards the index names, each a plain file name
     * inside {@code dir}. Pickled weights are refused with what to do instead.
     */
    private static List<String> weightFiles(CheckpointFiles dir) throws IOException {
        if (dir.isFile(WEIGHTS)) {
            return List.of(WEIGHTS);
        }
        if (dir.isFile(INDEX)) {
            return shards(dir);
        }
        for (String pickled : PICKLED) {
            if (dir.isFile(pickled)) {
                throw new BadFileException(dir.location(pickled), "pickled weights are not read (loading them runs"
                        + " code); convert them to safetensors first, e.g. with the safetensors library's convert script,"
                        + " and give the directory with " + WEIGHTS);
            }
        }
        throw new BadFileException(dir.location(), "has no " + WEIGHTS + " or " + INDEX);
    }

    private static List<String> shards(CheckpointFiles dir) throws IOException {
        String index = dir.location(INDEX);
        JsonNode map;
        try {
            map = JSON.readTree(dir.readAll(INDEX)).path("weight_map");
        } catch (IOException e) {
            throw new BadFileException(index, "not JSON: " + e.getMessage().split("\n")[0], e);
        }
        if (!map.isObject() || map.isEmpty()) {
            throw new BadFileException(index, "has no weight_map of tensor names to files");
        }
        TreeSet<String> files = new TreeSet<>();
        map.fields().forEachRemaining(e -> files.add(e.getValue().asText()));
        List<String> out = new ArrayList<>();
        for (String f : files) {
            // a plain file name: nothing outside the directory is read
            if (f.contains("/") || f.contains("\\") || f.startsWith(".") || !f.endsWith(".safetensors")) {
                throw new BadFileException(index, "names the file \"" + f + "\", which is not a .safetensors file"
                        + " in " + dir.location());
            }
            if (!dir.isFile(f)) {
                throw new BadFileException(index, "names " + f + ", which is missing");
            }
            out.add(f);
        }
        return out;
    }
}
