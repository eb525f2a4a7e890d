package io.sparkformer.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Exit codes and messages of the command line, run in this JVM (one Spark context at a time). */
class CliTest {
    @TempDir
    Path tmp;

    private record Outcome(int code, String err) {}

    private Outcome run(String... args) {
        PrintStream old = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true));
        try {
            return new Outcome(Cli.run(args), err.toString());
        } finally {
            System.setErr(old);
        }
    }

    private Path config(String extra) throws IOException {
        Path corpus = tmp.resolve("c.txt");
        Files.writeString(corpus, "abc abd abe. the end.\n".repeat(400));
        Path cfg = tmp.resolve("job.yaml");
        Files.writeString(cfg, "name: cli\ndata:\n  inputs: [" + corpus + "]\n  shards: " + tmp.resolve("shards") + "\n"
                + "model: {d_model: 16, n_heads: 2, n_layers: 1, d_ff: 32, max_len: 16}\n"
                + "train: {block_size: 16, batch_size: 4, steps: 16, local_steps: 4, warmup: 2}\n"
                + "eval: {every: 2, batches: 4}\ncheckpoint: {every: 1}\n" + extra);
        return cfg;
    }

    @Test
    void badConfigIsExitCode2NamingTheKey() throws IOException {
        Outcome o = run("train", "--config", config("").toString(), "--set", "train.lrr=1", "--output", tmp.resolve("r").toString());
        assertEquals(2, o.code());
        assertTrue(o.err().contains("train.lrr: unknown key"), o.err());
        o = run("train", "--config", tmp.resolve("missing.yaml").toString());
        assertEquals(2, o.code());
        assertTrue(o.err().contains("missing.yaml: no such file"), o.err());
    }

    /** A misspelt or unparsable spark.sparkformer.* setting: exit 2 naming it, before the run directory exists. */
    @Test
    void aBadProjectSparkSettingIsExitCode2NamingTheKey() throws IOException {
        Path runDir = tmp.resolve("bad-spark-setting");
        for (String[] setting : new String[][] {{"spark.sparkformer.sharedMemory", "yes"},
                {"spark.sparkformer.sharedmemory", "false"}}) {
            System.setProperty(setting[0], setting[1]);
            try {
                Outcome o = run("train", "--config", config("").toString(), "--output", runDir.toString());
                assertEquals(2, o.code(), o.err());
                assertTrue(o.err().contains(setting[0] + ": "), o.err());
                assertTrue(!Files.exists(runDir), "nothing written");
            } finally {
                System.clearProperty(setting[0]);
            }
        }
        assertTrue(Cli.sparkConf("x", "local[1]", 1).getBoolean("spark.sparkformer.sharedMemory", true),
                "unset: the switches keep their defaults");
    }

    @Test
    void missingCorpusIsExitCode2NamingThePath() throws IOException {
        Outcome o = run("train", "--config", config("").toString(), "--set", "data.inputs=[" + tmp.resolve("nothing.txt") + "]",
                "--output", tmp.resolve("r2").toString());
        assertEquals(2, o.code());
        assertTrue(o.err().contains("nothing.txt: no such file"), o.err());
    }

    @Test
    void divergenceIsExitCode3AndKeepsTheLastGoodCheckpoint() throws IOException {
        Path run = tmp.resolve("diverge");
        // a huge constant learning rate without clipping blows the weights up within a few rounds
        // one step a round, a checkpoint every round: the first rounds' weights are checkpointed before the loss overflows
        Outcome o = run("train", "--config", config("").toString(), "--set", "train.lr=1e4", "--set", "train.min_lr=1e4",
                "--set", "train.schedule=constant", "--set", "train.grad_clip=0", "--set", "train.steps=400",
                "--set", "train.local_steps=1", "--set", "checkpoint.every=1", "--set", "checkpoint.keep=0",
                "--no-progress", "--output", run.toString());
        assertEquals(3, o.code(), o.err());
        assertTrue(o.err().contains("training diverged"), o.err());
        assertTrue(!Files.exists(run.resolve("_SUCCESS")));
        String latest = Files.readString(run.resolve("latest")).trim();
        assertTrue(Files.exists(run.resolve(latest).resolve("model.safetensors")), "the last good checkpoint stays");
        assertTrue(o.err().contains("the last good checkpoint is " + run.resolve(latest)), o.err());
    }

    /**
     * One step whose loss is finite and whose update leaves huge but finite weights: the round
     * passes every training check, and the validation loss of the averaged weights is not a
     * number. That ends the run (exit 3) before a checkpoint of those weights, or _SUCCESS.
     */
    @Test
    void aNonFiniteValidationLossIsDivergenceAndSavesNothing() throws IOException {
        Path run = tmp.resolve("nan-validation");
        Outcome o = run("train", "--config", config("").toString(), "--set", "train.lr=1e30", "--set", "train.min_lr=1e30",
                "--set", "train.schedule=constant", "--set", "train.grad_clip=0", "--set", "train.steps=1",
                "--set", "train.local_steps=1", "--set", "eval.every=1", "--no-progress", "--output", run.toString());
        assertEquals(3, o.code(), o.err());
        assertTrue(o.err().contains("the validation loss after round 1 is NaN"), o.err());
        // the workers' files of the checkpoint round may be there; the checkpoint is never completed
        assertTrue(!Files.exists(run.resolve("_SUCCESS")) && !Files.exists(run.resolve("latest"))
                && !Files.exists(run.resolve("checkpoints/round-000001/state.json")), "nothing saved");
        assertTrue(Files.exists(run.resolve("checkpoints/round-000001/model.safetensors")), "worker 0 wrote the round's weights");
        Outcome refused = run("generate", "--model", run.resolve("checkpoints/round-000001").toString(), "--text", "a");
        assertEquals(2, refused.code(), refused.err());
        assertTrue(refused.err().contains("incomplete checkpoint (no state.json)"), refused.err());
    }

    /** Shards default to the run's own directory: two runs of one config share nothing. */
    @Test
    void shardsDefaultToTheRunDirectory() throws IOException {
        Path cfg = config("");
        Files.writeString(cfg, Files.readString(cfg).replaceAll("  shards: .*\n", ""));
        Path run = tmp.resolve("runs/day-1");
        Outcome o = run("train", "--config", cfg.toString(), "--set", "train.steps=4", "--no-progress", "--output", run.toString());
        assertEquals(0, o.code(), o.err());
        assertTrue(Files.exists(run.resolve("shards/manifest.json")), "inside the run");
        assertTrue(!Files.exists(tmp.resolve("runs/shards")), "not beside it, where every date's run would share it");
    }

    @Test
    void inputErrorsFromSparkTasksAreStillExitCode2() {
        // Spark reports a task's failure by the exception's text (its stack trace), not the exception itself
        var thrown = new io.sparkformer.worker.shards.ShardException("/runs/shards/part-00000.tokens", "ends early (truncated)");
        var fromTask = new org.apache.spark.SparkException("Job aborted due to stage failure: Task 0 failed: " + thrown
                + "\n\tat io.sparkformer.worker.shards.TokenShard.read(TokenShard.java:1)");
        assertEquals(2, Cli.exitCode(fromTask));
        assertEquals("/runs/shards/part-00000.tokens: ends early (truncated)", Failures.of(fromTask).message(),
                "the message the command prints is the task's own, not Spark's report around it");
        assertEquals(1, Cli.exitCode(new org.apache.spark.SparkException("Job aborted: java.lang.OutOfMemoryError")));
        assertEquals(3, Cli.exitCode(new RuntimeException(new io.sparkformer.driver.training.TrainingDivergedException("nan"))));
    }

    @Test
    void aCompleteRunIsExitCode0() throws IOException {
        Path run = tmp.resolve("ok");
        Outcome o = run("train", "--config", config("").toString(), "--no-progress", "--output", run.toString());
        assertEquals(0, o.code(), o.err());
        assertTrue(Files.exists(run.resolve("_SUCCESS")));
        assertTrue(Files.readString(run.resolve("summary.json")).contains("\"best_val_loss\""));
    }
}
