package io.sparkformer.driver.training;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.apache.hadoop.conf.Configuration;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.model.optim.LearningRateSchedule;
import io.sparkformer.worker.training.RoundReport;

/**
 * metrics.jsonl: one JSON object per round. Kept in memory and rewritten whole (atomically) at
 * each flush, because object stores cannot append.
 */
final class Metrics {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final String path;
    private final Configuration conf;
    private final List<ObjectNode> rows = new ArrayList<>();

    Metrics(String path, Configuration conf) throws IOException {
        this.path = path;
        this.conf = conf;
        if (HadoopFiles.exists(path, conf)) {
            for (String line : new String(HadoopFiles.read(path, conf), StandardCharsets.UTF_8).split("\n")) {
                if (!line.isBlank()) {
                    JsonNode n = JSON.readTree(line);
                    rows.add((ObjectNode) n);
                }
            }
        }
    }

    /** Drops rows after the given round (a resume replays them). */
    void truncate(long round) {
        rows.removeIf(r -> r.get("round").asLong() > round);
    }

    /** The row of the round {@code tally} has just counted, with its validation loss or null. */
    ObjectNode row(Trainer.Tally tally, RoundReport round, Double valLoss, LearningRateSchedule schedule) {
        ObjectNode row = JSON.createObjectNode();
        row.put("round", tally.rounds);
        row.put("step", tally.step);
        row.put("tokens", tally.tokens);
        row.put("train_loss", tally.lastTrain);
        if (valLoss != null) {
            row.put("val_loss", valLoss);
        } else {
            row.putNull("val_loss");
        }
        row.put("lr", schedule.at(tally.step - 1));
        row.put("tokens_per_s", round.tokens() / tally.roundWall);
        row.put("compute_s", round.computeSeconds());
        row.put("sync_s", tally.roundSync);
        row.put("validation_s", tally.roundValidation);
        row.put("checkpoint_s", tally.roundCheckpoint);
        row.put("sync_bytes_per_worker", round.syncBytes());
        row.put("sync_bytes_driver", round.driverBytes());
        return row;
    }

    void add(ObjectNode row) {
        rows.add(row);
    }

    List<ObjectNode> rows() {
        return rows;
    }

    void flush() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (ObjectNode r : rows) {
            sb.append(JSON.writeValueAsString(r)).append('\n');
        }
        HadoopFiles.writeAtomically(path, sb.toString().getBytes(StandardCharsets.UTF_8), conf);
    }
}
