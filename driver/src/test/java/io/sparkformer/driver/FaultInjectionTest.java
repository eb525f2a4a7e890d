package io.sparkformer.driver;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.corpus.FaultInjection;
import io.sparkformer.driver.training.RunDirectory;
import io.sparkformer.model.io.Checkpoint;

/**
 * The JVM halted (as SIGKILL would: no finally blocks, no shutdown hooks) at a write of a run's
 * files (a checkpoint's files one by one, the pointer, metrics, summary, _SUCCESS) or of a
 * promotion's, then the same command run again: the training resumes from the newest complete
 * checkpoint, never from round 0 when one exists, and ends bit-equal to an unbroken run; the
 * models directory's current pointer names a loadable model after every kill.
 *
 * <p>Each halt costs two JVMs (about 10 s), so the default suite halts at a spread of the points
 * (the completion markers before, written and replaced, and one write of each other file);
 * {@code -Dsparkformer.faults=kinds} at the first of each kind (33 here), {@code =all} at every
 * one (105 with the run-start files and the shards).
 */
class FaultInjectionTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern POINT = Pattern.compile(Pattern.quote(FaultInjection.MARK) + "(\\d+) (\\w+) (\\S+)");

    @TempDir
    Path tmp;

    private Path config(int steps) throws IOException {
        Path corpus = tmp.resolve("c.txt");
        if (!Files.exists(corpus)) {
            Files.writeString(corpus, "a quick brown fox jumps over the lazy dog. ".repeat(2000));
        }
        Path cfg = tmp.resolve("job-" + steps + ".yaml");
        Files.writeString(cfg, "name: faults\nseed: 5\ndata:\n  inputs: [" + corpus + "]\n"
                + "model: {d_model: 16, n_heads: 2, n_layers: 1, d_ff: 32, max_len: 16}\n"
                + "train: {workers: 2, block_size: 16, batch_size: 4, steps: " + steps + ", local_steps: 2, warmup: 2, lr: 3.0e-3}\n"
                + "eval: {every: 2, batches: 2}\ncheckpoint: {every: 2, keep: 2}\n");
        return cfg;
    }

    /** Runs the CLI in a JVM of its own; returns its exit code, its output in {@code log}. */
    private int cli(List<String> args, Integer haltAt, boolean trace, Path log) throws Exception {
        List<String> cmd = CliJvm.java(true);
        cmd.addAll(CliJvm.QUICK);
        if (haltAt != null) {
            cmd.add("-D" + FaultInjection.HALT_AT + "=" + haltAt);
        }
        if (trace) {
            cmd.add("-D" + FaultInjection.TRACE + "=true");
        }
        cmd.addAll(CliJvm.cli(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "finished: " + cmd);
        return p.exitValue();
    }

    private static List<String> train(Path cfg, Path out, boolean resume) {
        List<String> a = new ArrayList<>(List.of("train", "--config", cfg.toString(), "--output", out.toString(), "--no-progress"));
        if (resume) {
            a.add("--resume");
        }
        return a;
    }

    /** The points an unbroken command passes: "N before|written|replaced file". */
    private static List<String[]> points(Path log) throws IOException {
        List<String[]> out = new ArrayList<>();
        for (String line : Files.readAllLines(log)) {
            Matcher m = POINT.matcher(line);
            if (m.find()) {
                out.add(new String[] {m.group(1), m.group(2), m.group(3)});
            }
        }
        return out;
    }

    /**
     * The writes the default suite halts at: the completion markers, and one of each other kind of
     * file. "before state.json" leaves what "written state.json" leaves but its temporary file (a
     * checkpoint with every file but state.json), "before latest" what "replaced state.json"
     * leaves, "written latest" that plus the pointer's temporary file, and "written
     * optimizer-w1.safetensors" a checkpoint short of files as "written model.safetensors" does, so
     * the spread skips them; -Dsparkformer.faults=kinds and =all still halt there.
     */
    private static final java.util.Set<String> SPREAD = java.util.Set.of("written state.json",
            "replaced state.json", "replaced latest", "written model.safetensors",
            "before metrics.jsonl", "replaced summary.json", "before _SUCCESS");

    /**
     * The points to halt at, from the first write of {@code firstOf} on: -Dsparkformer.faults=all
     * every point; =kinds the first of each kind of write (before, written, replaced of each
     * file); by default the {@link #SPREAD} of those.
     */
    private static List<Integer> chosen(List<String[]> points, String firstOf, String mode) {
        List<Integer> out = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        boolean started = firstOf == null;
        for (String[] p : points) {
            started |= p[2].equals(firstOf);
            String kind = p[1] + " " + p[2];
            boolean first = started && seen.add(kind);
            if (mode.equals("all") || (first && (mode.equals("kinds") || SPREAD.contains(kind)))) {
                out.add(Integer.parseInt(p[0]));
            }
        }
        // and the final checkpoint complete, its pointer not yet moved: a resume with no rounds left
        int lastCompletion = points.stream().filter(p -> "replaced".equals(p[1]) && RunDirectory.STATE.equals(p[2]))
                .mapToInt(p -> Integer.parseInt(p[0])).max().orElseThrow();
        if (!out.contains(lastCompletion)) {
            out.add(lastCompletion);
        }
        return out;
    }

    private static float[] finalWeights(Path run) throws IOException {
        String latest = Files.readString(run.resolve("latest")).trim();
        return Checkpoint.loadModel(run.resolve(latest), DataType.FLOAT).parameters().flat().toFloatVector();
    }

    /** The newest round whose checkpoint has its state.json (what a resume must start from), or 0. */
    private static long newestComplete(Path run) throws IOException {
        Path dir = run.resolve("checkpoints");
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(d -> Files.exists(d.resolve("state.json")))
                    .mapToLong(d -> Long.parseLong(d.getFileName().toString().substring("round-".length()))).max().orElse(0);
        }
    }

    @Test
    void haltedAtAnyWriteTheRerunResumesAndEndsBitEqual() throws Exception {
        sweep(System.getProperty("sparkformer.faults", "spread"));
    }

    /** The whole sweep, every write of the run from its first file on (about 30 minutes on 2 cores). */
    @Test
    @Tag("slow")
    void haltedAtEveryWriteTheRerunResumesAndEndsBitEqual() throws Exception {
        sweep("all");
    }

    private void sweep(String mode) throws Exception {
        Path cfg = config(12);
        Path unbroken = tmp.resolve("unbroken");
        Path traced = tmp.resolve("unbroken.log");
        assertEquals(0, cli(train(cfg, unbroken, false), null, true, traced), Files.readString(traced));
        List<String[]> points = points(traced);
        float[] expected = finalWeights(unbroken);
        long metricsLines = Files.readAllLines(unbroken.resolve("metrics.jsonl")).size();
        double finalValLoss = JSON.readTree(unbroken.resolve("summary.json").toFile()).path("final_val_loss").asDouble();
        // from the first checkpoint's writes on (-Dsparkformer.faults=all: the run-start files too)
        List<Integer> halts = chosen(points, "all".equals(mode) ? null : Checkpoint.MODEL_FILE, mode);
        assertTrue(halts.size() >= SPREAD.size(), "points chosen: " + halts + " of " + points.size());
        // two halts at a time: each is two JVMs of their own, independent of the others' directories
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        List<java.util.concurrent.Future<Boolean>> runs = new ArrayList<>();
        for (int n : halts) {
            runs.add(pool.submit(() -> haltAndRerun(cfg, n, String.join(" ", points.get(n - 1)), expected, metricsLines,
                    finalValLoss)));
        }
        pool.shutdown();
        int resumedFromACheckpoint = 0;
        for (var run : runs) {
            try {
                resumedFromACheckpoint += run.get() ? 1 : 0;
            } catch (java.util.concurrent.ExecutionException e) {
                throw e.getCause() instanceof Error err ? err : new AssertionError(e.getCause());
            }
        }
        assertTrue(resumedFromACheckpoint > 0, "some halts came after a complete checkpoint");
        System.out.printf("fault injection: %d halts of %d write points, each rerun bit-equal (%d resumed from a checkpoint)%n",
                halts.size(), points.size(), resumedFromACheckpoint);
    }

    /**
     * Halts the run at write point {@code n} ({@code at}), reruns the same command and checks it ends as
     * the unbroken run did; true when the halt came after a complete checkpoint.
     */
    private boolean haltAndRerun(Path cfg, int n, String at, float[] expected, long metricsLines, double finalValLoss)
            throws Exception {
        Path run = tmp.resolve("halt-" + n);
        Path log = tmp.resolve("halt-" + n + ".log");
        assertEquals(137, cli(train(cfg, run, false), n, false, log), "halted at point " + at + ": " + Files.readString(log));
        long from = newestComplete(run);
        Path rerunLog = tmp.resolve("halt-" + n + "-rerun.log");
        assertEquals(0, cli(train(cfg, run, true), null, false, rerunLog), at + ": " + Files.readString(rerunLog));
        var summary = JSON.readTree(run.resolve("summary.json").toFile());
        if (!Files.readString(rerunLog).contains("already finished (_SUCCESS)")) {
            // the rerun starts from the newest complete checkpoint: never round 0 when there is one
            assertEquals(from, summary.path("resumed_from_round").asLong(0), at + ": " + summary);
        }
        assertArrayEquals(expected, finalWeights(run), at + ": bit-equal to the unbroken run");
        assertEquals(finalValLoss, summary.path("final_val_loss").asDouble(), at + ": " + summary);
        assertEquals(metricsLines, Files.readAllLines(run.resolve("metrics.jsonl")).size(), at + ": one metrics row a round");
        assertTrue(Files.exists(run.resolve("_SUCCESS")), at);
        return from > 0;
    }

    @Test
    void haltedAtAnyWriteOfAPromotionCurrentStaysLoadable() throws Exception {
        Path worse = tmp.resolve("worse");
        Path better = tmp.resolve("better");
        Path log = tmp.resolve("runs.log");
        Path worseConfig = config(2);
        Path betterConfig = config(12);
        // the two runs at once, each in a JVM of its own
        var worseRun = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return cli(train(worseConfig, worse, false), null, false, tmp.resolve("worse.log"));
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        assertEquals(0, cli(train(betterConfig, better, false), null, false, log), Files.readString(log));
        assertEquals(0, worseRun.get(), Files.readString(tmp.resolve("worse.log")));
        Path models = tmp.resolve("models");
        List<String> promoteWorse = List.of("promote", "--run", worse.toString(), "--models", models.toString());
        assertEquals(0, cli(promoteWorse, null, false, log), Files.readString(log));
        Path pristine = tmp.resolve("models-pristine");
        copy(models, pristine);

        Path traced = tmp.resolve("promote.log");
        Path tracedModels = tmp.resolve("models-traced");
        copy(pristine, tracedModels);
        Files.deleteIfExists(better.resolve("promotion.json"));
        assertEquals(0, cli(List.of("promote", "--run", better.toString(), "--models", tracedModels.toString()), null, true, traced),
                Files.readString(traced));
        List<String[]> points = points(traced);
        assertTrue(points.size() >= 6, "the decision and the pointer, three points each: " + points.size());
        String betterCheckpoint = JSON.readTree(tracedModels.resolve("current").toFile()).get("checkpoint").asText();
        assertTrue(betterCheckpoint.startsWith(better.toString()), betterCheckpoint);

        // two halts at a time, each promoting its own copy of the run into its own copy of the models
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        List<java.util.concurrent.Future<?>> halts = new ArrayList<>();
        for (int n = 1; n <= points.size(); n++) {
            int point = n;
            halts.add(pool.submit(() -> {
                haltPromotion(point, String.join(" ", points.get(point - 1)), better, pristine, betterCheckpoint);
                return null;
            }));
        }
        pool.shutdown();
        for (var h : halts) {
            try {
                h.get();
            } catch (java.util.concurrent.ExecutionException e) {
                throw e.getCause() instanceof Error err ? err : new AssertionError(e.getCause());
            }
        }
    }

    /** Promotes a copy of {@code better} into a copy of {@code pristine}, halted at write point {@code n}, then again. */
    private void haltPromotion(int n, String at, Path better, Path pristine, String betterCheckpoint) throws Exception {
        Path run = tmp.resolve("better-halt-" + n);
        copy(better, run);
        Files.deleteIfExists(run.resolve("promotion.json"));
        Path dir = tmp.resolve("models-halt-" + n);
        copy(pristine, dir);
        List<String> promote = List.of("promote", "--run", run.toString(), "--models", dir.toString());
        Path halted = tmp.resolve("promote-halt-" + n + ".log");
        assertEquals(137, cli(promote, n, false, halted), at + ": " + Files.readString(halted));
        String current = JSON.readTree(dir.resolve("current").toFile()).get("checkpoint").asText();
        Checkpoint.loadModel(Path.of(current), DataType.FLOAT); // loadable, whichever it names
        assertEquals(0, cli(promote, null, false, halted), at + ": " + Files.readString(halted));
        assertEquals(betterCheckpoint.replace(better.toString(), run.toString()),
                JSON.readTree(dir.resolve("current").toFile()).get("checkpoint").asText(), at);
    }

    private static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }
}
