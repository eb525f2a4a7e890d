package io.sparkformer.driver.training;

import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.CorpusBuilder;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.worker.training.LocalTrainer;

/**
 * What a run trains, fixed at its start: the job, the model it resolved to, the optimiser's
 * settings and the shards. {@code runId} names this attempt (replicas are kept by it).
 */
public record TrainingPlan(String runId, JobConfig config, TransformerConfig model, LocalTrainer.Settings settings,
                           CorpusBuilder.Corpus corpus) {
    public int workers() {
        return config.train().workers();
    }

    public MomentsPolicy moments() {
        return config.train().optimizerState();
    }
}
