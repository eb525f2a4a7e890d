package io.sparkformer.driver.training;

import java.io.IOException;

import io.sparkformer.worker.training.RoundReport;

/**
 * How a round's W replicas are trained and averaged: the round loop sees only this. The Spark
 * ones ({@link SparkSync#factory}) average through the driver or among the workers, with the same
 * bits; a test hands in its own and runs the loop without Spark.
 */
public interface ParameterSync extends AutoCloseable {
    /**
     * Runs {@code steps} local steps on every worker from step {@code firstStep} (batch k is step
     * k's) and averages. {@code checkpoint}: the directory of the checkpoint written after this
     * round, or null. The workers' files of a checkpoint are durable once the next round has
     * returned, or {@link #awaitCheckpointFiles} after the run's last round.
     */
    RoundReport round(long round, long firstStep, int steps, String checkpoint);

    /**
     * Waits until the files the workers write of the last round's checkpoint are durable: they are
     * written while the round loop validates, and the next round would wait for them. Nothing to
     * wait for when the driver writes a checkpoint's files.
     */
    default void awaitCheckpointFiles() throws IOException {}

    /** The averaged parameters after the last round (or the starting ones). */
    float[] params();

    /** {@link #params} into {@code out} (between its position and limit; not moved), without a copy on the heap where the sync can. */
    default void paramsInto(java.nio.FloatBuffer out) {
        out.duplicate().put(params());
    }

    /** Whether the workers write a checkpoint's model file in its round (else the driver writes it from {@link #paramsInto}). */
    default boolean workersWriteModel() {
        return false;
    }

    /** The mean validation loss per counted token of the averaged parameters over {@code batches} fixed batches, or null with no validation set. */
    Double validate(int batches);

    /** Writes the moment sets into checkpoint {@code dir} after a round that was told of it, unless the workers wrote their own. */
    void writeMoments(String dir) throws IOException;

    /** Frees what the sync holds outside the driver. */
    @Override
    void close();

    /**
     * Where a run's replicas start: the recipe of their weights, the weights themselves where the
     * driver had to read them (null: each worker follows the recipe), and the checkpoint whose
     * optimizer files hold the moments to resume with (null: a fresh optimizer) with their step.
     */
    record Start(StartWeights weights, float[] params, String momentsFrom, long optimizerStep) implements java.io.Serializable {
        /** The starting parameters in this JVM: those read already, else made from the recipe. */
        float[] paramsOnDriver(io.sparkformer.model.TransformerConfig model, org.apache.hadoop.conf.Configuration conf)
                throws IOException {
            return params != null ? params : weights.read(model, conf);
        }

        Start withParams(float[] read) {
            return new Start(weights, read, momentsFrom, optimizerStep);
        }
    }

    /** Opens the sync of a run. */
    interface Factory {
        ParameterSync open(TrainingPlan plan, Start start) throws IOException;
    }
}
