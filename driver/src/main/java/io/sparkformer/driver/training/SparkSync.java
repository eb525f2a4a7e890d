package io.sparkformer.driver.training;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.sparkformer.driver.cluster.ExecutorSettings;
import io.sparkformer.driver.cluster.OutOfMemory;
import io.sparkformer.driver.config.JobConfig.SyncMode;
import io.sparkformer.driver.corpus.SerializableConf;
import io.sparkformer.model.ParameterLayout;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.worker.batches.PairBatches;

/**
 * What the two Spark syncs share: one task per worker, each on the replica its executor keeps
 * ({@link WorkerState}), the moments policy, and validation on the replicas.
 */
abstract class SparkSync implements ParameterSync {
    private static final Logger LOG = LoggerFactory.getLogger(SparkSync.class);

    final JavaSparkContext sc;
    final WorkerState.Spec spec;
    final int workers;
    final MomentsPolicy moments;
    final long length;
    /** AdamW's step after the last round. */
    long optimizerStep;

    SparkSync(JavaSparkContext sc, WorkerState.Spec spec, long length, long optimizerStep) {
        this.sc = sc;
        this.spec = spec;
        this.workers = spec.config().train().workers();
        this.moments = spec.config().train().optimizerState();
        this.length = length;
        this.optimizerStep = optimizerStep;
    }

    /** train.sync's syncs on {@code sc}, each worker's task computing with {@code taskThreads} native threads. */
    static ParameterSync.Factory factory(JavaSparkContext sc, int taskThreads) {
        return (plan, start) -> {
            WorkerState.Spec spec = new WorkerState.Spec(plan.runId(), plan.config(), plan.model(), plan.settings(),
                    plan.corpus().directory(), plan.corpus().manifest(), plan.corpus().tokenizer().specials(), new SerializableConf(sc.hadoopConfiguration()), taskThreads);
            List<ExecutorSettings.Report> reports = ExecutorSettings.gather(sc, plan.workers(), taskThreads);
            for (int w = 0; w < reports.size(); w++) {
                LOG.info("worker {} runs on {}", w, reports.get(w));
            }
            return plan.config().train().sync() == SyncMode.ALLREDUCE ? new AllReduceSync(sc, spec, start)
                    : DriverSync.open(sc, spec, start);
        };
    }

    /** A fresh AdamW over the plan's model, on the driver. */
    static AdamW optimizer(WorkerState.Spec spec) {
        return new AdamW(ParameterLayout.of(spec.model()), org.nd4j.linalg.api.buffer.DataType.FLOAT, spec.settings().adamw());
    }

    /** One partition per worker, for jobs on the workers' replicas between rounds. */
    JavaRDD<Integer> workerPartitions() {
        return sc.parallelize(range(workers), workers);
    }

    /** Where a task reads the averaged parameters of {@link #params} from, until the next round. */
    interface Averaged extends java.io.Serializable {
        void into(java.nio.FloatBuffer params);

        /** Whether {@code state}'s replica holds these parameters already (and a write may be reading them). */
        default boolean heldBy(WorkerState state) {
            return false;
        }
    }

    /** The averaged parameters for tasks to load; {@link #release} it once their job is done. */
    Averaged averagedForTasks() {
        Broadcast<float[]> p = sc.broadcast(params());
        return new Broadcasted(p);
    }

    void release(Averaged averaged) {
        if (averaged instanceof Broadcasted b) {
            b.params().destroy();
        }
    }

    private record Broadcasted(Broadcast<float[]> params) implements Averaged {
        @Override
        public void into(java.nio.FloatBuffer target) {
            target.duplicate().put(params.value());
        }
    }

    /**
     * Each replica loads the averaged parameters and scores its share of the fixed validation
     * batches (worker w: batches w, w + W, ...); the sums are added in worker order.
     */
    @Override
    public Double validate(int batches) {
        Averaged p = averagedForTasks();
        WorkerState.Spec spec = this.spec;
        int workers = this.workers;
        List<double[]> parts = workerPartitions().map(w -> OutOfMemory.guard("worker " + w + "'s validation", () -> {
            WorkerState s = WorkerState.get(spec, w);
            if (s.validation == null) {
                return new double[] {0, 0};
            }
            int n = s.validation instanceof PairBatches pairs ? Math.min(batches, pairs.batchesPerEpoch()) : batches;
            if (!p.heldBy(s)) {
                s.awaitBytesOut(WorkerState.Reads.PARAMETERS);
                s.averagedRound = -1;
                p.into(s.trainer.parameterView());
            }
            return s.trainer.evaluate(s.validation, w, n, workers);
        })).collect();
        release(p);
        double sum = 0;
        double count = 0;
        for (double[] part : parts) {
            sum += part[0];
            count += part[1];
        }
        return count == 0 ? null : sum / count;
    }

    /** Writes one moment set, from the driver's arrays, as moment set {@code k} of checkpoint {@code dir}. */
    void writeMoments(String dir, int k, float[] m, float[] v) throws IOException {
        AdamW opt = optimizer(spec);
        opt.restore(optimizerStep, m, v);
        RunDirectory.writeOptimizer(dir, moments.file(k, workers), opt, spec.conf().get());
    }

    @Override
    public void close() {}

    static List<Integer> range(int n) {
        List<Integer> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            l.add(i);
        }
        return l;
    }
}
