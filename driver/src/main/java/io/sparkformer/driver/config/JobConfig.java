package io.sparkformer.driver.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.cfg.EnumFeature;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

import io.sparkformer.driver.corpus.CorpusSpec;
import io.sparkformer.driver.corpus.CorpusSpec.Format;
import io.sparkformer.driver.training.MomentsPolicy;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.TransformerConfig.Activation;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.TransformerConfig.Norm;
import io.sparkformer.model.TransformerConfig.Pooling;
import io.sparkformer.model.TransformerConfig.Positional;
import io.sparkformer.worker.batches.Task;

/**
 * A training job, read strictly: the user's YAML is merged over {@code defaults.yaml}, any key
 * the defaults do not have is an error, {@code --set key=value} overrides apply to the same tree,
 * and every value is checked. Errors are {@link ConfigException}s naming the key.
 */
// Serializable: the config travels to the executors with each worker's spec.
public record JobConfig(String name, long seed, Data data, Model model, Train train, Eval eval, Checkpoint checkpoint)
        implements java.io.Serializable {

    // Choices are enums, read from and written as their lower-case names: a value outside one is
    // refused once, by key, when the config is read.

    /** data.format is a {@link Format}: text files, one TSV file of pairs, or a source read through Spark SQL. */
    public record Data(Task task, List<String> inputs, List<String> validation, double validationFraction,
                       String tokenizer, int bpeVocabSize, InvalidUtf8 invalidUtf8, String shards, Format format, String column,
                       String targetColumn, int splitMb, boolean header) implements java.io.Serializable {}

    /** data.invalid_utf8: what a line that is not UTF-8 does. */
    public enum InvalidUtf8 { ERROR, SKIP }

    public record Model(Kind kind, String vocabSize, int dModel, int nHeads, int nLayers, int dFf, int maxLen,
                        Norm norm, Positional positional, Activation activation, boolean scaleEmbeddings, double lnEps,
                        double dropout, Transformer.Init init, boolean tieEmbeddings, ClassifierPooling pooling,
                        int typeVocabSize, boolean embeddingNorm, int padId, boolean mlmHead)
            implements java.io.Serializable {}

    /** model.pooling: a classifier's pooled position; auto is an encoder's first token, another kind's last. */
    public enum ClassifierPooling {
        AUTO, FIRST, MEAN, LAST, POOLER;

        public Pooling resolve(Kind kind) {
            return this != AUTO ? Pooling.valueOf(name()) : kind == Kind.ENCODER ? Pooling.FIRST : Pooling.LAST;
        }
    }

    public record Train(int workers, int batchSize, int blockSize, long steps, int localSteps, double lr,
                        LrScaling lrScaling, double minLr, long warmup, Schedule schedule, double noamFactor, double beta1,
                        double beta2, double eps, double weightDecay, double gradClip, MomentsPolicy optimizerState,
                        boolean bucketing, SyncMode sync) implements java.io.Serializable {}

    /** train.lr_scaling: how the peak rate grows with the workers. */
    public enum LrScaling {
        NONE, LINEAR, SQRT;

        public double apply(double lr, int workers) {
            return switch (this) {
                case NONE -> lr;
                case LINEAR -> lr * workers;
                case SQRT -> lr * Math.sqrt(workers);
            };
        }
    }

    /** train.schedule: warmup then cosine to min_lr, Noam's, one rate throughout, or warmup then straight down to min_lr. */
    public enum Schedule { COSINE, NOAM, CONSTANT, LINEAR }

    /** train.sync: the replicas average among themselves (through the BlockManager) or through the driver. */
    public enum SyncMode { ALLREDUCE, DRIVER }

    public record Eval(int every, int batches, int batchSize) implements java.io.Serializable {}

    /** {@code best}: also keep the weights of the lowest validation loss so far (docs/training.md, "Best weights"). */
    public record Checkpoint(int every, int keep, boolean best) implements java.io.Serializable {}

    private static final ObjectMapper YAML = YAMLMapper.builder(new YAMLFactory()
                    .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER))
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(MapperFeature.ACCEPT_CASE_INSENSITIVE_ENUMS)
            .enable(EnumFeature.WRITE_ENUMS_TO_LOWERCASE)
            .build();

    /** Reads YAML text (may be empty) named {@code source}, then applies overrides "a.b=value". */
    public static JobConfig parse(String yaml, String source, List<String> overrides) {
        return parse(yaml, source, overrides, Preset.NONE);
    }

    /**
     * Keys a starting checkpoint decides: {@code fixed} ones (its architecture) that a job may
     * repeat but not contradict, {@code suggested} ones (its dropout, its pooling) that a job's own
     * value replaces. {@code source} names the checkpoint in errors.
     */
    public record Preset(String source, Map<String, JsonNode> fixed, Map<String, JsonNode> suggested) {
        public static final Preset NONE = new Preset("", Map.of(), Map.of());
    }

    /** As {@link #parse(String, String, List)}, with the keys {@code preset} decides. */
    public static JobConfig parse(String yaml, String source, List<String> overrides, Preset preset) {
        JsonNode tree = defaults();
        java.util.Set<String> set = new java.util.HashSet<>(); // the keys the job itself gives
        if (yaml != null && !yaml.isBlank()) {
            JsonNode user;
            try {
                refuseAliases(yaml, source);
                user = YAML.readTree(yaml);
            } catch (IOException e) {
                throw new ConfigException(source, "not valid YAML: " + e.getMessage().split("\n")[0]);
            }
            if (user != null && !user.isNull() && !user.isMissingNode()) {
                if (!user.isObject()) {
                    throw new ConfigException(source, "the top level must be a mapping of keys");
                }
                merge((ObjectNode) tree, user, "", set);
            }
        }
        for (String o : overrides == null ? List.<String>of() : overrides) {
            set.add(applyOverride((ObjectNode) tree, o));
        }
        applyPreset((ObjectNode) tree, preset, set);
        JobConfig cfg;
        try {
            cfg = YAML.treeToValue(tree, JobConfig.class);
        } catch (InvalidFormatException e) {
            if (e.getTargetType() != null && e.getTargetType().isEnum()) {
                throw new ConfigException(path(e), "must be one of " + choices(e.getTargetType()) + ", got " + e.getValue());
            }
            throw new ConfigException(path(e), "has the wrong type: " + e.getOriginalMessage().split("\n")[0]);
        } catch (MismatchedInputException e) {
            throw new ConfigException(path(e), "has the wrong type: " + e.getOriginalMessage().split("\n")[0]);
        } catch (IOException e) {
            throw new ConfigException(source, e.getMessage());
        }
        cfg.validate();
        return cfg;
    }

    /**
     * YAML aliases (*name) are refused: the parser does not expand them (a value would silently
     * become the alias's name), and expanded they are how a few lines become 10^9 values.
     */
    private static void refuseAliases(String yaml, String source) throws IOException {
        try (var parser = (com.fasterxml.jackson.dataformat.yaml.YAMLParser) YAML.getFactory().createParser(yaml)) {
            while (parser.nextToken() != null) {
                if (parser.isCurrentAlias()) {
                    throw new ConfigException(source, "line " + parser.currentLocation().getLineNr()
                            + " uses the YAML alias *" + parser.getText() + ": aliases are not supported in job configs,"
                            + " write the value out");
                }
            }
        }
    }

    private static JsonNode defaults() {
        try (InputStream in = JobConfig.class.getResourceAsStream("/io/sparkformer/driver/defaults.yaml")) {
            return YAML.readTree(in);
        } catch (IOException e) {
            throw new IllegalStateException("defaults.yaml missing from the driver jar", e);
        }
    }

    private static void applyPreset(ObjectNode tree, Preset preset, java.util.Set<String> set) {
        for (var e : preset.fixed().entrySet()) {
            JsonNode own = tree.at("/" + e.getKey().replace('.', '/'));
            if (set.contains(e.getKey()) && !sameValue(own, e.getValue())) {
                throw new ConfigException(e.getKey(), "the job says " + own.asText() + " but the checkpoint " + preset.source()
                        + " is " + e.getValue().asText() + ": leave the key out (the checkpoint's value is taken) or start from"
                        + " another checkpoint");
            }
        }
        for (var e : preset.fixed().entrySet()) {
            setAt(tree, e.getKey(), e.getValue());
        }
        for (var e : preset.suggested().entrySet()) {
            if (!set.contains(e.getKey())) {
                setAt(tree, e.getKey(), e.getValue());
            }
        }
    }

    /** Numbers by value (1e-12 and 1.0E-12), the rest by text, case aside (enums). */
    private static boolean sameValue(JsonNode a, JsonNode b) {
        if (a.isNumber() || b.isNumber()) {
            try {
                return Double.parseDouble(a.asText()) == Double.parseDouble(b.asText());
            } catch (NumberFormatException e) {
                return false;
            }
        }
        return a.asText().equalsIgnoreCase(b.asText());
    }

    private static void setAt(ObjectNode tree, String key, JsonNode value) {
        int dot = key.lastIndexOf('.');
        ((ObjectNode) tree.at("/" + key.substring(0, dot).replace('.', '/'))).set(key.substring(dot + 1), value);
    }

    private static void merge(ObjectNode base, JsonNode user, String prefix, java.util.Set<String> set) {
        for (Iterator<Map.Entry<String, JsonNode>> it = user.fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = prefix + e.getKey();
            JsonNode known = base.get(e.getKey());
            if (known == null) {
                throw new ConfigException(key, "unknown key" + suggestion(e.getKey(), base));
            }
            if (known.isObject()) {
                if (!e.getValue().isObject()) {
                    throw new ConfigException(key, "must be a mapping of keys " + fieldNames(known));
                }
                merge((ObjectNode) known, e.getValue(), key + ".", set);
            } else {
                base.set(e.getKey(), e.getValue());
                set.add(key);
            }
        }
    }

    /** Applies "a.b=value"; returns the key. */
    private static String applyOverride(ObjectNode root, String override) {
        int eq = override.indexOf('=');
        if (eq <= 0) {
            throw new ConfigException(override, "an override is key=value, e.g. train.lr=2e-3");
        }
        String key = override.substring(0, eq).trim();
        String[] parts = key.split("\\.");
        ObjectNode node = root;
        for (int i = 0; i < parts.length - 1; i++) {
            JsonNode next = node.get(parts[i]);
            if (next == null || !next.isObject()) {
                throw new ConfigException(key, "unknown key" + suggestion(parts[i], node));
            }
            node = (ObjectNode) next;
        }
        String last = parts[parts.length - 1];
        if (!node.has(last) || node.get(last).isObject()) {
            throw new ConfigException(key, "unknown key" + suggestion(last, node));
        }
        try {
            JsonNode value = YAML.readTree(override.substring(eq + 1));
            node.set(last, value == null || value.isMissingNode() ? YAML.nullNode() : value);
        } catch (IOException e) {
            throw new ConfigException(key, "value is not valid YAML: " + override.substring(eq + 1));
        }
        return key;
    }

    private static String suggestion(String key, JsonNode siblings) {
        String best = null;
        int bestDistance = 3;
        for (String name : fieldNames(siblings)) {
            int dist = levenshtein(key, name);
            if (dist < bestDistance) {
                bestDistance = dist;
                best = name;
            }
        }
        return best != null ? " (did you mean '" + best + "'?)" : "; known keys here: " + fieldNames(siblings);
    }

    private static List<String> fieldNames(JsonNode n) {
        List<String> names = new ArrayList<>();
        n.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static int levenshtein(String a, String b) {
        int[] prev = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            int[] cur = new int[b.length() + 1];
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                cur[j] = Math.min(Math.min(cur[j - 1], prev[j]) + 1, prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            }
            prev = cur;
        }
        return prev[b.length()];
    }

    /** An enum's values as a config spells them. */
    public static List<String> choices(Class<?> enumType) {
        List<String> out = new ArrayList<>();
        for (Object c : enumType.getEnumConstants()) {
            out.add(((Enum<?>) c).name().toLowerCase(java.util.Locale.ROOT));
        }
        return out;
    }

    private static String path(MismatchedInputException e) {
        StringBuilder sb = new StringBuilder();
        for (var ref : e.getPath()) {
            if (ref.getFieldName() != null) {
                sb.append(sb.length() == 0 ? "" : ".").append(ref.getFieldName());
            } else {
                sb.append('[').append(ref.getIndex()).append(']');
            }
        }
        return sb.length() == 0 ? "config" : sb.toString();
    }

    // ------------------------------------------------------------------ checks

    private void validate() {
        require(name != null && name.matches("[A-Za-z0-9._-]+"), "name", "must be letters, digits, '.', '_' or '-'");
        present("data.task", data.task(), Task.class);
        present("data.invalid_utf8", data.invalidUtf8(), InvalidUtf8.class);
        present("data.format", data.format(), Format.class);
        present("model.kind", model.kind(), Kind.class);
        present("model.norm", model.norm(), Norm.class);
        present("model.positional", model.positional(), Positional.class);
        present("model.activation", model.activation(), Activation.class);
        present("model.init", model.init(), Transformer.Init.class);
        present("model.pooling", model.pooling(), ClassifierPooling.class);
        present("train.lr_scaling", train.lrScaling(), LrScaling.class);
        present("train.schedule", train.schedule(), Schedule.class);
        present("train.optimizer_state", train.optimizerState(), MomentsPolicy.class);
        present("train.sync", train.sync(), SyncMode.class);
        require(data.task().fits(model.kind()), "model.kind", "data.task " + data.task().key() + " trains "
                + data.task().modelsThatFit() + ", got " + model.kind().name().toLowerCase(java.util.Locale.ROOT));
        require(data.inputs() != null && !data.inputs().isEmpty(), "data.inputs", "must list at least one file or glob");
        require(data.validationFraction() >= 0 && data.validationFraction() < 1, "data.validation_fraction", "must be in [0, 1)");
        require(data.splitMb() >= 1, "data.split_mb", "must be at least 1");
        require(!data.format().isTable() || (data.column() != null && !data.column().isBlank()), "data.column",
                "must name the text (or source) column of the " + data.format().key() + " input");
        require(!data.format().isTable() || data.task().isStream()
                || (data.targetColumn() != null && !data.targetColumn().isBlank()), "data.target_column",
                "must name the target column of the " + data.format().key() + " input");
        require(data.tokenizer() != null && !data.tokenizer().isBlank(), "data.tokenizer", "must be char, bpe or a tokenizer.json path");
        require(data.bpeVocabSize() >= 261, "data.bpe_vocab_size", "must be at least 261 (specials and bytes)");
        require("auto".equals(model.vocabSize()) || model.vocabSize().matches("[0-9]+"), "model.vocab_size", "must be auto or a whole number");
        require(train.workers() >= 1, "train.workers", "must be at least 1");
        require(train.batchSize() >= 1, "train.batch_size", "must be at least 1");
        require(train.blockSize() >= 2, "train.block_size", "must be at least 2");
        require(train.blockSize() <= model.maxLen(), "train.block_size", "must be at most model.max_len (" + model.maxLen() + ")");
        require(train.steps() >= 1, "train.steps", "must be at least 1");
        require(train.localSteps() >= 1, "train.local_steps", "must be at least 1");
        require(train.lr() > 0, "train.lr", "must be positive");
        require(train.minLr() >= 0 && train.minLr() <= train.lr(), "train.min_lr", "must be in [0, train.lr]");
        require(train.warmup() >= 0, "train.warmup", "must be non-negative");
        require(train.beta1() >= 0 && train.beta1() < 1, "train.beta1", "must be in [0, 1)");
        require(train.beta2() >= 0 && train.beta2() < 1, "train.beta2", "must be in [0, 1)");
        require(train.eps() > 0, "train.eps", "must be positive");
        require(train.weightDecay() >= 0, "train.weight_decay", "must be non-negative");
        require(train.gradClip() >= 0, "train.grad_clip", "must be non-negative");
        require(eval.every() >= 1, "eval.every", "must be at least 1");
        require(eval.batches() >= 1, "eval.batches", "must be at least 1");
        require(eval.batchSize() >= 0, "eval.batch_size", "must be non-negative");
        require(checkpoint.every() >= 1, "checkpoint.every", "must be at least 1");
        require(checkpoint.keep() >= 0, "checkpoint.keep", "must be 0 (keep every checkpoint) or more");
        boolean heldOut = data.task().isStream() && data.validationFraction() > 0;
        require(!checkpoint.best() || !data.validation().isEmpty() || heldOut, "checkpoint.best",
                "needs a validation set to pick the best weights: give data.validation files (or, for causal_lm and"
                        + " masked_lm, data.validation_fraction)");
        if (!"auto".equals(model.vocabSize())) {
            transformerConfig(Integer.parseInt(model.vocabSize()), isClassification() ? 2 : 0);
        }
    }

    private static void require(boolean ok, String key, String message) {
        if (!ok) {
            throw new ConfigException(key, message);
        }
    }

    private static void present(String key, Enum<?> value, Class<?> type) {
        require(value != null, key, "must be one of " + choices(type) + ", got null");
    }

    // ------------------------------------------------------------------ derived

    /**
     * The model's parameter count before the tokenizer exists, for sizing executors: an
     * automatic vocabulary is taken as the BPE's target, or 256 for characters and bytes.
     */
    public long parameterEstimate() {
        int vocab = "bpe".equals(data.tokenizer()) ? data.bpeVocabSize() : isTokenizerPath() ? 50_000 : 256;
        return io.sparkformer.model.ParameterLayout.of(transformerConfig(vocab, isClassification() ? 2 : 0)).size();
    }

    @com.fasterxml.jackson.annotation.JsonIgnore // derived, not a config key
    public boolean isClassification() {
        return data.task() == Task.CLASSIFICATION;
    }

    /**
     * The model for a vocabulary size (auto resolved by the caller) and, for classification, the
     * corpus's label count (else 0); errors name model.* keys.
     */
    public TransformerConfig transformerConfig(int tokenizerVocab, int labels) {
        int vocab = "auto".equals(model.vocabSize()) ? tokenizerVocab : Integer.parseInt(model.vocabSize());
        try {
            return new TransformerConfig(model.kind(), vocab, model.dModel(), model.nHeads(), model.nLayers(), model.dFf(),
                    model.maxLen(), model.norm(), model.positional(), model.activation(), model.scaleEmbeddings(),
                    model.lnEps(), model.padId(), model.dropout(), model.tieEmbeddings(), isClassification() ? labels : 0,
                    isClassification() ? model.pooling().resolve(model.kind()) : null, model.typeVocabSize(),
                    model.embeddingNorm(), model.mlmHead() && data.task() == Task.MASKED_LM);
        } catch (ConfigException e) {
            throw new ConfigException("model." + e.key(), e.getMessage().substring(e.key().length() + 2));
        }
    }

    /** The peak learning rate after the workers rule: lr, lr·workers or lr·√workers. */
    public double scaledLr(double lr) {
        return train.lrScaling().apply(lr, train.workers());
    }

    public long rounds() {
        return (train.steps() + train.localSteps() - 1) / train.localSteps();
    }

    public CorpusSpec corpusSpec(String shardsDir) {
        return new CorpusSpec(data.task(), data.inputs(), data.validation(), data.validationFraction(), data.tokenizer(),
                data.bpeVocabSize(), data.invalidUtf8() == InvalidUtf8.SKIP, shardsDir, (long) data.splitMb() << 20,
                data.format(), !data.format().isTable() ? List.of() : data.task().isStream() ? List.of(data.column())
                        : List.of(data.column(), data.targetColumn()), data.header());
    }

    /** Paths without a scheme resolve against base (the project root for the launcher). */
    public JobConfig resolvePaths(java.nio.file.Path base) {
        boolean tables = data.format() == Format.TABLE; // catalog names, not paths
        Data d = new Data(data.task(), tables ? data.inputs() : resolve(data.inputs(), base),
                tables ? data.validation() : resolve(data.validation(), base),
                data.validationFraction(), isTokenizerPath() ? resolve(List.of(data.tokenizer()), base).get(0) : data.tokenizer(),
                data.bpeVocabSize(), data.invalidUtf8(), data.shards() == null ? null : resolve(List.of(data.shards()), base).get(0),
                data.format(), data.column(), data.targetColumn(), data.splitMb(), data.header());
        return new JobConfig(name, seed, d, model, train, eval, checkpoint);
    }

    private boolean isTokenizerPath() {
        return !data.tokenizer().equals("char") && !data.tokenizer().equals("bpe");
    }

    private static List<String> resolve(List<String> paths, java.nio.file.Path base) {
        List<String> out = new ArrayList<>();
        for (String p : paths) {
            out.add(io.sparkformer.driver.corpus.HadoopFiles.resolve(p, base));
        }
        return out;
    }

    public String toYaml() {
        try {
            return YAML.writeValueAsString(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A job config is a page of YAML: anything larger is not one (and is not read whole). */
    public static final int MAX_CONFIG_BYTES = 1 << 20;

    public static String read(java.nio.file.Path file) {
        try {
            long size = java.nio.file.Files.size(file);
            if (size > MAX_CONFIG_BYTES) {
                throw new ConfigException("--config", file + " has " + size + " bytes; a job config has at most "
                        + MAX_CONFIG_BYTES);
            }
            return java.nio.file.Files.readString(file, StandardCharsets.UTF_8);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new ConfigException("--config", file + ": no such file");
        } catch (IOException e) {
            throw new ConfigException("--config", file + ": " + e.getMessage());
        }
    }
}
