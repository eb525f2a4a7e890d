package io.sparkformer.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Fine-tuning the real all-MiniLM-L6-v2 (a Hugging Face checkpoint directory) on a slice of SST-2
 * through the CLI: the job's model section comes from its config.json, the run classifies with the
 * checkpoint's tokenizer, and the run exported as a Hugging Face checkpoint and read back scores the
 * same rows identically. A key that contradicts the checkpoint is refused before any run exists.
 */
class FineTuneTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path tmp;
    private static Path checkpoint;
    private static Path train;
    private static Path dev;
    private static Path config;

    @BeforeAll
    static void slices() throws Exception {
        Path shared = SparkTestBase.shared();
        checkpoint = shared.resolve("pretrained/all-MiniLM-L6-v2");
        List<String> rows = Files.readAllLines(shared.resolve("datasets/sst2/train.tsv"));
        train = Files.write(tmp.resolve("train.tsv"), rows.subList(0, 129));
        dev = Files.write(tmp.resolve("dev.tsv"), Files.readAllLines(shared.resolve("datasets/sst2/dev.tsv")).subList(0, 41));
        config = Path.of(System.getProperty("sparkformer.root", "..")).resolve("conf/sst2-minilm.yaml");
    }

    @Test
    void aFineTunedImportClassifiesAndExportsToTheSameScores() throws Exception {
        Path run = tmp.resolve("run");
        assertEquals(Cli.OK, Cli.run("train", "--config", config.toString(), "--init-from", checkpoint.toString(),
                "--output", run.toString(), "--no-progress", "--set", "data.inputs=[" + train + "]",
                "--set", "data.validation=[" + dev + "]", "--set", "train.steps=4", "--set", "train.warmup=1",
                "--set", "eval.batches=2", "--set", "train.batch_size=16"));
        String saved = Files.readString(run.resolve("config.yaml"));
        assertTrue(saved.contains("d_model: 384") && saved.contains("norm: \"post\"") && saved.contains("type_vocab_size: 2"), saved);
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            // in local mode the workers read the Hugging Face start themselves: no broadcast
            assertEquals(0, JSON.readTree(line).get("sync_bytes_driver").asLong(), line);
        }
        JsonNode ours = evaluate(run, "ours.json");
        assertEquals(40, ours.get("sequences").asInt());
        Path exported = tmp.resolve("exported");
        assertEquals(Cli.OK, Cli.run("export", "--model", run.toString(), "--format", "huggingface", "--output", exported.toString()));
        JsonNode config = JSON.readTree(exported.resolve("config.json").toFile());
        assertEquals("BertForSequenceClassification", config.get("architectures").get(0).asText());
        assertEquals(List.of("0", "1"), List.of(config.get("id2label").get("0").asText(), config.get("id2label").get("1").asText()));
        JsonNode back = evaluate(exported, "back.json");
        assertEquals(ours.get("loss").asDouble(), back.get("loss").asDouble(), 0.0, "the same weights, the same loss");
        assertEquals(ours.get("confusion"), back.get("confusion"));
    }

    @Test
    void aKeyThatContradictsTheCheckpointNamesBothValues() {
        Path run = tmp.resolve("refused");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Cli.run("train", "--config", config.toString(), "--init-from", checkpoint.toString(), "--output", run.toString(),
                    "--no-progress", "--set", "model.d_model=128");
        } finally {
            System.setErr(old);
        }
        String message = err.toString(StandardCharsets.UTF_8);
        assertEquals(Cli.BAD_INPUT, code, message);
        assertTrue(message.contains("model.d_model") && message.contains("128") && message.contains("384"), message);
        assertFalse(Files.exists(run), "no run directory");
    }

    private static JsonNode evaluate(Path model, String name) throws Exception {
        Path out = tmp.resolve(name);
        assertEquals(Cli.OK, Cli.run("evaluate", "--model", model.toString(), "--data", dev.toString(), "--header",
                "--output", out.toString()));
        return JSON.readTree(out.toFile());
    }
}
