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

/**
 * metrics.jsonl: one JSON object per round. Kept in memory and rewritten whole (atomically) at
 * each flush, because object stores cannot append.
 */
final class Metrics {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final String path;
    private final Configuration conf;
    private final List<ObjectNode> rows = new ArrayList<>();

    Metrics(String runDir, Configuration conf) throws IOException {
        this.path = runDir + "/metrics.jsonl";
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
