package io.sparkformer.worker.training;

import java.util.List;

/**
 * What a round did: one worker's (from its trainer, then with what its exchange moved), or every
 * worker's at once (merged on the driver). {@code computeSeconds}: the slowest worker's local
 * steps; {@code syncBytes}: what a worker received and sent to synchronise (the most of any);
 * {@code driverBytes}: what went through the driver.
 */
public record RoundReport(double meanLoss, long tokens, double computeSeconds, long optimizerStep, Divergence divergence,
                          long syncBytes, long driverBytes, String executor) implements java.io.Serializable {

    /** The first non-finite loss, gradient norm or weight of a round: whose, what and at which step. */
    public record Divergence(int worker, double loss, long step) implements java.io.Serializable {}

    /** A worker's round as its trainer saw it; the worker's index is set when the reports are merged. */
    static RoundReport trained(double meanLoss, long tokens, double computeSeconds, long optimizerStep) {
        return new RoundReport(meanLoss, tokens, computeSeconds, optimizerStep, null, 0, 0, null);
    }

    static RoundReport diverged(double loss, long step, long tokens, double computeSeconds, long optimizerStep) {
        return new RoundReport(loss, tokens, computeSeconds, optimizerStep, new Divergence(-1, loss, step), 0, 0, null);
    }

    public boolean diverged() { return divergence != null; }

    /** This worker's report with what its exchange moved and where it ran. */
    public RoundReport exchanged(long bytes, String executorName) {
        return new RoundReport(meanLoss, tokens, computeSeconds, optimizerStep, divergence, bytes, driverBytes, executorName);
    }

    /**
     * The round of every worker, in worker order: the first divergence if any worker diverged,
     * else the mean loss, the tokens summed, the slowest worker's compute and the most bytes.
     */
    public static RoundReport merge(List<RoundReport> workers, long driverBytes) {
        for (int w = 0; w < workers.size(); w++) {
            RoundReport r = workers.get(w);
            if (r.diverged()) {
                return new RoundReport(Double.NaN, 0, 0, r.optimizerStep(),
                        new Divergence(w, r.divergence().loss(), r.divergence().step()), 0, 0, null);
            }
        }
        return new RoundReport(workers.stream().mapToDouble(RoundReport::meanLoss).average().orElse(Double.NaN),
                workers.stream().mapToLong(RoundReport::tokens).sum(),
                workers.stream().mapToDouble(RoundReport::computeSeconds).max().orElse(0), workers.get(0).optimizerStep(),
                null, workers.stream().mapToLong(RoundReport::syncBytes).max().orElse(0), driverBytes, null);
    }
}
