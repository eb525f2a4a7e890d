package io.sparkformer.driver;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.model.io.Checkpoint;

/**
 * The CLI in separate JVMs: a run killed with SIGKILL mid-training and rerun with --resume ends
 * with the same weights as an unbroken run (bit-equal).
 */
class ResumeAfterKillTest {
    @TempDir
    Path tmp;

    /** The job, its shards in a directory of {@code name}'s own (the two runs build them at once). */
    private Path config(String name) throws IOException {
        Path corpus = tmp.resolve("c.txt");
        if (!Files.exists(corpus)) {
            Files.writeString(corpus, "a quick brown fox jumps over the lazy dog. ".repeat(3000));
        }
        Path cfg = tmp.resolve(name + ".yaml");
        Files.writeString(cfg, "name: kill\nseed: 5\ndata:\n  inputs: [" + corpus + "]\n  shards: " + tmp.resolve(name + "-shards") + "\n"
                + "model: {d_model: 32, n_heads: 2, n_layers: 2, d_ff: 64, max_len: 32}\n"
                + "train: {workers: 2, block_size: 32, batch_size: 8, steps: 60, local_steps: 2, warmup: 10, lr: 3.0e-3}\n"
                + "eval: {every: 10, batches: 4}\ncheckpoint: {every: 1}\n");
        return cfg;
    }

    private Process start(Path cfg, Path out, boolean resume) throws IOException {
        List<String> cmd = CliJvm.java(true);
        cmd.addAll(CliJvm.QUICK);
        List<String> args = new ArrayList<>(List.of("train", "--config", cfg.toString(), "--output", out.toString(), "--no-progress"));
        if (resume) {
            args.add("--resume");
        }
        cmd.addAll(CliJvm.cli(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve(out.getFileName() + ".log").toFile()).start();
    }

    private static float[] finalWeights(Path run) throws IOException {
        String latest = Files.readString(run.resolve("latest")).trim();
        return Checkpoint.loadModel(run.resolve(latest), DataType.FLOAT).parameters().flat().toFloatVector();
    }

    private static long latestRound(Path run) {
        try {
            String s = Files.readString(run.resolve("latest")).trim();
            return Long.parseLong(s.substring(s.lastIndexOf('-') + 1));
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    @Test
    void killedMidRunThenResumedEqualsUnbroken() throws Exception {
        // the unbroken run beside the one to be killed: two JVMs of their own, each with its own directories
        Path unbroken = tmp.resolve("unbroken");
        Process p = start(config("unbroken"), unbroken, false);
        Path cfg = config("killed");
        Path killed = tmp.resolve("killed");
        Process k = start(cfg, killed, false);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        while (latestRound(killed) < 5 && k.isAlive() && System.nanoTime() < deadline) {
            Thread.onSpinWait();
            k.waitFor(50, TimeUnit.MILLISECONDS);
        }
        assertTrue(k.isAlive(), "the run was still training when it was killed");
        k.destroyForcibly(); // SIGKILL
        assertTrue(k.waitFor(60, TimeUnit.SECONDS));
        long killedAt = latestRound(killed);
        assertTrue(killedAt >= 5 && killedAt < 30, "killed at round " + killedAt);
        assertFalse(Files.exists(killed.resolve("_SUCCESS")));
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "unbroken run finished");
        assertEquals(0, p.exitValue(), Files.readString(tmp.resolve("unbroken.log")));

        Process r = start(cfg, killed, true);
        assertTrue(r.waitFor(300, TimeUnit.SECONDS), "resumed run finished");
        assertEquals(0, r.exitValue(), Files.readString(tmp.resolve("killed.log")));
        assertTrue(Files.readString(killed.resolve("summary.json")).contains("\"resumed_from_round\" : " + killedAt),
                Files.readString(killed.resolve("summary.json")));
        assertArrayEquals(finalWeights(unbroken), finalWeights(killed), "bit-equal to the unbroken run");
        assertEquals(Files.readAllLines(unbroken.resolve("metrics.jsonl")).size(),
                Files.readAllLines(killed.resolve("metrics.jsonl")).size());
        System.out.printf("kill -9 at round %d of 30, resumed: final weights bit-equal to the unbroken run%n", killedAt);
        assertTrue(new File(killed.resolve("loss.png").toString()).length() > 0);
    }
}
