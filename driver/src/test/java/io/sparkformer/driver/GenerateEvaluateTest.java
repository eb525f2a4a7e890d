package io.sparkformer.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A tiny decoder learns a periodic text through the CLI; generate must continue a prompt the way
 * the text does, and evaluate must score held-out text of the same period near zero loss and an
 * unrelated text far worse.
 */
class GenerateEvaluateTest {
    @TempDir
    static Path tmp;
    private static final String PERIOD = "the quick fox. ";

    @BeforeAll
    static void train() throws Exception {
        Path corpus = tmp.resolve("c.txt");
        Files.writeString(corpus, (PERIOD.repeat(4) + "\n").repeat(300));
        Path cfg = tmp.resolve("job.yaml");
        Files.writeString(cfg, "name: periodic\nseed: 3\ndata:\n  inputs: [" + corpus + "]\n  shards: " + tmp.resolve("shards") + "\n"
                + "model: {d_model: 32, n_heads: 2, n_layers: 2, d_ff: 64, max_len: 32}\n"
                + "train: {block_size: 32, batch_size: 8, steps: 150, local_steps: 50, warmup: 10, lr: 1.0e-2, min_lr: 1.0e-3}\n"
                + "eval: {every: 3, batches: 4}\ncheckpoint: {every: 3}\n");
        assertEquals(Cli.OK, Cli.run("train", "--config", cfg.toString(), "--output", tmp.resolve("run").toString(), "--no-progress"));
    }

    static String stdout(String... args) {
        return CliOutput.stdout(args);
    }

    @Test
    void greedyAndBeamContinueThePeriodAndSamplingIsReproducible() {
        String run = tmp.resolve("run").toString();
        String greedy = stdout("generate", "--model", run, "--text", "the quick", "--max-tokens", "40");
        // past the max_len of 32: the decoder slides its window
        assertTrue(greedy.startsWith("the quick fox. the quick fox."), greedy);
        String beam = stdout("generate", "--model", run, "--text", "the q", "--method", "beam", "--max-tokens", "10",
                "--format", "jsonl");
        assertTrue(beam.contains("\"output\":\"uick fox. \""), beam);
        String[] sampleArgs = {"generate", "--model", run, "--text", "the", "--text", "fox", "--method", "sample",
                "--temperature", "1.5", "--seed", "4", "--max-tokens", "20"};
        assertEquals(stdout(sampleArgs), stdout(sampleArgs));
    }

    @Test
    void generateOverATableWritesWhatTheLineFormPrints() throws Exception {
        Path prompts = tmp.resolve("prompts.txt");
        Files.writeString(prompts, "the quick\nthe\nquick fox\n");
        String run = tmp.resolve("run").toString();
        String[] lines = stdout("generate", "--model", run, "--input", prompts.toString(), "--max-tokens", "12",
                "--format", "jsonl").strip().split("\n");
        Path table = tmp.resolve("generated");
        stdout("generate", "--model", run, "--input", prompts.toString(), "--max-tokens", "12", "--output", table.toString(),
                "--output-format", "json");
        List<String> written = new java.util.ArrayList<>();
        try (var parts = Files.list(table)) {
            for (Path part : parts.filter(p -> p.getFileName().toString().startsWith("part-")).sorted().toList()) {
                written.addAll(Files.readAllLines(part));
            }
        }
        ObjectMapper json = new ObjectMapper();
        assertEquals(3, written.size());
        for (int i = 0; i < 3; i++) {
            JsonNode line = json.readTree(lines[i]);
            JsonNode row = json.readTree(written.get(i));
            assertEquals(line.get("input").asText(), row.get("text").asText(), "row order kept");
            assertEquals(line.get("output").asText(), row.get("generated").asText(), "the same continuation");
        }
    }

    @Test
    void attentionMapsArePngsWithOnePanelPerHead() throws Exception {
        Path png = tmp.resolve("attention.png");
        String said = stdout("attention", "--model", tmp.resolve("run").toString(), "--text", "the quick fox", "--layer", "1",
                "--output", png.toString());
        assertTrue(said.contains("2 heads, 13 x 13 tokens"), said);
        java.awt.image.BufferedImage image = javax.imageio.ImageIO.read(png.toFile());
        assertEquals(2 * image.getHeight(), image.getWidth(), "two square panels side by side");
        assertEquals(2, Cli.run("attention", "--model", tmp.resolve("run").toString(), "--text", "x", "--layer", "5",
                "--output", png.toString()));
    }

    @Test
    void evaluateScoresHeldOutTextOnSpark() throws Exception {
        Path same = tmp.resolve("held-out.txt");
        Files.writeString(same, (PERIOD.repeat(4) + "\n").repeat(40));
        Path other = tmp.resolve("other.txt");
        Files.writeString(other, "fox the quick. kciuq eht xof\n".repeat(60));
        ObjectMapper json = new ObjectMapper();
        String run = tmp.resolve("run").toString();
        stdout("evaluate", "--model", run, "--data", same.toString(), "--output", tmp.resolve("same.json").toString());
        stdout("evaluate", "--model", run, "--data", other.toString(), "--output", tmp.resolve("other.json").toString());
        JsonNode a = json.readTree(tmp.resolve("same.json").toFile());
        JsonNode b = json.readTree(tmp.resolve("other.json").toFile());
        assertTrue(a.get("loss").asDouble() < 0.1, "held-out text of the training period: " + a);
        assertTrue(a.get("token_accuracy").asDouble() > 0.97, a.toString());
        assertTrue(b.get("loss").asDouble() > 1.0, "unrelated text: " + b);
        assertEquals(Math.exp(a.get("loss").asDouble()), a.get("perplexity").asDouble(), 1e-9);
    }

    @Test
    void completionTaskTrainsThroughTheDriverAndDecodesExactly() throws Exception {
        // every permutation of "abcd" and its reverse: prompt TAB completion
        List<String> rows = new java.util.ArrayList<>();
        permute("", "abcd", rows);
        Path data = tmp.resolve("reverse4.tsv");
        Files.write(data, rows);
        Path cfg = tmp.resolve("completion.yaml");
        Files.writeString(cfg, "name: completion\nseed: 5\ndata: {task: completion, inputs: [" + data + "], validation: ["
                + data + "], shards: " + tmp.resolve("shards-c") + "}\n"
                + "model: {kind: decoder, d_model: 32, n_heads: 2, n_layers: 2, d_ff: 64, max_len: 16}\n"
                + "train: {block_size: 16, batch_size: 12, steps: 800, local_steps: 200, warmup: 20, lr: 5.0e-3, min_lr: 5.0e-4, weight_decay: 0.0}\n"
                + "eval: {every: 1, batches: 2}\ncheckpoint: {every: 3}\n");
        assertEquals(Cli.OK, Cli.run("train", "--config", cfg.toString(), "--output", tmp.resolve("run-c").toString(), "--no-progress"));
        stdout("evaluate", "--model", tmp.resolve("run-c").toString(), "--data", data.toString(), "--output",
                tmp.resolve("c.json").toString());
        JsonNode e = new ObjectMapper().readTree(tmp.resolve("c.json").toFile());
        assertEquals(24, e.get("sequences").asInt());
        assertEquals(1.0, e.get("decoded_exact_match").asDouble(), "greedy completions of the 24 prompts: " + e);
    }

    private static void permute(String prefix, String rest, List<String> out) {
        if (rest.isEmpty()) {
            out.add(prefix + "\t" + new StringBuilder(prefix).reverse());
        }
        for (int i = 0; i < rest.length(); i++) {
            permute(prefix + rest.charAt(i), rest.substring(0, i) + rest.substring(i + 1), out);
        }
    }
}
