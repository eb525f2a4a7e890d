package io.sparkformer.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.worker.shards.Manifest;

/**
 * A tiny encoder classifier learns through the CLI whether a sentence holds the word "great"
 * (TSV files with a header line): evaluate must report high accuracy and a confusion matrix that
 * adds up, classify the right labels, and a validation label the training data lacks is refused.
 */
class ClassificationTest {
    @TempDir
    static Path tmp;
    private static final String[] WORDS = {"the", "film", "plot", "was", "dull", "long", "short", "and", "actor", "music"};
    private static final ObjectMapper JSON = new ObjectMapper();

    static Path tsv(String name, int rows, long seed) throws Exception {
        return tsvIn(tmp, name, rows, seed);
    }

    /** Sentences of random words, labelled pos when "great" is among them, under a header line. */
    static Path tsvIn(Path dir, String name, int rows, long seed) throws Exception {
        Random r = new Random(seed);
        List<String> lines = new ArrayList<>(List.of("sentence\tlabel"));
        for (int i = 0; i < rows; i++) {
            List<String> words = new ArrayList<>();
            for (int w = 2 + r.nextInt(5); w > 0; w--) {
                words.add(WORDS[r.nextInt(WORDS.length)]);
            }
            boolean great = r.nextBoolean();
            if (great) {
                words.add(r.nextInt(words.size() + 1), "great");
            }
            lines.add(String.join(" ", words) + "\t" + (great ? "pos" : "neg"));
        }
        Path p = dir.resolve(name);
        Files.write(p, lines);
        return p;
    }

    static String config(Path train, Path val, String extra) {
        return config(train, val, extra, "encoder");
    }

    static String config(Path train, Path val, String extra, String kind) {
        return "name: great\nseed: 5\ndata:\n  task: classification\n  inputs: [" + train + "]\n  validation: [" + val + "]\n"
                + "  header: true\n" + extra
                + "model: {kind: " + kind + ", d_model: 32, n_heads: 2, n_layers: 2, d_ff: 64, max_len: 48}\n"
                + "train: {block_size: 48, batch_size: 16, steps: 300, local_steps: 50, warmup: 20, lr: 3.0e-3, min_lr: 3.0e-4}\n"
                + "eval: {every: 1, batches: 8}\ncheckpoint: {every: 6}\n";
    }

    @BeforeAll
    static void train() throws Exception {
        Path cfg = tmp.resolve("job.yaml");
        Files.writeString(cfg, config(tsv("train.tsv", 2000, 1), tsv("dev.tsv", 200, 2), ""));
        assertEquals(Cli.OK, Cli.run("train", "--config", cfg.toString(), "--output", tmp.resolve("run").toString(), "--no-progress"));
    }

    @Test
    void labelsAreKeptTheLossFallsAndEvaluateReportsAccuracyAndConfusion() throws Exception {
        Manifest m = Manifest.fromJson(Files.readAllBytes(tmp.resolve("run/shards/manifest.json")), "manifest");
        assertEquals(List.of("neg", "pos"), m.labels(), "the header line is not a label");
        List<String> rows = Files.readAllLines(tmp.resolve("run/metrics.jsonl"));
        double first = JSON.readTree(rows.get(0)).get("val_loss").asDouble();
        double last = JSON.readTree(rows.get(rows.size() - 1)).get("val_loss").asDouble();
        assertTrue(last < 0.5 * first, "validation loss " + first + " -> " + last);

        Path report = tmp.resolve("dev.json");
        GenerateEvaluateTest.stdout("evaluate", "--model", tmp.resolve("run").toString(), "--data", tmp.resolve("dev.tsv").toString(),
                "--output", report.toString());
        JsonNode r = JSON.readTree(report.toFile());
        assertEquals(200, r.get("sequences").asInt());
        assertTrue(r.get("accuracy").asDouble() >= 0.9, r.toString());
        long total = 0;
        long diagonal = 0;
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 2; j++) {
                long n = r.get("confusion").get(i).get(j).asLong();
                total += n;
                diagonal += i == j ? n : 0;
            }
        }
        assertEquals(200, total);
        assertEquals(r.get("accuracy").asDouble(), diagonal / 200.0, 1e-12);
    }

    @Test
    void classifyPrintsTheLabelAndProbabilitiesThatSumToOne() throws Exception {
        String out = GenerateEvaluateTest.stdout("classify", "--model", tmp.resolve("run").toString(),
                "--text", "the plot was great and short", "--text", "the film was dull and long");
        String[] lines = out.strip().split("\n");
        assertEquals(2, lines.length, out);
        JsonNode a = JSON.readTree(lines[0]);
        JsonNode b = JSON.readTree(lines[1]);
        assertEquals("pos", a.get("label").asText(), out);
        assertEquals("neg", b.get("label").asText(), out);
        assertEquals(1.0, a.get("probabilities").get("neg").asDouble() + a.get("probabilities").get("pos").asDouble(), 1e-9);
        assertEquals(2, Cli.run("generate", "--model", tmp.resolve("run").toString(), "--text", "x"),
                "a classifier does not generate");
    }

    /**
     * checkpoint.best keeps the weights of the lowest validation loss: with a checkpoint every
     * round kept, they must be byte for byte that round's checkpoint weights, and the {@code best}
     * pointer must serve evaluate and --init-from (which then scores as the best weights did).
     */
    @Test
    void bestWeightsAreThoseOfTheLowestValidationLossAndServeEvaluateAndInitFrom() throws Exception {
        Path cfg = tmp.resolve("best.yaml");
        Files.writeString(cfg, config(tmp.resolve("train.tsv"), tmp.resolve("dev.tsv"), "  shards: " + tmp.resolve("best-shards") + "\n"));
        // overrides by key: a key the template no longer has is an error, not a silent no-op
        String[] bestRun = {"--set", "train.steps=150", "--set", "train.local_steps=25", "--set", "checkpoint.every=1",
            "--set", "checkpoint.keep=0", "--set", "checkpoint.best=true"};
        Path run = tmp.resolve("best-run");
        assertEquals(Cli.OK, Cli.run(concat(new String[] {"train", "--config", cfg.toString(), "--output", run.toString(),
            "--no-progress"}, bestRun)));

        int bestRound = 0;
        double bestLoss = Double.POSITIVE_INFINITY;
        for (String row : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode r = JSON.readTree(row);
            if (r.get("val_loss").asDouble() < bestLoss) {
                bestLoss = r.get("val_loss").asDouble();
                bestRound = r.get("round").asInt();
            }
        }
        String name = String.format("best-weights/round-%06d", bestRound);
        assertEquals(name, Files.readString(run.resolve("best")).strip());
        try (var dirs = Files.list(run.resolve("best-weights"))) {
            assertEquals(1, dirs.count(), "older best weights are deleted");
        }
        JsonNode state = JSON.readTree(run.resolve(name + "/state.json").toFile());
        assertEquals(bestLoss, state.get("best_val_loss").asDouble(), 0.0);
        JsonNode summary = JSON.readTree(run.resolve("summary.json").toFile());
        assertEquals(bestLoss, summary.get("best_val_loss").asDouble(), 0.0);
        assertTrue(summary.get("best_weights").asText().endsWith(name), summary.toString());
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(run.resolve(name + "/model.safetensors")),
                Files.readAllBytes(run.resolve(String.format("checkpoints/round-%06d/model.safetensors", bestRound)))),
                "the best weights are those the checkpoint of round " + bestRound + " holds");

        Path report = tmp.resolve("best-dev.json");
        GenerateEvaluateTest.stdout("evaluate", "--model", run.resolve("best").toString(), "--data", tmp.resolve("dev.tsv").toString(),
                "--output", report.toString());
        assertTrue(JSON.readTree(report.toFile()).get("accuracy").asDouble() >= 0.9, Files.readString(report));

        Path tuned = tmp.resolve("best-tuned");
        // one round at a rate too small to move the weights: the run's first validation scores the weights it loaded
        String[] oneRound = concat(bestRun, new String[] {"--set", "train.steps=25", "--set", "train.lr=1.0e-7",
            "--set", "train.min_lr=1.0e-7"});
        assertEquals(Cli.OK, Cli.run(concat(new String[] {"train", "--config", cfg.toString(), "--output", tuned.toString(),
            "--no-progress", "--init-from", run.resolve("best").toString()}, oneRound)));
        double tunedFirst = JSON.readTree(Files.readAllLines(tuned.resolve("metrics.jsonl")).get(0)).get("val_loss").asDouble();
        double freshFirst = JSON.readTree(Files.readAllLines(run.resolve("metrics.jsonl")).get(0)).get("val_loss").asDouble();
        assertEquals(bestLoss, tunedFirst, 1e-3, "--init-from RUN/best starts from the best weights");
        assertTrue(tunedFirst < 0.5 * freshFirst, "from the best weights " + tunedFirst + ", from scratch " + freshFirst);
        assertEquals(2, Cli.run(concat(new String[] {"train", "--config", cfg.toString(), "--output",
            tmp.resolve("nowhere").toString(), "--no-progress", "--init-from", tmp.resolve("no-such-run/best").toString()},
            oneRound)), "a missing --init-from is refused");
    }

    @Test
    void aDecoderClassifiesFromItsLastToken() throws Exception {
        Path cfg = tmp.resolve("decoder.yaml");
        Files.writeString(cfg, config(tmp.resolve("train.tsv"), tmp.resolve("dev.tsv"),
                "  shards: " + tmp.resolve("decoder-shards") + "\n", "decoder"));
        Path run = tmp.resolve("decoder-run");
        assertEquals(Cli.OK, Cli.run("train", "--config", cfg.toString(), "--output", run.toString(), "--no-progress"));
        Path report = tmp.resolve("decoder-dev.json");
        GenerateEvaluateTest.stdout("evaluate", "--model", run.toString(), "--data", tmp.resolve("dev.tsv").toString(),
                "--output", report.toString());
        JsonNode r = JSON.readTree(report.toFile());
        assertTrue(r.get("accuracy").asDouble() >= 0.9, r.toString());
        var model = io.sparkformer.driver.models.TrainedModel.load(run.toString(), new org.apache.hadoop.conf.Configuration());
        assertEquals(io.sparkformer.model.TransformerConfig.Pooling.LAST, model.model().config().pooling(), "auto: a decoder's last token");
    }

    @Test
    void aValidationLabelTheTrainingDataLacksIsRefusedByName() throws Exception {
        Path val = tmp.resolve("odd.tsv");
        Files.write(val, List.of("sentence\tlabel", "the film\tneutral"));
        Path cfg = tmp.resolve("odd.yaml");
        Files.writeString(cfg, config(tmp.resolve("train.tsv"), val, "  shards: " + tmp.resolve("odd-shards") + "\n"));
        PrintStream old = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Cli.run("train", "--config", cfg.toString(), "--output", tmp.resolve("odd-run").toString(), "--no-progress");
        } finally {
            System.setErr(old);
        }
        assertEquals(2, code);
        String said = err.toString(StandardCharsets.UTF_8);
        assertTrue(said.contains("neutral") && said.contains("odd.tsv"), said);
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
