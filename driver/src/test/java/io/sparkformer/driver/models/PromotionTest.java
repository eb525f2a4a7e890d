package io.sparkformer.driver.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.Cli;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.io.Checkpoint;
import io.sparkformer.model.io.SafeTensorsException;
import io.sparkformer.model.optim.AdamW;

/** The current pointer moves to better models only, and says why every time. */
class PromotionTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /** A finished run directory as the trainer leaves it, with the given final validation loss. */
    private String run(String name, double valLoss, String validationSet) throws IOException {
        Path dir = tmp.resolve(name);
        Transformer model = new Transformer(TransformerConfig.decoder(11, 8, 2, 1, 8), DataType.FLOAT);
        model.initialize(name.hashCode());
        Checkpoint.save(dir.resolve("checkpoints/round-000004"), model,
                new AdamW(model.layout(), DataType.FLOAT, new AdamW.Settings(0.9, 0.99, 1e-8, 0.1)));
        Files.writeString(dir.resolve("checkpoints/round-000004/state.json"), "{\"round\": 4}"); // complete once this is there
        Files.writeString(dir.resolve("latest"), "checkpoints/round-000004");
        Files.writeString(dir.resolve("summary.json"), "{\"final_val_loss\": " + valLoss + ", \"validation_set\": \""
                + validationSet + "\"}");
        Files.writeString(dir.resolve("_SUCCESS"), "");
        return dir.toString();
    }

    private String current() throws IOException {
        return JSON.readTree(tmp.resolve("models/current").toFile()).get("checkpoint").asText();
    }

    @Test
    void promotesFirstAndBetterModelsKeepsWorseOnesAndIsIdempotent() throws Exception {
        Promotion promotion = new Promotion(new Configuration());
        String models = tmp.resolve("models").toString();
        assertNull(promotion.current(models));

        String first = run("day1", 2.0, "v1");
        assertEquals(Promotion.Outcome.PROMOTED, promotion.promote(first, models).outcome());
        assertEquals(first + "/checkpoints/round-000004", current());

        // the same run again: nothing moves
        assertEquals(Promotion.Outcome.ALREADY_CURRENT, promotion.promote(first, models).outcome());

        String worse = run("day2", 2.5, "v1");
        Promotion.Decision kept = promotion.promote(worse, models);
        assertEquals(Promotion.Outcome.KEPT, kept.outcome());
        assertTrue(kept.reason().contains("2.500000 is not lower than the current model's 2.000000"), kept.reason());
        assertEquals(first + "/checkpoints/round-000004", current());
        var why = JSON.readTree(Path.of(worse, Promotion.DECISION_FILE).toFile());
        assertEquals("kept", why.get("decision").asText());
        assertEquals(2.0, why.get("current").get("val_loss").asDouble());

        String better = run("day3", 1.5, "v1");
        assertEquals(Promotion.Outcome.PROMOTED, promotion.promote(better, models).outcome());
        assertEquals(better + "/checkpoints/round-000004", current());
        assertEquals(1.5, promotion.current(models).valLoss());
        assertEquals(4, Files.readAllLines(tmp.resolve("models/promotions.jsonl")).size(), "one line per decision");
    }

    @Test
    void refusesIncomparableUnfinishedAndCorruptRuns() throws Exception {
        Promotion promotion = new Promotion(new Configuration());
        String models = tmp.resolve("models").toString();
        promotion.promote(run("base", 2.0, "v1"), models);
        String before = Files.readString(tmp.resolve("models/current"));

        ConfigException other = assertThrows(ConfigException.class, () -> promotion.promote(run("other", 1.0, "v2"), models));
        assertTrue(other.getMessage().contains("do not compare"), other.getMessage());

        String unfinished = run("unfinished", 1.0, "v1");
        Files.delete(Path.of(unfinished, "_SUCCESS"));
        assertThrows(ConfigException.class, () -> promotion.promote(unfinished, models));

        String corrupt = run("corrupt", 1.0, "v1");
        Path model = Path.of(corrupt, "checkpoints/round-000004", Checkpoint.MODEL_FILE);
        byte[] bytes = Files.readAllBytes(model);
        Files.write(model, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> promotion.promote(corrupt, models));
        assertTrue(e.getMessage().contains(model.toString()), e.getMessage());

        // a loss that is not a finite number compares as nothing: text used to read as 0.0 and win
        String nan = run("nan", 1.0, "v1");
        Files.writeString(Path.of(nan, "summary.json"), "{\"final_val_loss\": \"NaN\", \"validation_set\": \"v1\"}");
        ConfigException notFinite = assertThrows(ConfigException.class, () -> promotion.promote(nan, models));
        assertTrue(notFinite.getMessage().contains("summary.json") && notFinite.getMessage().contains("final_val_loss"),
                notFinite.getMessage());

        assertEquals(before, Files.readString(tmp.resolve("models/current")), "a refused candidate leaves current alone");

        // a pointer whose val_loss is text: refused by name, not read as 0.0 (which no run could beat)
        Files.writeString(tmp.resolve("models/current"), before.replaceFirst("\"val_loss\" : [0-9.]+", "\"val_loss\" : \"low\""));
        ConfigException text = assertThrows(ConfigException.class, () -> promotion.promote(run("after", 1.0, "v1"), models));
        assertTrue(text.getMessage().contains("models/current") && text.getMessage().contains("val_loss"), text.getMessage());
    }

    @Test
    void promoteCommandExitCodes() throws Exception {
        String models = tmp.resolve("models").toString();
        assertEquals(Cli.OK, Cli.run("promote", "--run", run("a", 2.0, "v1"), "--models", models));
        assertEquals(Cli.BAD_INPUT, Cli.run("promote", "--run", tmp.resolve("missing").toString(), "--models", models));
        assertTrue(new String(Files.readAllBytes(tmp.resolve("a/promotion.json")), StandardCharsets.UTF_8).contains("\"promoted\""));
    }
}
