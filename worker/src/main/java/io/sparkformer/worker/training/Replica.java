package io.sparkformer.worker.training;

/** A replica's whole state as it travels between machines: its parameters and its optimizer's. */
public record Replica(float[] params, OptimizerState optimizer) implements java.io.Serializable {}
