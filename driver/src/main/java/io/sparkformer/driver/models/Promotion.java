package io.sparkformer.driver.models;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.training.RunDirectory;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.io.Checkpoint;
import io.sparkformer.model.io.SafeTensors;

/**
 * A models directory with a {@code current} pointer, moved only to a model that scores better on
 * the same validation set. The pointer is a small JSON file (checkpoint, run, validation loss,
 * validation set) written atomically; every decision is written, with its reason, to the
 * candidate run's {@code promotion.json} and appended to the models directory's history.
 */
public final class Promotion {
    public static final String CURRENT = "current";
    public static final String DECISION_FILE = "promotion.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    public enum Outcome { PROMOTED, KEPT, ALREADY_CURRENT }

    public record Decision(Outcome outcome, String reason, String checkpoint, Double candidateLoss, Double currentLoss) {}

    /** What {@code current} points at, or null when nothing has been promoted yet. */
    public record Current(String checkpoint, String run, double valLoss, String validationSet, String promotedAt) {}

    private final Configuration conf;

    public Promotion(Configuration conf) {
        this.conf = conf;
    }

    public Current current(String modelsDir) throws IOException {
        String path = modelsDir + "/" + CURRENT;
        if (!HadoopFiles.exists(path, conf)) {
            return null;
        }
        JsonNode n;
        try {
            n = JSON.readTree(HadoopFiles.read(path, conf));
        } catch (IOException e) {
            throw new ConfigException(path, "not a readable pointer (" + e.getMessage() + ")");
        }
        if (n == null || !n.hasNonNull("checkpoint") || !n.hasNonNull("val_loss")) {
            throw new ConfigException(path, "not a model pointer: needs \"checkpoint\" and \"val_loss\"");
        }
        return new Current(n.get("checkpoint").asText(), n.path("run").asText(null), finiteLoss(n, "val_loss", path),
                n.path("validation_set").asText(null), n.path("promoted_at").asText(null));
    }

    /** A loss field that must be a finite number: text, NaN or infinity would compare wrongly (text reads as 0). */
    private static double finiteLoss(JsonNode n, String field, String file) {
        JsonNode v = n.get(field);
        if (!v.isNumber() || !Double.isFinite(v.doubleValue())) {
            throw new ConfigException(file, "\"" + field + "\" must be a finite number, got " + v);
        }
        return v.doubleValue();
    }

    /**
     * Considers the finished run {@code runDir} for {@code modelsDir}: promotes its final checkpoint
     * when nothing is current or its final validation loss is lower than the current model's.
     */
    public Decision promote(String runDir, String modelsDir) throws IOException {
        RunDirectory run = new RunDirectory(runDir, conf);
        if (!run.finished()) {
            throw new ConfigException("--run", runDir + " has not finished (no _SUCCESS): only a completed run can be promoted");
        }
        JsonNode summary = run.summary();
        if (!summary.hasNonNull("final_val_loss")) {
            throw new ConfigException("--run", run.file(RunDirectory.SUMMARY) + " has no final_val_loss: the run had no validation set");
        }
        double loss = finiteLoss(summary, "final_val_loss", run.file(RunDirectory.SUMMARY));
        String validationSet = summary.path("validation_set").asText(null);
        String checkpoint = run.latest();
        if (checkpoint == null) {
            throw new ConfigException("--run", runDir + " has no complete checkpoint");
        }
        verifyLoads(checkpoint);

        Current current = current(modelsDir);
        Decision d = decide(runDir, modelsDir, current, checkpoint, loss, validationSet);
        String now = Instant.now().toString();
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("decision", d.outcome().name().toLowerCase());
        record.put("reason", d.reason());
        record.put("candidate", Map.of("run", runDir, "checkpoint", checkpoint, "val_loss", loss));
        if (current != null) {
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("run", current.run());
            c.put("checkpoint", current.checkpoint());
            c.put("val_loss", current.valLoss());
            record.put("current", c);
        }
        record.put("validation_set", validationSet);
        record.put("models", modelsDir);
        record.put("at", now);
        byte[] json = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(record);
        HadoopFiles.writeAtomically(runDir + "/" + DECISION_FILE, json, conf);
        if (d.outcome() == Outcome.PROMOTED) {
            Map<String, Object> pointer = new LinkedHashMap<>();
            pointer.put("checkpoint", checkpoint);
            pointer.put("run", runDir);
            pointer.put("val_loss", loss);
            pointer.put("validation_set", validationSet);
            pointer.put("promoted_at", now);
            // the pointer moves in one rename: readers see the old model or the new one
            HadoopFiles.writeAtomically(modelsDir + "/" + CURRENT, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(pointer), conf);
        }
        appendHistory(modelsDir, JSON.writeValueAsString(record));
        return d;
    }

    /** Promote, keep, or nothing to do; runs scored on different validation sets do not compare. */
    private static Decision decide(String runDir, String modelsDir, Current current, String checkpoint, double loss,
                                   String validationSet) {
        if (current == null) {
            return new Decision(Outcome.PROMOTED, "no model was current in " + modelsDir, checkpoint, loss, null);
        }
        if (current.checkpoint().equals(checkpoint)) {
            return new Decision(Outcome.ALREADY_CURRENT, "this checkpoint is already current (promoted " + current.promotedAt() + ")",
                    checkpoint, loss, current.valLoss());
        }
        if (validationSet == null || !validationSet.equals(current.validationSet())) {
            throw new ConfigException("--run", "the validation losses do not compare: " + runDir + " was scored on validation set "
                    + validationSet + ", the current model (" + current.checkpoint() + ") on " + current.validationSet()
                    + "; give both runs the same data.validation files and eval settings");
        }
        if (loss < current.valLoss()) {
            return new Decision(Outcome.PROMOTED, String.format("validation loss %.6f is lower than the current model's %.6f",
                    loss, current.valLoss()), checkpoint, loss, current.valLoss());
        }
        return new Decision(Outcome.KEPT, String.format("validation loss %.6f is not lower than the current model's %.6f",
                loss, current.valLoss()), checkpoint, loss, current.valLoss());
    }

    /** A corrupt or truncated checkpoint is refused before it can become current. */
    private void verifyLoads(String checkpoint) throws IOException {
        try (SafeTensors.Reader r = SafeTensors.open(HadoopFiles.source(checkpoint + "/" + Checkpoint.MODEL_FILE, conf))) {
            Checkpoint.readModel(r, org.nd4j.linalg.api.buffer.DataType.FLOAT);
        }
    }

    private void appendHistory(String modelsDir, String line) throws IOException {
        String path = modelsDir + "/promotions.jsonl";
        byte[] old = HadoopFiles.exists(path, conf) ? HadoopFiles.read(path, conf) : new byte[0];
        byte[] add = (line + "\n").getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[old.length + add.length];
        System.arraycopy(old, 0, all, 0, old.length);
        System.arraycopy(add, 0, all, old.length, add.length);
        HadoopFiles.writeAtomically(path, all, conf);
    }
}
