package io.sparkformer.driver.training;

import java.util.List;

import io.sparkformer.model.io.Checkpoint;

/**
 * train.optimizer_state: what becomes of AdamW's moments at the end of a round. {@link #LOCAL}:
 * each worker keeps its own (DiLoCo's way; only the parameters are averaged, and a checkpoint
 * holds W moment sets). {@link #AVERAGE}: they are averaged with the parameters, so every worker
 * starts each round from one optimizer state (one set).
 */
public enum MomentsPolicy {
    LOCAL, AVERAGE;

    /** How many moment sets a run of {@code workers} keeps. */
    public int sets(int workers) {
        return this == LOCAL ? workers : 1;
    }

    /** The moment set worker {@code w} trains with. */
    public int setOf(int worker) {
        return this == LOCAL ? worker : 0;
    }

    /** The vectors a round averages, by their block names: the parameters, and the moments unless they stay local. */
    public List<String> averaged() {
        return this == LOCAL ? List.of("p") : List.of("p", "m", "v");
    }

    /** Moment set {@code k}'s file in a checkpoint: one set (averaged, or a single worker's own) is optimizer.safetensors. */
    public String file(int k, int workers) {
        return sets(workers) == 1 ? Checkpoint.OPTIMIZER_FILE : "optimizer-w" + k + ".safetensors";
    }
}
