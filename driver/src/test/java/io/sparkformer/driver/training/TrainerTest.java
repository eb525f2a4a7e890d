package io.sparkformer.driver.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.driver.Failures;
import io.sparkformer.driver.SparkTestBase;
import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.CorpusBuilder;
import io.sparkformer.model.FailureKind;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.io.Checkpoint;

class TrainerTest extends SparkTestBase {
    /** Only a lost executor or lost state is worth resuming from a checkpoint; anything else would fail again. */
    @Test
    void aLostExecutorInABarrierRoundIsRecoverableAndOtherFailuresAreNot() {
        String aborted = "Job aborted due to stage failure: Could not recover from a failed barrier ResultStage. Most recent"
                + " failure reason: Stage failed because barrier task ResultTask(2, 1) finished unsuccessfully.\n";
        Failures lost = Failures.of(new RuntimeException("job failed", new IllegalStateException(aborted
                + "ExecutorLostFailure (executor 1 exited caused by one of the running tasks) Reason: Command exited with code 137")));
        assertEquals(FailureKind.LOST_WORKER_STATE, lost.kind());
        assertTrue(lost.message().contains("executor 1 exited"), lost.message());
        Failures outOfMemory = Failures.of(new IllegalStateException(aborted + new io.sparkformer.driver.cluster.OutOfMemory(
                "out of memory in worker 1's round (Java heap space)", new OutOfMemoryError())));
        assertEquals(FailureKind.OUT_OF_MEMORY, outOfMemory.kind(), "an out of memory would fail again: not recovered");
        assertEquals(null, Failures.of(new IllegalStateException("Task 3 failed: ExecutorLostFailure (executor 2)")).kind(),
                "outside a barrier stage Spark reruns the task itself");
        assertEquals(FailureKind.LOST_WORKER_STATE, Failures.of(new RuntimeException("Job aborted: "
                + new LostWorkerStateException("block x is gone"))).kind(), "a lost block, reported as text");
    }

    @TempDir
    Path tmp;

    private JobConfig config(String... overrides) throws IOException {
        Path corpus = tmp.resolve("corpus.txt");
        if (!Files.exists(corpus)) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < 3000; i++) {
                sb.append(i % 3 == 0 ? "the cat sat on the mat.\n" : i % 3 == 1 ? "a dog ran to the sea.\n" : "we saw it all.\n");
            }
            Files.writeString(corpus, sb);
        }
        List<String> o = new ArrayList<>(List.of("model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.d_ff=64",
                "model.max_len=16", "train.block_size=16", "train.batch_size=8", "train.steps=48", "train.local_steps=4",
                "train.warmup=4", "train.lr=3e-3", "eval.every=4", "eval.batches=8", "checkpoint.every=4"));
        o.addAll(List.of(overrides));
        return JobConfig.parse("name: tiny\ndata:\n  inputs: [" + corpus + "]\n", "tiny.yaml", o);
    }

    private Trainer trainer(JobConfig cfg, Path run) {
        return new Trainer(cfg, new RunDirectory(run.toString(), sc.hadoopConfiguration()), Trainer.sparkSyncs(sc, 1));
    }

    private CorpusBuilder.Corpus corpus(JobConfig cfg) {
        return new CorpusBuilder(sc, cfg.train().workers()).build(cfg.corpusSpec(tmp.resolve("shards-" + cfg.train().workers()).toString()));
    }

    private static float[] finalWeights(Path run) throws IOException {
        String latest = Files.readString(run.resolve("latest")).trim();
        io.sparkformer.model.Model m = Checkpoint.loadModel(run.resolve(latest), DataType.FLOAT);
        return m.parameters().flat().toFloatVector();
    }

    @Test
    void twoWorkersTrainAndTheRunDirectoryIsComplete() throws IOException {
        JobConfig cfg = config("train.workers=2");
        Path run = tmp.resolve("run2");
        var summary = trainer(cfg, run).run(corpus(cfg), false, null, null).values();
        for (String f : List.of("_SUCCESS", "summary.json", "metrics.jsonl", "loss.png", "config.yaml", "tokenizer.json", "latest")) {
            assertTrue(Files.exists(run.resolve(f)), f);
        }
        List<String> metrics = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(12, metrics.size());
        assertTrue(metrics.get(0).contains("\"sync_s\""), metrics.get(0));
        double best = (Double) summary.get("best_val_loss");
        double first = com.fasterxml.jackson.databind.json.JsonMapper.builder().build().readTree(metrics.get(3)).get("val_loss").asDouble();
        assertTrue(best < first, "validation loss falls: " + first + " -> " + best);
        assertEquals(2, summary.get("workers"));
        assertEquals(12L, summary.get("rounds"));
        assertEquals(2L * 48 * 8 * 16, summary.get("tokens"));
        assertEquals(12, Files.list(run.resolve("checkpoints")).count() * 4, "a checkpoint every 4 rounds");
        finalWeights(run); // loads
    }

    @Test
    void resumingFromACheckpointGivesTheUnbrokenRunsWeights() throws IOException {
        // one worker with its own moments: checkpoints wrote optimizer.safetensors, resume read optimizer-w0
        for (String state : List.of("average", "local", "local-1")) {
            JobConfig cfg = config("train.workers=" + (state.endsWith("-1") ? 1 : 2),
                    "train.optimizer_state=" + state.replace("-1", ""));
            CorpusBuilder.Corpus c = corpus(cfg);
            Path unbroken = tmp.resolve("unbroken-" + state);
            trainer(cfg, unbroken).run(c, false, null, null);
            // a crash after round 8's checkpoint: later checkpoints and the end markers never happened
            Path broken = tmp.resolve("broken-" + state);
            trainer(cfg, broken).run(c, false, null, null);
            for (String late : List.of("round-000012")) {
                deleteTree(broken.resolve("checkpoints").resolve(late));
            }
            Files.delete(broken.resolve("_SUCCESS"));
            Files.delete(broken.resolve("summary.json"));
            Files.writeString(broken.resolve("latest"), "checkpoints/round-000008");
            // the local Hadoop file system keeps .crc sidecars; this hand edit bypasses it
            Files.deleteIfExists(broken.resolve(".latest.crc"));
            var summary = trainer(cfg, broken).run(c, true, null, null).values();
            assertEquals(8L, summary.get("resumed_from_round"));
            assertArrayEquals(finalWeights(unbroken), finalWeights(broken), state + ": bit-equal after resume");
            assertEquals(12, Files.readAllLines(broken.resolve("metrics.jsonl")).size());
        }
    }

    /**
     * Averaging among the workers (BlockManager reduce-scatter in a barrier stage) gives the
     * driver's bits, with averaged and with per-worker moments, and its checkpoints resume
     * bit-equal; the driver's bytes per worker drop to the all-reduce's. The workers make their
     * start from the seed, and on resume read the checkpoint, themselves: no round, the first
     * included, passes a vector through the driver.
     */
    @Test
    void allReduceAmongWorkersGivesTheDriversBitsAndResumes() throws IOException {
        for (String state : List.of("average", "local")) {
            JobConfig viaDriver = config("train.workers=2", "train.optimizer_state=" + state, "train.steps=24", "train.sync=driver");
            JobConfig viaWorkers = config("train.workers=2", "train.optimizer_state=" + state, "train.steps=24",
                    "train.sync=allreduce");
            CorpusBuilder.Corpus c = corpus(viaDriver);
            Path driverRun = tmp.resolve("driver-" + state);
            Path workerRun = tmp.resolve("allreduce-" + state);
            trainer(viaDriver, driverRun).run(c, false, null, null);
            var summary = trainer(viaWorkers, workerRun).run(c, false, null, null).values();
            assertEquals("allreduce", summary.get("sync"));
            assertArrayEquals(finalWeights(driverRun), finalWeights(workerRun), state + ": all-reduce equals driver averaging");
            for (int w = 0; w < (state.equals("local") ? 2 : 0); w++) {
                String file = "checkpoints/round-000006/optimizer-w" + w + ".safetensors";
                assertArrayEquals(Files.readAllBytes(driverRun.resolve(file)), Files.readAllBytes(workerRun.resolve(file)), file);
            }
            var mapper = com.fasterxml.jackson.databind.json.JsonMapper.builder().build();
            var driverRow = mapper.readTree(Files.readAllLines(driverRun.resolve("metrics.jsonl")).get(2));
            var workerRow = mapper.readTree(Files.readAllLines(workerRun.resolve("metrics.jsonl")).get(2));
            assertTrue(driverRow.get("sync_bytes_driver").asLong() > 0);
            for (String line : Files.readAllLines(workerRun.resolve("metrics.jsonl"))) {
                assertEquals(0, mapper.readTree(line).get("sync_bytes_driver").asLong(),
                        state + ": no vector passes the driver, the first round's included: " + line);
            }
            assertTrue(workerRow.get("sync_bytes_per_worker").asLong() <= driverRow.get("sync_bytes_per_worker").asLong(),
                    state + ": " + workerRow + " vs " + driverRow);
            // resume the all-reduce run from round 4's checkpoint
            deleteTree(workerRun.resolve("checkpoints").resolve("round-000006"));
            Files.delete(workerRun.resolve("_SUCCESS"));
            Files.writeString(workerRun.resolve("latest"), "checkpoints/round-000004");
            Files.deleteIfExists(workerRun.resolve(".latest.crc"));
            trainer(viaWorkers, workerRun).run(c, true, null, null);
            assertArrayEquals(finalWeights(driverRun), finalWeights(workerRun), state + ": bit-equal after resume");
            for (String line : Files.readAllLines(workerRun.resolve("metrics.jsonl"))) {
                assertEquals(0, mapper.readTree(line).get("sync_bytes_driver").asLong(), state + ": resumed, " + line);
            }
        }
    }

    /**
     * A worker state gone between rounds (its executor lost, or its task placed on another
     * executor): after a checkpoint round its moments come from the optimizer file it wrote into
     * that checkpoint; after any other round the run resumes from the last checkpoint. Either
     * way not a bit changes.
     */
    @Test
    void allReduceSurvivesALostWorkerState() throws IOException {
        LostStateRuns runs = lostStateRuns();
        JobConfig viaWorkers = runs.viaWorkers();
        CorpusBuilder.Corpus c = runs.corpus();
        Path driverRun = runs.driverRun();
        record Loss(int afterRound, boolean resumes) {}
        for (Loss loss : List.of(new Loss(4, false), new Loss(5, true))) {
            Path workerRun = tmp.resolve("allreduce-lost-" + loss.afterRound());
            int[] seen = {0};
            var summary = trainer(viaWorkers, workerRun).run(c, false, null, (round, rounds, train, val) -> {
                if (round == loss.afterRound() && seen[0]++ == 0) {
                    WorkerState.forgetAll(); // in local mode the tasks run in this JVM: as if the executor died
                }
            }).values();
            assertEquals(loss.resumes() ? 2 : 1, seen[0], loss + ": the round runs again only after a resume");
            assertEquals(loss.resumes() ? 4L : null, summary.get("resumed_from_round"), loss.toString());
            assertArrayEquals(finalWeights(driverRun), finalWeights(workerRun), "bit-equal to the unbroken run: " + loss);
        }
    }

    /**
     * The run's last files are written while it validates, and a job then waits for them on the
     * executors that hold the replicas. A worker state gone by then (its executor lost) is a lost
     * worker state: the run resumes from the checkpoint before and ends bit-equal.
     */
    @Test
    void aWorkerStateLostBeforeTheLastFilesAreAwaitedResumesBitEqual() throws IOException {
        LostStateRuns runs = lostStateRuns();
        Path workerRun = tmp.resolve("allreduce-lost-last");
        int[] awaits = {0};
        ParameterSync.Factory spark = Trainer.sparkSyncs(sc, 1);
        ParameterSync.Factory losing = (plan, start) -> new LosesItsStatesBeforeTheLastFiles(spark.open(plan, start), awaits);
        var summary = new Trainer(runs.viaWorkers(), new RunDirectory(workerRun.toString(), sc.hadoopConfiguration()), losing)
                .run(runs.corpus(), false, null, null).values();
        assertEquals(2, awaits[0], "the first wait found no worker state; the resumed attempt waited again");
        assertEquals(4L, summary.get("resumed_from_round"));
        assertArrayEquals(finalWeights(runs.driverRun()), finalWeights(workerRun), "bit-equal to the unbroken run");
        assertEquals(6, Files.readAllLines(workerRun.resolve("metrics.jsonl")).size(), "one metrics row a round");
    }

    /**
     * The lost-state tests' all-reduce config (2 workers, per-worker moments, 6 rounds), its
     * corpus, and the driver-averaged run each case must equal.
     */
    private record LostStateRuns(JobConfig viaWorkers, CorpusBuilder.Corpus corpus, Path driverRun) {}

    private LostStateRuns lostStateRuns() throws IOException {
        JobConfig viaDriver = config("train.workers=2", "train.optimizer_state=local", "train.steps=24", "train.sync=driver");
        JobConfig viaWorkers = config("train.workers=2", "train.optimizer_state=local", "train.steps=24", "train.sync=allreduce");
        CorpusBuilder.Corpus c = corpus(viaDriver);
        Path driverRun = tmp.resolve("driver");
        trainer(viaDriver, driverRun).run(c, false, null, null);
        return new LostStateRuns(viaWorkers, c, driverRun);
    }

    /** A sync whose executors are lost (the first time) just before the last round's files are awaited. */
    private record LosesItsStatesBeforeTheLastFiles(ParameterSync sync, int[] awaits) implements ParameterSync {
        @Override
        public io.sparkformer.worker.training.RoundReport round(long round, long firstStep, int steps, String checkpoint) {
            return sync.round(round, firstStep, steps, checkpoint);
        }

        @Override
        public void awaitCheckpointFiles() throws IOException {
            if (awaits[0]++ == 0) {
                WorkerState.forgetAll(); // in local mode the tasks run in this JVM: as if the executors died
            }
            sync.awaitCheckpointFiles();
        }

        @Override
        public float[] params() { return sync.params(); }

        @Override
        public void paramsInto(java.nio.FloatBuffer out) { sync.paramsInto(out); }

        @Override
        public boolean workersWriteModel() { return sync.workersWriteModel(); }

        @Override
        public Double validate(int batches) { return sync.validate(batches); }

        @Override
        public void writeMoments(String dir) throws IOException { sync.writeMoments(dir); }

        @Override
        public void close() { sync.close(); }
    }

    @Test
    void encoderAndEncoderDecoderKindsTrainThroughTheSameDriver() throws IOException {
        JobConfig mlm = config("data.task=masked_lm", "model.kind=encoder", "train.steps=64");
        var s = trainer(mlm, tmp.resolve("mlm")).run(corpus(mlm), false, null, null).values();
        double first = firstValLoss(tmp.resolve("mlm"));
        assertTrue((Double) s.get("best_val_loss") < first, "masked LM learns: " + first + " -> " + s.get("best_val_loss"));

        Path src = tmp.resolve("src.txt");
        Path tgt = tmp.resolve("tgt.txt");
        StringBuilder a = new StringBuilder();
        StringBuilder b = new StringBuilder();
        java.util.Random r = new java.util.Random(3);
        for (int i = 0; i < 600; i++) {
            String w = "abcdefgh".substring(r.nextInt(4), 4 + r.nextInt(4));
            a.append(w).append('\n');
            b.append(new StringBuilder(w).reverse()).append('\n');
        }
        Files.writeString(src, a);
        Files.writeString(tgt, b);
        JobConfig s2s = JobConfig.parse("name: s2s\ndata:\n  task: seq2seq\n  inputs: [" + src + ", " + tgt + "]\n"
                + "  validation: [" + src + ", " + tgt + "]\n", "s2s.yaml", List.of("model.kind=encoder_decoder",
                "model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.d_ff=64", "model.max_len=16",
                "train.block_size=16", "train.batch_size=16", "train.steps=80", "train.local_steps=4", "train.warmup=4",
                "train.lr=3e-3", "eval.every=5", "eval.batches=4", "checkpoint.every=20"));
        CorpusBuilder.Corpus c = new CorpusBuilder(sc, 1).build(s2s.corpusSpec(tmp.resolve("s2s-shards").toString()));
        var t = trainer(s2s, tmp.resolve("s2s")).run(c, false, null, null).values();
        double firstS2s = firstValLoss(tmp.resolve("s2s"));
        assertTrue((Double) t.get("best_val_loss") < 0.7 * firstS2s, "seq2seq learns to reverse: " + firstS2s + " -> " + t.get("best_val_loss"));
    }

    private static double firstValLoss(Path run) throws IOException {
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            var n = mapper.readTree(line);
            if (n.hasNonNull("val_loss")) {
                return n.get("val_loss").asDouble();
            }
        }
        throw new AssertionError("no validation loss in " + run);
    }

    private static void deleteTree(Path p) throws IOException {
        try (var s = Files.walk(p)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }
}
