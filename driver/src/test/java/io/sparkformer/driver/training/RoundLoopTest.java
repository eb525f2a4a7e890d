package io.sparkformer.driver.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.CorpusBuilder;
import io.sparkformer.model.ParameterLayout;
import io.sparkformer.model.io.Checkpoint;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.model.text.CharTokenizer;
import io.sparkformer.model.text.Tokenizer;
import io.sparkformer.worker.shards.Manifest;
import io.sparkformer.worker.training.RoundReport;

/**
 * The round loop without Spark: a scripted sync stands for the workers, so every round, trigger,
 * record and checkpoint the loop makes can be checked against what the sync did.
 */
class RoundLoopTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Configuration conf = new Configuration();

    @TempDir
    Path tmp;

    /** 5 rounds of H = 4 (the last one 2 steps), validation every 2 rounds, a checkpoint every 2, all kept. */
    private JobConfig config(String... overrides) {
        List<String> o = new ArrayList<>(List.of("model.d_model=16", "model.n_heads=2", "model.n_layers=1", "model.d_ff=32",
                "model.max_len=16", "train.block_size=16", "train.steps=18", "train.local_steps=4", "eval.every=2",
                "checkpoint.every=2", "checkpoint.keep=0"));
        o.addAll(List.of(overrides));
        return JobConfig.parse("name: loop\ndata:\n  inputs: [unused.txt]\n", "loop.yaml", o);
    }

    private static CorpusBuilder.Corpus corpus() {
        Tokenizer tokenizer = CharTokenizer.fromText("the cat sat on a mat");
        Manifest.Split empty = new Manifest.Split(0, 0, List.of());
        Manifest manifest = new Manifest(Manifest.FORMAT, "key", "causal_lm", new Manifest.Tokenizer("char", tokenizer.vocabSize(),
                tokenizer.fingerprint(), Tokenizer.FILE_NAME), List.of(), Map.of("train", empty, "validation", empty), 0, "now", null);
        return new CorpusBuilder.Corpus("/nowhere", manifest, tokenizer, false);
    }

    /**
     * Stands for W workers: a round moves parameter i by (i mod 7)·steps/1000 and reports a loss of
     * the parameters' mean; a validation pass reports that mean too. Round {@code divergeAt} diverges.
     */
    private static final class ScriptedSync implements ParameterSync {
        final List<long[]> rounds = new ArrayList<>();
        final List<String> checkpoints = new ArrayList<>();
        final TrainingPlan plan;
        final long divergeAt;
        /** A round that fails as a lost executor's would (-1: none). */
        long failAt = -1;
        /** Writes no moment file, as a worker whose write never happened. */
        boolean skipMoments;
        float[] params;
        long step;
        boolean closed;

        ScriptedSync(TrainingPlan plan, Start start, long divergeAt) {
            this.plan = plan;
            try {
                this.params = start.paramsOnDriver(plan.model(), new org.apache.hadoop.conf.Configuration()).clone();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            this.step = start.optimizerStep();
            this.divergeAt = divergeAt;
        }

        @Override
        public RoundReport round(long round, long firstStep, int steps, String checkpoint) {
            rounds.add(new long[] {round, firstStep, steps});
            checkpoints.add(checkpoint);
            if (round == failAt) {
                throw new IllegalStateException("round " + round + " lost its executor");
            }
            if (round == divergeAt) {
                return new RoundReport(Double.NaN, 0, 0, step, new RoundReport.Divergence(1, Double.NaN, firstStep + 1), 0, 0, null);
            }
            for (int i = 0; i < params.length; i++) {
                params[i] += (i % 7) * steps / 1000f;
            }
            step += steps;
            return new RoundReport(mean(), 100L * steps, 0.001, step, null, 8, 0, null);
        }

        double mean() {
            double s = 0;
            for (float p : params) {
                s += p;
            }
            return s / params.length;
        }

        @Override
        public float[] params() { return params.clone(); }

        @Override
        public Double validate(int batches) { return mean(); }

        @Override
        public void writeMoments(String dir) throws IOException {
            if (skipMoments) {
                return;
            }
            AdamW opt = new AdamW(ParameterLayout.of(plan.model()), DataType.FLOAT, plan.settings().adamw());
            opt.restore(step, new float[params.length], new float[params.length]);
            RunDirectory.writeOptimizer(dir, plan.moments().file(0, plan.workers()), opt, new Configuration());
        }

        /** The checkpoints whose files the loop waited for, each with whether it was complete already then. */
        final List<String> awaited = new ArrayList<>();

        @Override
        public void awaitCheckpointFiles() {
            String dir = checkpoints.get(checkpoints.size() - 1);
            awaited.add(dir + (dir != null && Files.exists(Path.of(dir, RunDirectory.STATE)) ? " complete" : ""));
        }

        @Override
        public void close() { closed = true; }
    }

    private final List<ScriptedSync> opened = new ArrayList<>();

    private Trainer trainer(JobConfig cfg, Path run, long divergeAt) {
        return new Trainer(cfg, new RunDirectory(run.toString(), conf), (plan, start) -> {
            ScriptedSync s = new ScriptedSync(plan, start, divergeAt);
            opened.add(s);
            return s;
        });
    }

    private static float[] weights(Path checkpoint) throws IOException {
        return Checkpoint.loadModel(checkpoint, DataType.FLOAT).parameters().flat().toFloatVector();
    }

    @Test
    void everyRoundRunsAndValidationAndCheckpointsComeOnTheirTriggers() throws IOException {
        Path run = tmp.resolve("run");
        var summary = trainer(config(), run, -1).run(corpus(), false, null, null).values();
        ScriptedSync sync = opened.get(0);
        assertEquals(List.of("0 0 4", "1 4 4", "2 8 4", "3 12 4", "4 16 2"),
                sync.rounds.stream().map(r -> r[0] + " " + r[1] + " " + r[2]).toList(), "rounds, first steps, steps");
        assertEquals(java.util.Arrays.asList(null, run + "/checkpoints/round-000002", null, run + "/checkpoints/round-000004",
                run + "/checkpoints/round-000005"), sync.checkpoints, "the sync is told of each checkpoint round");
        assertTrue(sync.closed);
        assertEquals(List.of(run + "/checkpoints/round-000005"), sync.awaited,
                "the loop waits for the last round's files (no round after it does), before completing its checkpoint");

        List<JsonNode> rows = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve(RunDirectory.METRICS))) {
            rows.add(JSON.readTree(line));
        }
        assertEquals(5, rows.size());
        assertEquals(List.of(false, true, false, true, true), rows.stream().map(r -> r.get("val_loss").isNumber()).toList(),
                "validation every 2 rounds and at the last");
        assertEquals(List.of(4L, 8L, 12L, 16L, 18L), rows.stream().map(r -> r.get("step").asLong()).toList());
        assertEquals(1800, rows.get(4).get("tokens").asLong());

        for (int round : new int[] {2, 4, 5}) {
            Path ckpt = run.resolve(String.format("checkpoints/round-%06d", round));
            assertTrue(Files.exists(ckpt.resolve(RunDirectory.STATE)), "complete: " + ckpt);
            assertEquals(rows.get(round - 1).get("step").asLong(), JSON.readTree(ckpt.resolve(RunDirectory.STATE).toFile())
                    .get("step").asLong());
        }
        assertEquals("checkpoints/round-000005", Files.readString(run.resolve(RunDirectory.LATEST)).trim());
        assertArrayEquals(sync.params, weights(run.resolve("checkpoints/round-000005")), "the checkpoint holds the averaged weights");
        assertTrue(Files.exists(run.resolve(RunDirectory.SUCCESS)) && Files.exists(run.resolve(RunDirectory.LOSS_PLOT)));
        assertEquals(sync.mean(), (Double) summary.get("final_val_loss"), 0.0);
        assertEquals(18L, summary.get("steps"));
        assertNull(summary.get("resumed_from_round"));
    }

    @Test
    void aDivergedRoundSavesNothingOfItAndAResumeEndsWithTheUnbrokenRunsWeights() throws IOException {
        Path unbroken = tmp.resolve("unbroken");
        trainer(config(), unbroken, -1).run(corpus(), false, null, null);

        Path broken = tmp.resolve("broken");
        TrainingDivergedException e = assertThrows(TrainingDivergedException.class,
                () -> trainer(config(), broken, 2).run(corpus(), false, null, null));
        assertTrue(e.getMessage().contains("worker 1") && e.getMessage().contains("at step 9"), e.getMessage());
        assertTrue(e.getMessage().endsWith("the last good checkpoint is " + broken + "/checkpoints/round-000002"), e.getMessage());
        assertTrue(opened.get(1).closed, "the sync is closed on the way out");
        assertFalse(Files.exists(broken.resolve(RunDirectory.SUCCESS)));
        assertFalse(Files.exists(broken.resolve("checkpoints/round-000003")));
        assertEquals(2, Files.readAllLines(broken.resolve(RunDirectory.METRICS)).size(), "the rows of the rounds before");

        assertThrows(io.sparkformer.model.ConfigException.class, () -> trainer(config(), broken, -1).run(corpus(), false, null, null),
                "a new run into it is refused");
        var summary = trainer(config(), broken, -1).run(corpus(), true, null, null).values();
        assertEquals(2L, summary.get("resumed_from_round"));
        assertEquals(List.of(2L, 3L, 4L), opened.get(2).rounds.stream().map(r -> r[0]).toList(), "from the checkpoint on");
        assertArrayEquals(weights(unbroken.resolve("checkpoints/round-000005")), weights(broken.resolve("checkpoints/round-000005")));
        assertEquals(Files.readAllLines(unbroken.resolve(RunDirectory.METRICS)).stream().map(RoundLoopTest::withoutTimes).toList(),
                Files.readAllLines(broken.resolve(RunDirectory.METRICS)).stream().map(RoundLoopTest::withoutTimes).toList());
    }

    private Trainer trainer(Path run, java.util.function.Consumer<ScriptedSync> setup) {
        return new Trainer(config(), new RunDirectory(run.toString(), conf), (plan, start) -> {
            ScriptedSync s = new ScriptedSync(plan, start, -1);
            setup.accept(s);
            opened.add(s);
            return s;
        });
    }

    /**
     * A checkpoint completes once the next round has run (its files may still be being written
     * while it does); a round that fails after it leaves it complete when all its files are in,
     * and the rerun resumes from it.
     */
    @Test
    void aRoundThatFailsAfterACheckpointRoundLeavesThatCheckpointComplete() throws IOException {
        Path run = tmp.resolve("failed");
        var e = assertThrows(IllegalStateException.class, () -> trainer(run, s -> s.failAt = 2).run(corpus(), false, null, null));
        assertTrue(e.getMessage().contains("lost its executor"), e.getMessage());
        assertEquals("checkpoints/round-000002", Files.readString(run.resolve(RunDirectory.LATEST)).trim());
        assertTrue(Files.exists(run.resolve("checkpoints/round-000002").resolve(RunDirectory.STATE)));
        var summary = trainer(config(), run, -1).run(corpus(), true, null, null).values();
        assertEquals(2L, summary.get("resumed_from_round"));
    }

    /** A checkpoint missing one of its files is never completed: the run fails naming the file, and latest does not move. */
    @Test
    void aCheckpointWithoutItsMomentsStaysIncomplete() {
        Path run = tmp.resolve("no-moments");
        var e = assertThrows(IOException.class, () -> trainer(run, s -> s.skipMoments = true).run(corpus(), false, null, null));
        assertTrue(e.getMessage().contains("checkpoints/round-000002/optimizer") && e.getMessage().contains("incomplete"),
                e.getMessage());
        assertFalse(Files.exists(run.resolve(RunDirectory.LATEST)));
        assertFalse(Files.exists(run.resolve("checkpoints/round-000002").resolve(RunDirectory.STATE)));
    }

    @Test
    void aResumeWithAnotherLocalStepCountIsRefusedByKey() throws IOException {
        Path run = tmp.resolve("h");
        assertThrows(TrainingDivergedException.class, () -> trainer(config(), run, 3).run(corpus(), false, null, null));
        var e = assertThrows(io.sparkformer.model.ConfigException.class,
                () -> trainer(config("train.local_steps=2"), run, -1).run(corpus(), true, null, null));
        assertEquals("train.local_steps", e.key());
    }

    /** A metrics row without its timings, which differ from run to run. */
    private static String withoutTimes(String row) {
        try {
            var n = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(row);
            n.remove(List.of("tokens_per_s", "compute_s", "sync_s", "validation_s", "checkpoint_s"));
            return n.toString();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
