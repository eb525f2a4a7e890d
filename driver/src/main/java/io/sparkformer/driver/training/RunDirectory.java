package io.sparkformer.driver.training;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.plots.LossPlot;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.io.Checkpoint;
import io.sparkformer.model.io.SafeTensors;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.model.text.Tokenizer;

/**
 * A run directory on any Hadoop FS, and every name, read and write in it: {@code config.yaml} and
 * {@code tokenizer.json} of the run, {@code metrics.jsonl}, checkpoints {@code checkpoints/round-N/}
 * (each complete once its {@code state.json} is there, written last) and the {@code latest} pointer
 * moved after it, best weights {@code best-weights/round-N/} and their {@code best} pointer, and at
 * the end {@code summary.json}, {@code loss.png} and {@code _SUCCESS}; {@code _LOCK} while a job
 * trains into it. Every file is written to a temporary name and then replaces its target.
 */
public final class RunDirectory {
    private static final Logger LOG = LoggerFactory.getLogger(RunDirectory.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    public static final String LATEST = "latest";
    public static final String BEST = "best";
    public static final String STATE = "state.json";
    public static final String SUMMARY = "summary.json";
    public static final String SUCCESS = "_SUCCESS";
    public static final String METRICS = "metrics.jsonl";
    public static final String CONFIG = "config.yaml";
    public static final String LOSS_PLOT = "loss.png";
    public static final String LOCK = "_LOCK";
    static final String CHECKPOINTS = "checkpoints";
    static final String BEST_WEIGHTS = "best-weights";
    private static final Pattern CHECKPOINT_NAME = Pattern.compile(CHECKPOINTS + "/round-(\\d{6,18})");
    private static final Pattern BEST_NAME = Pattern.compile(BEST_WEIGHTS + "/round-(\\d{6,18})");
    /** A pointer holds one short name; anything longer is not one. */
    private static final long POINTER_MAX_BYTES = 4096;

    private final String path;
    private final Configuration conf;

    public RunDirectory(String path, Configuration conf) {
        this.path = path;
        this.conf = conf;
    }

    public String path() { return path; }

    public Configuration conf() { return conf; }

    /** The path of {@code name} inside the run. */
    public String file(String name) {
        return path + "/" + name;
    }

    // ------------------------------------------------------------------ what is there

    /**
     * A new run (no --resume) into a directory that holds one would append to its metrics and
     * leave its pointer and _SUCCESS behind: refused, with nothing touched.
     */
    public void requireNoRun() throws IOException {
        for (String name : List.of(LATEST, CHECKPOINTS, BEST, METRICS, SUCCESS)) {
            if (HadoopFiles.exists(file(name), conf)) {
                throw new ConfigException("--output", path + " already holds a run (" + name
                        + "): pass --resume to continue it, or give a new --output");
            }
        }
    }

    /** True once the run has finished ({@code _SUCCESS}). */
    public boolean finished() throws IOException {
        return HadoopFiles.exists(file(SUCCESS), conf);
    }

    public byte[] summaryBytes() throws IOException {
        return HadoopFiles.read(file(SUMMARY), conf);
    }

    public JsonNode summary() throws IOException {
        return JSON.readTree(summaryBytes());
    }

    /**
     * The run's newest complete checkpoint (a path), or null when it has none. The pointer is
     * trusted only to name a complete checkpoint of this run; the newest complete one is also
     * found by listing, and wins when it is newer (a crash before the pointer moved) or when
     * there is no pointer (lost, or a crash before the first one moved).
     */
    public String latest() throws IOException {
        String pointer = file(LATEST);
        String newest = newestComplete();
        if (HadoopFiles.exists(pointer, conf)) {
            String dir = named(pointer, CHECKPOINT_NAME, "a checkpoint");
            if (newest != null && roundOf(newest) > roundOf(dir)) {
                LOG.warn("{} names {}; the newer complete checkpoint {} is used", pointer, dir, newest);
                return newest;
            }
            return dir;
        }
        if (newest != null) {
            LOG.warn("{} has no {} pointer; its newest complete checkpoint is {}", path, LATEST, newest);
        }
        return newest;
    }

    /** The run's latest checkpoint for a message: its path, or "none". */
    String latestOrNone() throws IOException {
        String latest = latest();
        return latest == null ? "none" : latest;
    }

    /**
     * The directory the run's {@code best} pointer names (weights, tokenizer, config and the
     * state of the round that scored lowest), or null when the run has no pointer.
     */
    public String best() throws IOException {
        String pointer = file(BEST);
        return HadoopFiles.exists(pointer, conf) ? named(pointer, BEST_NAME, "best weights") : null;
    }

    /** The state a checkpoint (or best weights) directory of this run was written with. */
    RunState state(String dir) throws IOException {
        return RunState.fromJson(HadoopFiles.read(dir + "/" + STATE, conf), dir + "/" + STATE);
    }

    /**
     * The complete directory of this run that {@code pointer} names, or an error naming the
     * pointer: a file too large to be one, a name outside {@code shape} (another place), or a
     * directory without its state.json.
     */
    private String named(String pointer, Pattern shape, String what) throws IOException {
        Path p = new Path(pointer);
        long size = p.getFileSystem(conf).getFileStatus(p).getLen();
        if (size > POINTER_MAX_BYTES) {
            throw new ConfigException(pointer, "holds " + size + " bytes: not a pointer to " + what);
        }
        String name = new String(HadoopFiles.read(pointer, conf), StandardCharsets.UTF_8).trim();
        if (!shape.matcher(name).matches()) {
            throw new ConfigException(pointer, "names \"" + abbreviate(name) + "\", not " + what + " of this run ("
                    + shape.pattern().replace("(\\d{6,18})", "NNNNNN") + ")");
        }
        String dir = file(name);
        if (!HadoopFiles.exists(dir + "/" + STATE, conf)) {
            throw new ConfigException(pointer, "names " + dir + ", which is incomplete (no " + STATE + ")");
        }
        return dir;
    }

    private String newestComplete() throws IOException {
        return checkpoints().entrySet().stream().filter(Map.Entry::getValue).map(Map.Entry::getKey)
                .findFirst().map(this::checkpoint).orElse(null);
    }

    /** The run's checkpoint directories, newest first: round → complete (state.json present). */
    private TreeMap<Long, Boolean> checkpoints() throws IOException {
        TreeMap<Long, Boolean> out = new TreeMap<>(Comparator.reverseOrder());
        Path dir = new Path(path, CHECKPOINTS);
        FileSystem fs = dir.getFileSystem(conf);
        if (!fs.exists(dir)) {
            return out;
        }
        for (FileStatus s : fs.listStatus(dir)) {
            Matcher m = CHECKPOINT_NAME.matcher(CHECKPOINTS + "/" + s.getPath().getName());
            if (s.isDirectory() && m.matches()) {
                out.put(Long.parseLong(m.group(1)), fs.exists(new Path(s.getPath(), STATE)));
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ checkpoints

    /** The directory of round r's checkpoint. */
    public String checkpoint(long round) {
        return file(String.format(CHECKPOINTS + "/round-%06d", round));
    }

    /** The directory of the best weights as of round r. */
    String bestWeights(long round) {
        return file(String.format(BEST_WEIGHTS + "/round-%06d", round));
    }

    /**
     * The files that make {@code dir} a model to load: {@code model}'s weights, the tokenizer and
     * the job config; a checkpoint also needs its optimizer files and then {@link #completeCheckpoint}.
     */
    void writeModel(String dir, io.sparkformer.model.ParameterBuffer params, io.sparkformer.model.TransformerConfig model,
                    List<String> labels, Tokenizer tokenizer, String configYaml) throws IOException {
        writeModelFile(dir, Checkpoint.weightTensors(params), Checkpoint.modelMetadata(model, labels), conf, () -> {});
        writeModelCompanions(dir, tokenizer, configYaml);
    }

    /** A model directory's files beside the weights: the tokenizer and the job config. */
    void writeModelCompanions(String dir, Tokenizer tokenizer, String configYaml) throws IOException {
        HadoopFiles.writeAtomically(dir + "/" + Tokenizer.FILE_NAME, tokenizer.toJson(), conf);
        HadoopFiles.writeAtomically(dir + "/" + CONFIG, configYaml.getBytes(StandardCharsets.UTF_8), conf);
    }

    /**
     * The weights file of a model directory (on any executor), from tensors taken earlier
     * ({@link Checkpoint#weightTensors}: views, which must not change until {@code bytesOut} has run).
     */
    static void writeModelFile(String dir, Map<String, SafeTensors.Tensor> tensors, Map<String, String> metadata,
                               Configuration conf, Runnable bytesOut) throws IOException {
        HadoopFiles.writeAtomically(dir + "/" + Checkpoint.MODEL_FILE, out -> {
            SafeTensors.write(out, tensors, metadata);
            bytesOut.run(); // flushed to the file system; forcing it to disk reads no buffer
        }, conf);
    }

    /**
     * Refuses {@code dir} (given as {@code option}) when it is a run's checkpoint not yet complete
     * (no state.json): its files may be a diverged round's, since the workers write them while
     * the round's validation runs. Any other directory passes.
     */
    public static void requireCompleteIfCheckpoint(String dir, String option, Configuration conf) throws IOException {
        Path p = new Path(dir);
        if (p.getParent() != null && CHECKPOINTS.equals(p.getParent().getName()) && !HadoopFiles.exists(dir + "/" + STATE, conf)) {
            throw new ConfigException(option, dir + " is an incomplete checkpoint (no " + STATE
                    + "): its run stopped before completing it; give the run directory for its latest complete one");
        }
    }

    /** Throws naming the first of {@code files} that {@code dir} lacks: a checkpoint is not complete without it. */
    void requireFiles(String dir, List<String> files) throws IOException {
        String missing = firstMissing(dir, files);
        if (missing != null) {
            throw new IOException(missing + " is missing: the checkpoint stays incomplete");
        }
    }

    /** Whether {@code dir} holds every one of {@code files}. */
    boolean hasFiles(String dir, List<String> files) throws IOException {
        return firstMissing(dir, files) == null;
    }

    private String firstMissing(String dir, List<String> files) throws IOException {
        for (String f : files) {
            if (!HadoopFiles.exists(dir + "/" + f, conf)) {
                return dir + "/" + f;
            }
        }
        return null;
    }

    /**
     * Completes the checkpoint in {@code dir}: its state.json last (its presence makes the
     * checkpoint complete), then the pointer (a crash before it leaves the previous checkpoint
     * current), then older checkpoints beyond {@code keep} go. Returns the rounds deleted.
     */
    List<Long> completeCheckpoint(String dir, RunState state, int keep) throws IOException {
        HadoopFiles.writeAtomically(dir + "/" + STATE, state.toJson(), conf);
        pointLatestTo(dir);
        return prune(state.round(), keep);
    }

    /** Completes the best weights in {@code dir}: state.json, then the best pointer, then the older ones go. */
    void completeBest(String dir, RunState state) throws IOException {
        HadoopFiles.writeAtomically(dir + "/" + STATE, state.toJson(), conf);
        String name = relative(dir);
        HadoopFiles.writeAtomically(file(BEST), name.getBytes(StandardCharsets.UTF_8), conf);
        Path all = new Path(path, BEST_WEIGHTS);
        FileSystem fs = all.getFileSystem(conf);
        for (FileStatus s : fs.listStatus(all)) {
            if (!(BEST_WEIGHTS + "/" + s.getPath().getName()).equals(name)) {
                fs.delete(s.getPath(), true);
            }
        }
    }

    /** Moves the pointer to {@code checkpointDir} (a complete checkpoint of this run) unless it names it already. */
    void pointLatestTo(String checkpointDir) throws IOException {
        String name = relative(checkpointDir);
        String pointer = file(LATEST);
        if (HadoopFiles.exists(pointer, conf)
                && new String(HadoopFiles.read(pointer, conf), StandardCharsets.UTF_8).trim().equals(name)) {
            return;
        }
        HadoopFiles.writeAtomically(pointer, name.getBytes(StandardCharsets.UTF_8), conf);
    }

    /**
     * Deletes all but the newest {@code keep} complete checkpoints older than {@code current}
     * (which always stays), and incomplete ones older than it; called once the pointer has
     * moved. {@code keep} 0 keeps every checkpoint. Returns the rounds deleted.
     */
    List<Long> prune(long current, int keep) throws IOException {
        List<Long> deleted = new ArrayList<>();
        if (keep <= 0) {
            return deleted;
        }
        FileSystem fs = new Path(path).getFileSystem(conf);
        int kept = 1; // the current one
        for (Map.Entry<Long, Boolean> e : checkpoints().tailMap(current, false).entrySet()) {
            if (e.getValue() && kept < keep) {
                kept++;
                continue;
            }
            fs.delete(new Path(checkpoint(e.getKey())), true);
            deleted.add(e.getKey());
        }
        return deleted;
    }

    /** Reads the optimizer state of {@code file} in checkpoint {@code dir} into {@code opt} (on any executor). */
    static void readOptimizer(String dir, String file, AdamW opt, Configuration conf) throws IOException {
        try (SafeTensors.Reader r = SafeTensors.open(HadoopFiles.source(dir + "/" + file, conf))) {
            Checkpoint.readOptimizer(r, opt);
        }
    }

    /** The optimizer step the optimizer file {@code file} of checkpoint {@code dir} was written at. */
    long optimizerStep(String dir, String file) throws IOException {
        try (SafeTensors.Reader r = SafeTensors.open(HadoopFiles.source(dir + "/" + file, conf))) {
            return Checkpoint.optimizerStep(r);
        }
    }

    /** Writes {@code opt}'s state as {@code file} of checkpoint {@code dir} (on any executor). */
    static void writeOptimizer(String dir, String file, AdamW opt, Configuration conf) throws IOException {
        writeOptimizer(dir, file, Checkpoint.optimizerTensors(opt), Checkpoint.optimizerMetadata(opt), conf, () -> {});
    }

    /**
     * Writes an optimizer state taken earlier ({@link Checkpoint#optimizerTensors}: views of the
     * moments, which must not change until {@code bytesOut} has run, and the step as it was then).
     */
    static void writeOptimizer(String dir, String file, Map<String, SafeTensors.Tensor> tensors, Map<String, String> metadata,
                               Configuration conf, Runnable bytesOut) throws IOException {
        HadoopFiles.writeAtomically(dir + "/" + file, out -> {
            SafeTensors.write(out, tensors, metadata);
            bytesOut.run(); // flushed to the file system; forcing it to disk reads no buffer
        }, conf);
    }

    // ------------------------------------------------------------------ the run's own files

    /** Writes {@code bytes} as the run's file {@code name}. */
    void write(String name, byte[] bytes) throws IOException {
        HadoopFiles.writeAtomically(file(name), bytes, conf);
    }

    /** The run's metrics, as far as they were written. */
    Metrics metrics() throws IOException {
        return new Metrics(file(METRICS), conf);
    }

    /** Ends the run: summary.json, the loss plot, then {@code _SUCCESS}. */
    void finish(Map<String, Object> summary, List<ObjectNode> metricRows) throws IOException {
        write(SUMMARY, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(summary));
        LossPlot.write(metricRows, file(LOSS_PLOT), conf);
        write(SUCCESS, new byte[0]);
    }

    private String relative(String dir) {
        return dir.substring(path.length() + 1);
    }

    private static long roundOf(String checkpoint) {
        return Long.parseLong(checkpoint.substring(checkpoint.lastIndexOf('-') + 1));
    }

    private static String abbreviate(String s) {
        String oneLine = s.replaceAll("\\p{Cntrl}", "?");
        return oneLine.length() > 80 ? oneLine.substring(0, 80) + "..." : oneLine;
    }
}
