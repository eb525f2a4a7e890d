package io.sparkformer.driver.training;

import java.io.IOException;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Where a checkpoint stands: rounds and steps done (the data cursor: batch k of every worker is
 * a function of the seed and k alone), tokens seen and the best validation loss so far.
 */
public record RunState(long round, long step, long tokens, double bestValLoss, long seed) {
    private static final ObjectMapper JSON = new ObjectMapper();

    byte[] toJson() throws IOException {
        var n = JSON.createObjectNode();
        n.put("round", round);
        n.put("step", step);
        n.put("tokens", tokens);
        if (Double.isFinite(bestValLoss)) {
            n.put("best_val_loss", bestValLoss);
        } else {
            n.putNull("best_val_loss");
        }
        n.put("seed", seed);
        n.put("data_cursor", step);
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(n);
    }

    /** Reads a state.json ({@code source} names it in errors). */
    static RunState fromJson(byte[] json, String source) throws IOException {
        try {
            var n = JSON.readTree(json);
            double best = n.get("best_val_loss").isNull() ? Double.POSITIVE_INFINITY : n.get("best_val_loss").asDouble();
            return new RunState(n.get("round").asLong(), n.get("step").asLong(), n.get("tokens").asLong(), best,
                    n.get("seed").asLong());
        } catch (RuntimeException e) {
            throw new IOException(source + ": not a readable run state: " + e.getMessage(), e);
        }
    }
}
