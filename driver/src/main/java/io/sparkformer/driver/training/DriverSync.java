package io.sparkformer.driver.training;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;

import io.sparkformer.driver.cluster.OutOfMemory;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.worker.training.OptimizerState;
import io.sparkformer.worker.training.Replica;
import io.sparkformer.worker.training.RoundReport;

/**
 * train.sync driver: every round the driver broadcasts the parameters and the moment sets,
 * collects what the tasks return and averages it (W times the vectors through the driver).
 */
final class DriverSync extends SparkSync {
    private float[] params;
    /** One set, or one per worker (MomentsPolicy.LOCAL). */
    private final OptimizerState[] optimizers;

    /** A round's inputs, broadcast once to every task. */
    private record RoundInput(float[] params, OptimizerState[] optimizers) implements java.io.Serializable {}

    /** What a task returns: its replica after the round, and the round's report. */
    private record Trained(Replica replica, RoundReport report) implements java.io.Serializable {}

    private DriverSync(JavaSparkContext sc, WorkerState.Spec spec, float[] params, OptimizerState[] optimizers, long step) {
        super(sc, spec, params.length, step);
        this.params = params;
        this.optimizers = optimizers;
    }

    /** The driver ships every moment set, zeros included; a resumed run's come from its checkpoint. */
    static DriverSync open(JavaSparkContext sc, WorkerState.Spec spec, Start start) throws IOException {
        int workers = spec.config().train().workers();
        MomentsPolicy moments = spec.config().train().optimizerState();
        float[] params = start.paramsOnDriver(spec.model(), spec.conf().get()); // this sync ships them every round anyway
        OptimizerState[] sets = new OptimizerState[moments.sets(workers)];
        for (int k = 0; k < sets.length; k++) {
            if (start.momentsFrom() == null) {
                sets[k] = new OptimizerState(new float[params.length], new float[params.length],
                        start.optimizerStep());
            } else {
                AdamW opt = optimizer(spec);
                RunDirectory.readOptimizer(start.momentsFrom(), moments.file(k, workers), opt, spec.conf().get());
                sets[k] = new OptimizerState(opt.firstMoment().flat().toFloatVector(), opt.secondMoment().flat().toFloatVector(),
                        start.optimizerStep());
            }
        }
        return new DriverSync(sc, spec, params, sets, start.optimizerStep());
    }

    @Override
    public RoundReport round(long round, long firstStep, int steps, String checkpoint) {
        Broadcast<RoundInput> input = sc.broadcast(new RoundInput(params, optimizers));
        WorkerState.Spec spec = this.spec;
        MomentsPolicy moments = this.moments;
        List<Trained> results = sc.parallelize(range(workers), workers).map(w ->
                OutOfMemory.guard("worker " + w + "'s round", () -> {
                    RoundInput in = input.value();
                    WorkerState state = WorkerState.get(spec, w);
                    Replica start = new Replica(in.params(), in.optimizers()[moments.setOf(w)]);
                    RoundReport r = state.trainer.round(start, state.train, firstStep, steps);
                    return new Trained(r.diverged() ? null : state.trainer.replica(), r);
                })).collect();
        input.destroy();
        // in: the parameters and every moment set broadcast; out: parameters and moments collected
        long bytes = 4L * length * (1 + 2L * optimizers.length + 3);
        List<RoundReport> reports = new ArrayList<>();
        for (Trained t : results) {
            reports.add(t.report().exchanged(bytes, null));
        }
        RoundReport report = RoundReport.merge(reports, bytes * workers);
        if (report.diverged()) {
            return report;
        }
        optimizerStep = report.optimizerStep();
        params = average(results, t -> t.replica().params());
        if (moments == MomentsPolicy.LOCAL) {
            for (int w = 0; w < workers; w++) {
                optimizers[w] = results.get(w).replica().optimizer();
            }
        } else {
            optimizers[0] = new OptimizerState(average(results, t -> t.replica().optimizer().firstMoment()),
                    average(results, t -> t.replica().optimizer().secondMoment()), optimizerStep);
        }
        return report;
    }

    @Override
    public float[] params() { return params; }

    @Override
    public void writeMoments(String dir) throws IOException {
        for (int k = 0; k < optimizers.length; k++) {
            writeMoments(dir, k, optimizers[k].firstMoment(), optimizers[k].secondMoment());
        }
    }

    /** Summed in partition order, in double: deterministic, and what the all-reduce reproduces. */
    private static float[] average(List<Trained> results, Function<Trained, float[]> f) {
        float[] first = f.apply(results.get(0));
        if (results.size() == 1) {
            return first;
        }
        double[] sum = new double[first.length];
        for (Trained r : results) {
            float[] a = f.apply(r);
            for (int i = 0; i < a.length; i++) {
                sum[i] += a[i];
            }
        }
        float[] out = new float[sum.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (sum[i] / results.size());
        }
        return out;
    }
}
