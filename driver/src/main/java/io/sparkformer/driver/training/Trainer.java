package io.sparkformer.driver.training;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;

import org.apache.spark.api.java.JavaSparkContext;
import org.nd4j.linalg.api.buffer.DataType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.fasterxml.jackson.databind.node.ObjectNode;

import io.sparkformer.driver.Failures;
import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.CorpusBuilder;
import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.FailureKind;
import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.model.optim.LearningRateSchedule;
import io.sparkformer.model.text.Tokenizer;
import io.sparkformer.worker.training.LocalTrainer;
import io.sparkformer.worker.training.RoundReport;

/**
 * The round loop on the driver: restore or initialise, then every round let each worker run H
 * local steps on its own shards and average (behind {@link ParameterSync}), check the round,
 * validate and checkpoint when their turn comes, and record it. The run directory
 * ({@link RunDirectory}) ends with summary.json and _SUCCESS.
 *
 * <p>Every round is a deterministic function of its inputs (averages are sums in worker order),
 * so a resumed run and a rerun task give the same numbers as an unbroken run.
 */
public final class Trainer {
    private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);
    /** How often a run resumes from its last checkpoint after losing a worker's state. */
    private static final int RECOVERIES = 3;

    /** What a finished (or stopped) run reports. */
    public record Summary(Map<String, Object> values) {}

    /** Round listener, for progress display. */
    public interface Progress {
        void round(long round, long rounds, double trainLoss, Double valLoss);
    }

    private final JobConfig cfg;
    private final RunDirectory run;
    private final ParameterSync.Factory syncs;

    public Trainer(JobConfig cfg, RunDirectory run, ParameterSync.Factory syncs) {
        this.cfg = cfg;
        this.run = run;
        this.syncs = syncs;
    }

    /** train.sync's syncs on {@code sc}, each worker's task computing with {@code taskThreads} native threads. */
    public static ParameterSync.Factory sparkSyncs(JavaSparkContext sc, int taskThreads) {
        return SparkSync.factory(sc, taskThreads);
    }

    /**
     * Trains from scratch, from {@code initFrom}'s weights, or from the run's latest checkpoint.
     * A worker state lost with its executor (train.sync allreduce), or an executor lost inside a
     * round's barrier stage, costs the rounds since the last checkpoint: the run resumes from it,
     * with the same bits.
     */
    public Summary run(CorpusBuilder.Corpus corpus, boolean resume, String initFrom, Progress progress) throws IOException {
        if (!resume) {
            run.requireNoRun();
        }
        for (int attempt = 0; ; attempt++) {
            try {
                return attempt == 0 ? train(corpus, resume, initFrom, progress) : train(corpus, true, null, progress);
            } catch (Exception e) { // Spark's job failures arrive as SparkException, undeclared
                Failures failure = Failures.of(e);
                if (!failure.is(FailureKind.LOST_WORKER_STATE) || attempt == RECOVERIES || run.latest() == null) {
                    throw e;
                }
                LOG.warn("{}; resuming {} from its last checkpoint (recovery {} of {})", failure.message(), run.path(),
                        attempt + 1, RECOVERIES);
            }
        }
    }

    /** One attempt: restore or initialise, the rounds, the end. */
    private Summary train(CorpusBuilder.Corpus corpus, boolean resume, String initFrom, Progress progress) throws IOException {
        long wallStart = System.nanoTime();
        TrainingPlan plan = plan(corpus);
        DriverWeights model = new DriverWeights(plan.model());
        Metrics metrics = run.metrics();
        Tally tally = new Tally();
        ParameterSync.Start start = begin(resume, initFrom, model, metrics, tally);
        run.write(RunDirectory.CONFIG, cfg.toYaml().getBytes(StandardCharsets.UTF_8));
        run.write(Tokenizer.FILE_NAME, corpus.tokenizer().toJson());
        Every validation = new Every(cfg.eval().every(), cfg.rounds());
        Every checkpoints = new Every(cfg.checkpoint().every(), cfg.rounds());
        PendingCheckpoint pending = null;
        try (ParameterSync sync = syncs.open(plan, start)) {
            for (long round = tally.rounds; round < cfg.rounds(); round++) {
                long t0 = System.nanoTime();
                String checkpoint = checkpoints.at(round) ? run.checkpoint(round + 1) : null;
                boolean lastRound = round + 1 == cfg.rounds();
                RoundReport report = sync.round(round, firstStep(round), steps(round), checkpoint);
                double wall = (System.nanoTime() - t0) / 1e9;
                // the round has returned, so the workers' files of the last checkpoint are durable
                long c0 = System.nanoTime();
                pending = complete(pending);
                double checkpointSeconds = (System.nanoTime() - c0) / 1e9;
                requireFinite(report, metrics);
                tally.add(report, wall, firstStep(round) + steps(round));
                long v0 = System.nanoTime();
                Double val = validation.at(round) ? validate(sync, model, plan, tally, metrics) : null;
                tally.roundValidation = (System.nanoTime() - v0) / 1e9;
                PendingCheckpoint started = null;
                if (checkpoint != null) {
                    long c1 = System.nanoTime();
                    started = startCheckpoint(sync, model, plan, tally, checkpoint);
                    if (lastRound) {
                        sync.awaitCheckpointFiles(); // written while the validation ran; no round after this one waits for them
                    }
                    checkpointSeconds += (System.nanoTime() - c1) / 1e9;
                }
                tally.roundCheckpoint = checkpointSeconds;
                metrics.add(metrics.row(tally, report, val, plan.settings().schedule()));
                progress(progress, tally, val);
                if (checkpoint != null) {
                    metrics.flush(); // the rows up to a checkpoint are on disk before it completes
                    pending = started; // from here a failure may complete it (completeIfWritten): its row is on disk
                    if (lastRound) {
                        pending = complete(pending); // the run's last checkpoint: its files were awaited above
                    }
                }
            }
        } finally {
            completeIfWritten(pending);
        }
        metrics.flush();
        return finish(plan, model, tally, metrics, wallStart);
    }

    /**
     * A checkpoint being written: the driver's model file on its own thread, the workers'
     * optimizer files (with train.sync allreduce) while the next round starts. It is complete,
     * and latest moves to it, once all are durable.
     */
    private record PendingCheckpoint(String dir, RunState state, java.util.concurrent.Future<?> model, long started) {}

    /**
     * Writes what the driver writes of a checkpoint: the tokenizer and config, the moment sets it
     * holds, and (unless the workers write it) the model file, from the averaged weights gathered
     * into its buffer, on a thread of its own. {@link #complete} finishes the checkpoint.
     */
    private PendingCheckpoint startCheckpoint(ParameterSync sync, DriverWeights model, TrainingPlan plan, Tally tally, String dir)
            throws IOException {
        long started = System.nanoTime();
        RunState state = new RunState(tally.rounds, tally.step, tally.tokens, tally.best, cfg.seed());
        run.writeModelCompanions(dir, plan.corpus().tokenizer(), cfg.toYaml());
        sync.writeMoments(dir);
        if (sync.workersWriteModel()) {
            return new PendingCheckpoint(dir, state, null, started);
        }
        ParameterBuffer params = model.fill(sync);
        var tensors = io.sparkformer.model.io.Checkpoint.weightTensors(params);
        var metadata = io.sparkformer.model.io.Checkpoint.modelMetadata(model.config(), plan.corpus().manifest().labels());
        var write = new java.util.concurrent.FutureTask<Void>(() -> {
            RunDirectory.writeModelFile(dir, tensors, metadata, run.conf(), () -> {});
            return null;
        });
        Thread t = new Thread(write, "sparkformer-checkpoint-" + state.round());
        t.setDaemon(true);
        t.start();
        model.writing(write);
        return new PendingCheckpoint(dir, state, write, started);
    }

    /** Completes {@code pending} (null: nothing to do) once its files are durable; returns null. */
    private PendingCheckpoint complete(PendingCheckpoint pending) throws IOException {
        if (pending == null) {
            return null;
        }
        long t0 = System.nanoTime();
        if (pending.model() != null) {
            awaitWrite(pending.model(), pending.dir() + "/" + io.sparkformer.model.io.Checkpoint.MODEL_FILE);
        }
        run.requireFiles(pending.dir(), checkpointFiles());
        List<Long> pruned = run.completeCheckpoint(pending.dir(), pending.state(), cfg.checkpoint().keep());
        long now = System.nanoTime();
        LOG.info("Checkpoint of round {} complete, {} s after its round ended ({} s waited for its files)", pending.state().round(),
                String.format(Locale.ROOT, "%.2f", (now - pending.started()) / 1e9), String.format(Locale.ROOT, "%.2f", (now - t0) / 1e9));
        if (!pruned.isEmpty()) {
            LOG.info("Deleted checkpoints of rounds {} (checkpoint.keep {})", pruned, cfg.checkpoint().keep());
        }
        return null;
    }

    /**
     * On the way out of a failed attempt: completes the pending checkpoint if every file of it was
     * written (a round can fail after the workers wrote theirs), else leaves it incomplete; the
     * rerun resumes from the newest complete one either way.
     */
    private void completeIfWritten(PendingCheckpoint pending) {
        if (pending == null) {
            return;
        }
        try {
            if (pending.model() != null) {
                awaitWrite(pending.model(), pending.dir());
            }
            if (run.hasFiles(pending.dir(), checkpointFiles())) {
                complete(pending);
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("Checkpoint {} left incomplete: {}", pending.dir(), e.toString());
        }
    }

    /** The files a checkpoint of this run holds besides state.json: the model's and the optimizer's. */
    private List<String> checkpointFiles() {
        MomentsPolicy moments = cfg.train().optimizerState();
        int workers = cfg.train().workers();
        int sets = moments == MomentsPolicy.LOCAL ? workers : 1;
        List<String> files = new java.util.ArrayList<>(List.of(io.sparkformer.model.io.Checkpoint.MODEL_FILE,
                Tokenizer.FILE_NAME, RunDirectory.CONFIG));
        for (int k = 0; k < sets; k++) {
            files.add(moments.file(k, workers));
        }
        return files;
    }

    /** Waits for a file write (its end decides the checkpoint, interrupt or not); its failure is this call's. */
    private static void awaitWrite(java.util.concurrent.Future<?> write, String what) throws IOException {
        try {
            WorkerState.awaitUninterruptibly(write);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IOException("writing " + what + " failed: " + e.getCause(), e.getCause());
        }
    }

    /** The model, the optimiser's settings and the shards this run trains on. */
    private TrainingPlan plan(CorpusBuilder.Corpus corpus) throws IOException {
        List<String> labels = corpus.manifest().labels();
        if (cfg.isClassification() && labels == null) {
            throw new ConfigException("data.task", "the shards in " + corpus.directory()
                    + " hold no labels: they were not built for classification");
        }
        TransformerConfig model = cfg.transformerConfig(corpus.tokenizer().vocabSize(), cfg.isClassification() ? labels.size() : 0);
        corpus.requireVocabularyFits(model.vocabSize());
        long parameters = io.sparkformer.model.ParameterLayout.of(model).size();
        if (parameters > Integer.MAX_VALUE - 8) {
            // the round's vectors are Java float arrays; past this the layout would need splitting
            throw new ConfigException("model", "the model has " + parameters + " parameters; a worker's flat vectors hold at most "
                    + (Integer.MAX_VALUE - 8));
        }
        var t = cfg.train();
        LocalTrainer.Settings settings = new LocalTrainer.Settings(new AdamW.Settings(t.beta1(), t.beta2(), t.eps(), t.weightDecay()),
                t.gradClip(), schedule(model), cfg.seed());
        return new TrainingPlan(run.path() + "#" + UUID.randomUUID(), cfg, model, settings, corpus);
    }

    /**
     * Where the replicas start: the latest checkpoint of a resumed run (its weights, moments,
     * state and metrics), else {@code initFrom}'s weights or the seed's.
     */
    private ParameterSync.Start begin(boolean resume, String initFrom, DriverWeights model, Metrics metrics, Tally tally) throws IOException {
        String checkpoint = resume ? run.latest() : null;
        ParameterSync.Start start;
        if (checkpoint != null) {
            start = restore(checkpoint, model, metrics, tally);
        } else {
            if (resume) {
                // idempotent reruns: nothing to resume yet means this is the run's first attempt
                LOG.info("No checkpoint in {} yet; starting the run from the beginning", run.path());
                metrics.truncate(0); // rows a killed first attempt flushed before its first checkpoint
            }
            StartWeights weights = new StartWeights(cfg.seed(), cfg.model().init(), initFrom);
            weights.check(model.config(), run.conf());
            if (initFrom != null) {
                LOG.info("Initialised from {}", initFrom);
            }
            start = new ParameterSync.Start(weights, null, null, 0);
        }
        tally.bestDir = resume ? run.best() : null;
        if (tally.bestDir != null) {
            // best weights a killed attempt saved after its last checkpoint: the replayed rounds score
            // the same, so they must beat these, not the checkpoint's older best
            tally.best = Math.min(tally.best, run.state(tally.bestDir).bestValLoss());
        }
        if (!metrics.rows().isEmpty()) {
            // a resume with no rounds left reports the losses its last round recorded
            ObjectNode last = metrics.rows().get(metrics.rows().size() - 1);
            tally.lastTrain = last.path("train_loss").asDouble(Double.NaN);
            tally.lastVal = last.path("val_loss").isNumber() ? last.get("val_loss").asDouble() : null;
        }
        return start;
    }

    private ParameterSync.Start restore(String checkpoint, DriverWeights model, Metrics metrics, Tally tally) throws IOException {
        RunState state = run.state(checkpoint);
        if (state.step() != state.round() * cfg.train().localSteps()) {
            // the data cursor and the schedule are functions of round x H: another H would shift both
            throw new ConfigException("train.local_steps", "the checkpoint " + checkpoint + " is at round " + state.round()
                    + ", step " + state.step() + ", written with " + (state.round() == 0 ? "?"
                    : String.valueOf(state.step() / state.round())) + " local steps a round; the config asks for "
                    + cfg.train().localSteps() + ": resume with the run's own config.yaml");
        }
        StartWeights weights = new StartWeights(cfg.seed(), cfg.model().init(), checkpoint);
        weights.check(model.config(), run.conf());
        // the weights and moments themselves are read where they are used (the sync)
        long optimizerStep = run.optimizerStep(checkpoint, cfg.train().optimizerState().file(0, cfg.train().workers()));
        tally.rounds = state.round();
        tally.step = state.step();
        tally.resumedFrom = state.round();
        tally.best = state.bestValLoss();
        tally.tokens = state.tokens();
        metrics.truncate(state.round());
        // a crash after the checkpoint's state.json, before the pointer moved: move it now, so a
        // resume with no rounds left still ends with the pointer on the final weights
        run.pointLatestTo(checkpoint);
        LOG.info("Resuming {} from {} (round {}, step {})", run.path(), checkpoint, state.round(), state.step());
        return new ParameterSync.Start(weights, null, checkpoint, optimizerStep);
    }

    private long firstStep(long round) {
        return round * cfg.train().localSteps();
    }

    /** H, or what is left of train.steps in the last round. */
    private int steps(long round) {
        return (int) Math.min(cfg.train().localSteps(), cfg.train().steps() - firstStep(round));
    }

    /** A round in which a worker saw a non-finite loss, gradient norm or weight ends the run, saving nothing of it. */
    private void requireFinite(RoundReport report, Metrics metrics) throws IOException {
        if (report.diverged()) {
            RoundReport.Divergence d = report.divergence();
            throw diverged(metrics, "worker " + d.worker() + " saw loss " + d.loss() + " at step " + d.step()
                    + " (a non-finite loss, gradient norm or weight)");
        }
    }

    private TrainingDivergedException diverged(Metrics metrics, String what) throws IOException {
        metrics.flush();
        return new TrainingDivergedException("training diverged: " + what + "; the last good checkpoint is " + run.latestOrNone());
    }

    /**
     * The validation loss of the averaged weights; a new lowest one keeps its weights under
     * checkpoint.best. Averaged weights that score NaN are not a checkpoint to keep, nor a run to
     * call finished.
     */
    private Double validate(ParameterSync sync, DriverWeights model, TrainingPlan plan, Tally tally, Metrics metrics) throws IOException {
        Double val = sync.validate(cfg.eval().batches());
        if (val != null && !Double.isFinite(val)) {
            throw diverged(metrics, "the validation loss after round " + tally.rounds + " is " + val);
        }
        if (val == null) {
            return null;
        }
        tally.lastVal = val;
        if (val < tally.best && cfg.checkpoint().best()) {
            tally.bestDir = saveBest(sync, model, plan, new RunState(tally.rounds, tally.step, tally.tokens, val, cfg.seed()));
        }
        tally.best = Math.min(tally.best, val);
        return val;
    }

    private void progress(Progress progress, Tally tally, Double val) {
        if (progress != null) {
            progress.round(tally.rounds, cfg.rounds(), tally.lastTrain, val);
        }
    }

    /**
     * checkpoint.best: the weights that scored {@code state}'s validation loss, the lowest so far,
     * as a model for evaluate, classify and --init-from (no optimizer moments: a run resumes from
     * its checkpoints, never from these). Returns their directory.
     */
    private String saveBest(ParameterSync sync, DriverWeights model, TrainingPlan plan, RunState state) throws IOException {
        String dir = run.bestWeights(state.round());
        writeModel(dir, sync, model, plan);
        run.completeBest(dir, state);
        LOG.info("Round {}: validation loss {} is the lowest so far; its weights are {}", state.round(), state.bestValLoss(), dir);
        return dir;
    }

    private void writeModel(String dir, ParameterSync sync, DriverWeights model, TrainingPlan plan) throws IOException {
        run.writeModel(dir, model.fill(sync), model.config(), plan.corpus().manifest().labels(), plan.corpus().tokenizer(),
                cfg.toYaml());
    }

    private Summary finish(TrainingPlan plan, DriverWeights model, Tally tally, Metrics metrics, long wallStart) throws IOException {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("best_val_loss", Double.isInfinite(tally.best) ? null : tally.best);
        s.put("best_weights", cfg.checkpoint().best() ? tally.bestDir : null);
        s.put("final_val_loss", tally.lastVal);
        s.put("final_train_loss", tally.lastTrain);
        s.put("steps", cfg.train().steps());
        s.put("rounds", cfg.rounds());
        s.put("workers", cfg.train().workers());
        s.put("local_steps", cfg.train().localSteps());
        s.put("tokens", tally.tokens);
        s.put("parameters", model.parameterCount());
        s.put("wall_seconds", (System.nanoTime() - wallStart) / 1e9);
        s.put("tokens_per_s", tally.tokens / Math.max(1e-9, tally.computeSeconds + tally.syncSeconds));
        s.put("compute_seconds", tally.computeSeconds);
        s.put("sync_seconds", tally.syncSeconds);
        s.put("sync", cfg.train().sync().name().toLowerCase(Locale.ROOT));
        s.put("resumed_from_round", tally.resumedFrom > 0 ? tally.resumedFrom : null);
        s.put("validation_set", validationFingerprint(plan.corpus()));
        s.put("finished", Instant.now().toString());
        run.finish(s, metrics.rows());
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
        b.append("task=").append(cfg.data().task().key()).append(",seed=").append(cfg.seed())
                .append(",batches=").append(cfg.eval().batches()).append(",batch_size=").append(cfg.eval().batchSize())
                .append(",train_batch_size=").append(cfg.train().batchSize()).append(",block=").append(cfg.train().blockSize())
                .append(",tokenizer=").append(corpus.manifest().tokenizer().fingerprint());
        return HadoopFiles.sha256(b.toString().getBytes(StandardCharsets.UTF_8));
    }

    private LearningRateSchedule schedule(TransformerConfig model) {
        var t = cfg.train();
        return switch (t.schedule()) {
            case NOAM -> LearningRateSchedule.noam(t.noamFactor(), model.dModel(), Math.max(1, t.warmup()));
            case CONSTANT -> LearningRateSchedule.constant(cfg.scaledLr(t.lr()));
            case COSINE -> LearningRateSchedule.warmupCosine(cfg.scaledLr(t.lr()), cfg.scaledLr(t.minLr()), t.warmup(),
                    Math.max(t.warmup(), t.steps()));
            case LINEAR -> LearningRateSchedule.warmupLinear(cfg.scaledLr(t.lr()), cfg.scaledLr(t.minLr()), t.warmup(),
                    Math.max(t.warmup() + 1, t.steps()));
        };
    }

    /**
     * The weights of the checkpoint in {@code dir} as a flat vector for {@code model}: the same
     * model, or a language model of the same network under {@code model}'s fresh classifier head.
     */
    /**
     * The averaged weights as the driver writes them into a checkpoint: one parameter buffer, made
     * at the first write. No model: its gradients and layers would be 2x the vector, never used.
     */
    private static final class DriverWeights {
        private final TransformerConfig config;
        private ParameterBuffer params;
        private java.util.concurrent.Future<?> writing;

        DriverWeights(TransformerConfig config) {
            this.config = config;
        }

        TransformerConfig config() { return config; }

        long parameterCount() { return io.sparkformer.model.ParameterLayout.of(config).size(); }

        /** The buffer filled with the sync's averaged weights, once the last write from it has ended. */
        ParameterBuffer fill(ParameterSync sync) throws IOException {
            if (writing != null) {
                awaitWrite(writing, "the model file");
                writing = null;
            }
            if (params == null) {
                params = new ParameterBuffer(io.sparkformer.model.ParameterLayout.of(config), DataType.FLOAT);
            }
            sync.paramsInto(ParameterBuffer.view(params.flat()));
            return params;
        }

        /** A write reading the buffer: the next fill waits for it. */
        void writing(java.util.concurrent.Future<?> write) {
            writing = write;
        }
    }

    /** Rounds r with (r + 1) a multiple of {@code every}, and the last one. */
    private record Every(int every, long rounds) {
        boolean at(long round) {
            return (round + 1) % every == 0 || round + 1 == rounds;
        }
    }

    /** What the run has done so far: what its metrics, checkpoints and summary report. */
    static final class Tally {
        /** Rounds and optimizer steps done. */
        long rounds;
        long step;
        long resumedFrom;
        long tokens;
        double best = Double.POSITIVE_INFINITY;
        String bestDir;
        double lastTrain = Double.NaN;
        Double lastVal;
        double computeSeconds;
        double syncSeconds;
        /** The round just done: its wall time, and what of it was not the slowest worker's compute. */
        double roundWall;
        double roundSync;
        /**
         * What the round loop spent on checkpoints after the round: gathering the weights, completing
         * the last one, and after the run's last round waiting for the workers' files.
         */
        double roundCheckpoint;
        /** What the round's validation took (0 in a round without one). */
        double roundValidation;

        void add(RoundReport report, double wall, long stepsDone) {
            rounds++;
            step = stepsDone;
            roundWall = wall;
            roundSync = Math.max(0, wall - report.computeSeconds());
            computeSeconds += report.computeSeconds();
            syncSeconds += roundSync;
            tokens += report.tokens();
            lastTrain = report.meanLoss();
        }
    }
}
