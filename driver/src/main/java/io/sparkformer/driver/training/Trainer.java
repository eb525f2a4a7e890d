package io.sparkformer.driver.training;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.sparkformer.driver.cluster.ExecutorSettings;
import io.sparkformer.driver.cluster.OutOfMemory;
import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.CorpusBuilder;
import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.corpus.SerializableConf;
import io.sparkformer.driver.plots.LossPlot;
import io.sparkformer.model.Model;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.io.Checkpoint;
import io.sparkformer.model.io.RandomAccessSource;
import io.sparkformer.model.io.SafeTensors;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.model.optim.LearningRateSchedule;
import io.sparkformer.model.text.Tokenizer;
import io.sparkformer.worker.training.LocalTrainer;

/**
 * The round loop on the driver: restore or initialise, let every worker run H local steps on
 * its own shards and average (behind {@link ParameterSync}: through the driver, or among the
 * workers with the driver carrying counts), record the round. Validation, metrics and
 * checkpoints happen every few rounds; a run directory on any Hadoop FS ends with summary.json
 * and _SUCCESS.
 *
 * <p>Averages are sums in worker order in double, not treeAggregate's completion order: that
 * keeps every round a deterministic function of its inputs, so a resumed run and a rerun task
 * give the same numbers as an unbroken run.
 */
public final class Trainer {
    private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a finished (or stopped) run reports. */
    public record Summary(Map<String, Object> values) {}

    /** Round listener, for progress display. */
    public interface Progress {
        void round(long round, long rounds, double trainLoss, Double valLoss);
    }

    private final JavaSparkContext sc;
    private final JobConfig cfg;
    private final String runDir;
    private final Configuration conf;
    private final int taskThreads;

    /** {@code taskThreads}: the native threads each worker's task computes with (NativeThreads). */
    public Trainer(JavaSparkContext sc, JobConfig cfg, String runDir, int taskThreads) {
        this.sc = sc;
        this.cfg = cfg;
        this.runDir = runDir;
        this.conf = sc.hadoopConfiguration();
        this.taskThreads = taskThreads;
    }

    /** How often a run resumes from its last checkpoint after losing a worker's state. */
    private static final int RECOVERIES = 3;

    /**
     * Trains from scratch, from {@code initFrom}'s weights, or from the run's latest checkpoint.
     * With train.sync allreduce, a worker state lost with its executor (and not replicated), or an
     * executor lost inside a round's barrier stage, costs the rounds since the last checkpoint: the
     * run resumes from it, with the same bits.
     */
    public Summary run(CorpusBuilder.Corpus corpus, boolean resume, String initFrom, Progress progress) throws IOException {
        if (!resume) {
            requireNoRun(runDir, conf);
        }
        return runWithRecovery(corpus, resume, initFrom, progress);
    }

    /**
     * A new run (no --resume) into a directory that holds one would append to its metrics and
     * leave its pointer and _SUCCESS behind: refused, with nothing touched.
     */
    public static void requireNoRun(String runDir, Configuration conf) throws IOException {
        for (String name : List.of(RunCheckpoints.POINTER, "checkpoints", RunCheckpoints.BEST, "metrics.jsonl", "_SUCCESS")) {
            if (HadoopFiles.exists(runDir + "/" + name, conf)) {
                throw new io.sparkformer.model.ConfigException("--output", runDir + " already holds a run (" + name
                        + "): pass --resume to continue it, or give a new --output");
            }
        }
    }

    private Summary runWithRecovery(CorpusBuilder.Corpus corpus, boolean resume, String initFrom, Progress progress)
            throws IOException {
        for (int attempt = 0; ; attempt++) {
            try {
                return attempt == 0 ? runFrom(corpus, resume, initFrom, progress) : runFrom(corpus, true, null, progress);
            } catch (Exception e) { // Spark's job failures arrive as SparkException, undeclared
                String lost = lostState(e);
                if (lost == null || attempt == RECOVERIES || RunCheckpoints.latest(runDir, conf) == null) {
                    throw e;
                }
                LOG.warn("{}; resuming {} from its last checkpoint (recovery {} of {})", lost, runDir, attempt + 1, RECOVERIES);
            }
        }
    }

    /**
     * Why a failed job lost worker state, or null when it did not: a state block gone with its
     * executor, or an executor lost inside a barrier stage, which Spark does not rerun (it aborts
     * the job: "Could not recover from a failed barrier ResultStage"). Any other failure, an out
     * of memory or a bug, would fail again and is not retried.
     */
    static String lostState(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = t.getMessage();
            if (m != null && m.contains(BlockVectors.LOST)) {
                return line(m, m.indexOf(BlockVectors.LOST));
            }
            if (m != null && m.contains(FAILED_BARRIER) && m.contains(EXECUTOR_LOST)) {
                return "a barrier round lost its executor: " + line(m, m.indexOf(EXECUTOR_LOST));
            }
        }
        return null;
    }

    private static final String FAILED_BARRIER = "failed barrier";
    private static final String EXECUTOR_LOST = "ExecutorLostFailure";

    private static String line(String m, int at) {
        int end = m.indexOf('\n', at);
        return m.substring(at, end < 0 ? m.length() : end);
    }

    private Summary runFrom(CorpusBuilder.Corpus corpus, boolean resume, String initFrom, Progress progress) throws IOException {
        long wallStart = System.nanoTime();
        List<String> labels = corpus.manifest().labels();
        if (cfg.isClassification() && labels == null) {
            throw new io.sparkformer.model.ConfigException("data.task", "the shards in " + corpus.directory()
                    + " hold no labels: they were not built for classification");
        }
        TransformerConfig modelCfg = cfg.transformerConfig(corpus.tokenizer().vocabSize(), cfg.isClassification() ? labels.size() : 0);
        corpus.requireVocabularyFits(modelCfg.vocabSize());
        int workers = cfg.train().workers();
        boolean localMoments = "local".equals(cfg.train().optimizerState());
        LocalTrainer.Settings settings = new LocalTrainer.Settings(
                new AdamW.Settings(cfg.train().beta1(), cfg.train().beta2(), cfg.train().eps(), cfg.train().weightDecay()),
                cfg.train().gradClip(), schedule(modelCfg), cfg.seed());
        String runId = runDir + "#" + UUID.randomUUID();
        WorkerState.Spec spec = new WorkerState.Spec(runId, cfg, modelCfg, settings, corpus.directory(), corpus.manifest(),
                new SerializableConf(conf), taskThreads);

        Model model = Model.create(modelCfg, org.nd4j.linalg.api.buffer.DataType.FLOAT);
        long parameterCount = model.parameterCount();
        if (parameterCount > Integer.MAX_VALUE - 8) {
            // the round's vectors are Java float arrays; past this the layout would need splitting
            throw new io.sparkformer.model.ConfigException("model", "the model has " + parameterCount
                    + " parameters; a worker's flat vectors hold at most " + (Integer.MAX_VALUE - 8));
        }
        float[] params;
        long optimizerStep = 0;
        long startRound = 0;
        Metrics metrics = new Metrics(runDir, conf);
        double best = Double.POSITIVE_INFINITY;
        long tokens = 0;
        String ckpt = resume ? RunCheckpoints.latest(runDir, conf) : null;
        if (ckpt != null) {
            RunState state = RunState.read(ckpt, conf);
            if (state.step() != state.round() * cfg.train().localSteps()) {
                // the data cursor and the schedule are functions of round x H: another H would shift both
                throw new io.sparkformer.model.ConfigException("train.local_steps", "the checkpoint " + ckpt + " is at round "
                        + state.round() + ", step " + state.step() + ", written with " + (state.round() == 0 ? "?"
                        : String.valueOf(state.step() / state.round())) + " local steps a round; the config asks for "
                        + cfg.train().localSteps() + ": resume with the run's own config.yaml");
            }
            params = readWeights(ckpt, model);
            // the moments themselves are read where they are used (ParameterSync)
            try (SafeTensors.Reader r = SafeTensors.open(source(ckpt + "/"
                    + ParameterSync.optimizerFile(0, localMoments ? workers : 1)))) {
                optimizerStep = Checkpoint.optimizerStep(r);
            }
            startRound = state.round();
            best = state.bestValLoss();
            tokens = state.tokens();
            metrics.truncate(startRound);
            // a crash after the checkpoint's state.json, before the pointer moved: move it now, so a
            // resume with no rounds left still ends with the pointer on the final weights
            RunCheckpoints.pointTo(runDir, ckpt, conf);
            LOG.info("Resuming {} from {} (round {}, step {})", runDir, ckpt, startRound, state.step());
        } else {
            if (resume) {
                // idempotent reruns: nothing to resume yet means this is the run's first attempt
                LOG.info("No checkpoint in {} yet; starting the run from the beginning", runDir);
                metrics.truncate(0); // rows a killed first attempt flushed before its first checkpoint
            }
            model.initialize(cfg.seed(), Transformer.Init.valueOf(cfg.model().init().toUpperCase(java.util.Locale.ROOT)));
            if (initFrom != null) {
                params = readWeights(initFrom, model);
                LOG.info("Initialised from {}", initFrom);
            } else {
                params = model.parameters().flat().toFloatVector();
            }
        }
        String bestDir = resume ? RunCheckpoints.best(runDir, conf) : null;
        if (bestDir != null) {
            // best weights a killed attempt saved after its last checkpoint: the replayed rounds score
            // the same, so they must beat these, not the checkpoint's older best
            best = Math.min(best, RunState.read(bestDir, conf).bestValLoss());
        }
        writeAtomically(runDir + "/config.yaml", cfg.toYaml().getBytes(StandardCharsets.UTF_8));
        writeAtomically(runDir + "/" + Tokenizer.FILE_NAME, corpus.tokenizer().toJson());
        List<ExecutorSettings.Report> reports = ExecutorSettings.gather(sc, workers, taskThreads);
        for (int w = 0; w < reports.size(); w++) {
            LOG.info("worker {} runs on {}", w, reports.get(w));
        }

        long rounds = cfg.rounds();
        int h = cfg.train().localSteps();
        Double lastVal = null;
        double lastTrain = Double.NaN;
        if (!metrics.rows().isEmpty()) {
            // a resume with no rounds left reports the losses its last round recorded
            ObjectNode lastRow = metrics.rows().get(metrics.rows().size() - 1);
            lastTrain = lastRow.path("train_loss").asDouble(Double.NaN);
            lastVal = lastRow.path("val_loss").isNumber() ? lastRow.get("val_loss").asDouble() : null;
        }
        long round = startRound;
        double computeTotal = 0;
        double syncTotal = 0;
        ParameterSync sync = ParameterSync.of(cfg.train().sync(), sc, spec, workers, localMoments, params, ckpt, optimizerStep);
        params = null; // held by the sync from here on
        for (; round < rounds; round++) {
            long step = round * h;
            int steps = (int) Math.min(h, cfg.train().steps() - step);
            long t0 = System.nanoTime();
            boolean last = round + 1 == rounds;
            boolean checkpointRound = (round + 1) % cfg.checkpoint().every() == 0 || last;
            ParameterSync.RoundStats stats = sync.round(round, step, steps, step,
                    checkpointRound ? runDir + "/" + RunCheckpoints.name(round + 1) : null);
            if (stats.divergedWorker() >= 0) {
                metrics.flush();
                sync.close();
                throw new TrainingDivergedException("training diverged: worker " + stats.divergedWorker() + " saw loss "
                        + stats.divergedLoss() + " at step " + stats.divergedStep()
                        + " (a non-finite loss, gradient norm or weight); the last good checkpoint is "
                        + Objects.requireNonNullElse(RunCheckpoints.latest(runDir, conf), "none"));
            }
            double wall = (System.nanoTime() - t0) / 1e9;
            double compute = stats.computeSeconds();
            computeTotal += compute;
            syncTotal += Math.max(0, wall - compute);
            long roundTokens = stats.tokens();
            tokens += roundTokens;
            lastTrain = stats.meanLoss();
            Double val = null;
            if ((round + 1) % cfg.eval().every() == 0 || last) {
                val = evaluate(spec, sync, workers);
                if (val != null && !Double.isFinite(val)) {
                    // averaged weights that score NaN are not a checkpoint to keep, nor a run to call finished
                    metrics.flush();
                    sync.close();
                    throw new TrainingDivergedException("training diverged: the validation loss after round " + (round + 1)
                            + " is " + val + "; the last good checkpoint is "
                            + Objects.requireNonNullElse(RunCheckpoints.latest(runDir, conf), "none"));
                }
                if (val != null) {
                    lastVal = val;
                    if (val < best && cfg.checkpoint().best()) {
                        bestDir = saveBest(model, sync, corpus.tokenizer(), corpus.manifest().labels(),
                                new RunState(round + 1, step + steps, tokens, val, cfg.seed()));
                    }
                    best = Math.min(best, val);
                }
            }
            ObjectNode row = JSON.createObjectNode();
            row.put("round", round + 1);
            row.put("step", step + steps);
            row.put("tokens", tokens);
            row.put("train_loss", lastTrain);
            if (val != null) {
                row.put("val_loss", val);
            } else {
                row.putNull("val_loss");
            }
            row.put("lr", settings.schedule().at(step + steps - 1));
            row.put("tokens_per_s", roundTokens / wall);
            row.put("compute_s", compute);
            row.put("sync_s", Math.max(0, wall - compute));
            row.put("sync_bytes_per_worker", stats.bytesPerWorker());
            row.put("sync_bytes_driver", stats.driverBytes());
            metrics.add(row);
            if (progress != null) {
                progress.round(round + 1, rounds, lastTrain, val);
            }
            if (checkpointRound) {
                metrics.flush();
                checkpoint(model, sync, corpus.tokenizer(), corpus.manifest().labels(), new RunState(round + 1, step + steps, tokens, best, cfg.seed()));
            }
        }
        sync.close();
        metrics.flush();
        double wallSeconds = (System.nanoTime() - wallStart) / 1e9;
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("best_val_loss", Double.isInfinite(best) ? null : best);
        s.put("best_weights", cfg.checkpoint().best() ? bestDir : null);
        s.put("final_val_loss", lastVal);
        s.put("final_train_loss", lastTrain);
        s.put("steps", cfg.train().steps());
        s.put("rounds", rounds);
        s.put("workers", workers);
        s.put("local_steps", h);
        s.put("tokens", tokens);
        s.put("parameters", parameterCount);
        s.put("wall_seconds", wallSeconds);
        s.put("tokens_per_s", tokens / Math.max(1e-9, computeTotal + syncTotal));
        s.put("compute_seconds", computeTotal);
        s.put("sync_seconds", syncTotal);
        s.put("sync", cfg.train().sync());
        s.put("resumed_from_round", startRound > 0 ? startRound : null);
        s.put("validation_set", validationFingerprint(corpus));
        s.put("finished", Instant.now().toString());
        writeAtomically(runDir + "/summary.json", JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(s));
        LossPlot.write(metrics.rows(), runDir + "/loss.png", conf);
        writeAtomically(runDir + "/_SUCCESS", new byte[0]);
        return new Summary(s);
    }

    /**
     * Names the validation set a run was scored on: its shards' checksums and the evaluation
     * settings that pick the batches. Two runs' losses compare only when these are equal.
     */
    String validationFingerprint(CorpusBuilder.Corpus corpus) throws IOException {
        StringBuilder b = new StringBuilder();
        for (var shard : corpus.manifest().split("validation").shards()) {
            b.append(shard.sha256()).append(',');
        }
        b.append("task=").append(cfg.data().task()).append(",seed=").append(cfg.seed())
                .append(",batches=").append(cfg.eval().batches()).append(",batch_size=").append(cfg.eval().batchSize())
                .append(",train_batch_size=").append(cfg.train().batchSize()).append(",block=").append(cfg.train().blockSize())
                .append(",tokenizer=").append(corpus.manifest().tokenizer().fingerprint());
        return HadoopFiles.sha256(b.toString().getBytes(StandardCharsets.UTF_8));
    }

    private LearningRateSchedule schedule(TransformerConfig model) {
        double lr = cfg.scaledLr(cfg.train().lr());
        double minLr = cfg.scaledLr(cfg.train().minLr());
        return switch (cfg.train().schedule()) {
            case "noam" -> LearningRateSchedule.noam(cfg.train().noamFactor(), model.dModel(), Math.max(1, cfg.train().warmup()));
            case "constant" -> LearningRateSchedule.constant(lr);
            default -> LearningRateSchedule.warmupCosine(lr, minLr, cfg.train().warmup(),
                    Math.max(cfg.train().warmup(), cfg.train().steps()));
        };
    }

    /** Mean validation loss per counted token over the fixed validation batches, or null. */
    private Double evaluate(WorkerState.Spec spec, ParameterSync sync, int workers) {
        ParameterSync.Averaged p = sync.averagedForTasks();
        int batches = cfg.eval().batches();
        List<double[]> parts = sync.workerPartitions().map(w -> OutOfMemory.guard("worker " + w + "'s validation", () -> {
            WorkerState s = WorkerState.get(spec, w);
            if (s.validation == null) {
                return new double[] {0, 0};
            }
            int n = batches;
            if (s.validation instanceof io.sparkformer.worker.batches.PairBatches pairs) {
                n = Math.min(batches, pairs.batchesPerEpoch());
            }
            p.into(s.trainer.parameterView());
            return s.trainer.evaluate(s.validation, w, n, workers);
        })).collect();
        sync.release(p);
        double sum = 0;
        double count = 0;
        for (double[] part : parts) {
            sum += part[0];
            count += part[1];
        }
        return count == 0 ? null : sum / count;
    }

    /** Writes a checkpoint; the driver holds one moment set at a time at most, however many workers keep their own. */
    private void checkpoint(Model model, ParameterSync sync, Tokenizer tokenizer, List<String> labels, RunState state)
            throws IOException {
        String name = RunCheckpoints.name(state.round());
        String dir = runDir + "/" + name;
        writeModel(dir, model, sync, tokenizer, labels);
        sync.writeMoments(dir);
        // state.json last: its presence makes the checkpoint complete (RunCheckpoints)
        writeAtomically(dir + "/" + RunCheckpoints.STATE, state.toJson());
        // the pointer moves after: a crash before this line leaves the previous checkpoint current
        writeAtomically(runDir + "/" + RunCheckpoints.POINTER, name.getBytes(StandardCharsets.UTF_8));
        List<Long> pruned = RunCheckpoints.prune(runDir, state.round(), cfg.checkpoint().keep(), conf);
        if (!pruned.isEmpty()) {
            LOG.info("Deleted checkpoints of rounds {} (checkpoint.keep {})", pruned, cfg.checkpoint().keep());
        }
    }

    /**
     * checkpoint.best: the weights that scored {@code state}'s validation loss, the lowest so far,
     * with the tokenizer and config that make them a model for evaluate, classify and --init-from
     * (no optimizer moments: a run resumes from its checkpoints, never from these). Returns their directory.
     */
    private String saveBest(Model model, ParameterSync sync, Tokenizer tokenizer, List<String> labels, RunState state)
            throws IOException {
        String name = RunCheckpoints.bestName(state.round());
        String dir = runDir + "/" + name;
        writeModel(dir, model, sync, tokenizer, labels);
        writeAtomically(dir + "/" + RunCheckpoints.STATE, state.toJson());
        writeAtomically(runDir + "/" + RunCheckpoints.BEST, name.getBytes(StandardCharsets.UTF_8));
        RunCheckpoints.pruneBest(runDir, name, conf);
        LOG.info("Round {}: validation loss {} is the lowest so far; its weights are {}", state.round(), state.bestValLoss(), dir);
        return dir;
    }

    /** The files that make {@code dir} a model to load: the averaged weights, the tokenizer and the resolved config. */
    private void writeModel(String dir, Model model, ParameterSync sync, Tokenizer tokenizer, List<String> labels) throws IOException {
        io.sparkformer.model.ParameterBuffer.copyInto(sync.params(), model.parameters().flat());
        writeSafeTensors(dir + "/" + Checkpoint.MODEL_FILE, Checkpoint.weightTensors(model.parameters()),
                Checkpoint.modelMetadata(model.config(), labels));
        writeAtomically(dir + "/" + Tokenizer.FILE_NAME, tokenizer.toJson());
        writeAtomically(dir + "/config.yaml", cfg.toYaml().getBytes(StandardCharsets.UTF_8));
    }

    private float[] readWeights(String dir, Model model) throws IOException {
        try (SafeTensors.Reader r = SafeTensors.open(source(dir + "/" + Checkpoint.MODEL_FILE))) {
            TransformerConfig stored = Checkpoint.config(r);
            if (!stored.isClassifier() && model.config().isClassifier()
                    && stored.withDropout(model.config().dropout())
                            .withClassifier(model.config().numLabels(), model.config().pooling()).equals(model.config())) {
                // pretrain, then fine-tune: the language model's network (its dropout may differ) under a
                // freshly initialised classifier
                Checkpoint.readBackbone(r, model.parameters());
                return model.parameters().flat().toFloatVector();
            }
            if (!stored.equals(model.config())) {
                throw new io.sparkformer.model.ConfigException("model", "the checkpoint " + dir + " holds a different model: "
                        + stored.toMap() + " but the config asks for " + model.config().toMap());
            }
            Checkpoint.readWeights(r, model.parameters());
        }
        return model.parameters().flat().toFloatVector();
    }

    RandomAccessSource source(String path) throws IOException {
        return HadoopFiles.source(path, conf);
    }

    private void writeSafeTensors(String path, Map<String, SafeTensors.Tensor> tensors, Map<String, String> meta) throws IOException {
        HadoopFiles.writeAtomically(path, out -> SafeTensors.write(out, tensors, meta), conf);
    }

    private void writeAtomically(String path, byte[] bytes) throws IOException {
        HadoopFiles.writeAtomically(path, bytes, conf);
    }

    private static List<Integer> range(int n) {
        List<Integer> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            l.add(i);
        }
        return l;
    }
}
