package io.sparkformer.driver.training;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;

import io.sparkformer.driver.cluster.OutOfMemory;
import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.model.io.Checkpoint;
import io.sparkformer.model.io.SafeTensors;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.worker.training.LocalTrainer;

import scala.reflect.ClassTag$;

/**
 * How a round's W replicas are trained and averaged; the trainer's round loop sees only this.
 * {@link Driver}: the driver broadcasts the vectors and averages what the tasks return (W times
 * the parameters through the driver each round). {@link AllReduce}: the workers average among
 * themselves through the BlockManager ({@link BlockAllReduce}) and the driver carries counts;
 * it fetches the parameters only to validate or checkpoint. Both give the same bits.
 */
abstract class ParameterSync {
    /** What a round reports to the driver. */
    record RoundStats(double meanLoss, long tokens, double computeSeconds, long optimizerStep, int divergedWorker,
                      double divergedLoss, long divergedStep, long bytesPerWorker, long driverBytes) {}

    /** What one task of a round reports; bytes: what it received and sent to synchronise. */
    record Outcome(double meanLoss, long tokens, double computeSeconds, long optimizerStep, boolean diverged,
                   long divergedStep, long bytes, String executor) implements java.io.Serializable {}

    /** The driver sync's inputs, every round. */
    record RoundInput(float[] params, float[][] firstMoments, float[][] secondMoments, long optimizerStep)
            implements java.io.Serializable {}

    /**
     * The all-reduce's first round: the parameters, and the checkpoint whose optimizer files
     * each worker reads its moments from (null: a fresh optimizer).
     */
    record Start(float[] params, String momentsFrom, long optimizerStep) implements java.io.Serializable {}

    final JavaSparkContext sc;
    final WorkerState.Spec spec;
    final int workers;
    final boolean localMoments;
    final long length;
    long optimizerStep;

    ParameterSync(JavaSparkContext sc, WorkerState.Spec spec, int workers, boolean localMoments, long length, long optimizerStep) {
        this.sc = sc;
        this.spec = spec;
        this.workers = workers;
        this.localMoments = localMoments;
        this.length = length;
        this.optimizerStep = optimizerStep;
    }

    /**
     * {@code checkpoint}: the checkpoint whose optimizer files hold the moments to resume with
     * (their step is {@code optimizerStep}), or null for a fresh optimizer. The all-reduce
     * never loads them on the driver: each worker reads its own file.
     */
    static ParameterSync of(String kind, JavaSparkContext sc, WorkerState.Spec spec, int workers, boolean localMoments,
                            float[] params, String checkpoint, long optimizerStep) throws java.io.IOException {
        if (kind.equals("allreduce")) {
            return new AllReduce(sc, spec, workers, localMoments, params, checkpoint, optimizerStep);
        }
        int sets = localMoments ? workers : 1;
        float[][] m = new float[sets][];
        float[][] v = new float[sets][];
        for (int k = 0; k < sets; k++) {
            if (checkpoint == null) { // the driver ships every moment set, zeros included
                m[k] = new float[params.length];
                v[k] = new float[params.length];
            } else {
                AdamW opt = optimizer(spec);
                readOptimizer(checkpoint, k, sets, opt, spec.conf().get());
                m[k] = opt.firstMoment().flat().toFloatVector();
                v[k] = opt.secondMoment().flat().toFloatVector();
            }
        }
        return new Driver(sc, spec, workers, localMoments, params, m, v, optimizerStep);
    }

    static AdamW optimizer(WorkerState.Spec spec) {
        return new AdamW(io.sparkformer.model.ParameterLayout.of(spec.model()), org.nd4j.linalg.api.buffer.DataType.FLOAT,
                spec.settings().adamw());
    }

    /** Reads moment set {@code k} of {@code sets} from checkpoint {@code dir} into {@code opt}. */
    static void readOptimizer(String dir, int k, int sets, AdamW opt, org.apache.hadoop.conf.Configuration conf)
            throws java.io.IOException {
        try (SafeTensors.Reader r = SafeTensors.open(HadoopFiles.source(dir + "/" + optimizerFile(k, sets), conf))) {
            Checkpoint.readOptimizer(r, opt);
        }
    }

    /** Writes {@code opt}'s state as moment set {@code k} of {@code sets} of checkpoint {@code dir}. */
    static void writeOptimizer(String dir, int k, int sets, AdamW opt, org.apache.hadoop.conf.Configuration conf)
            throws java.io.IOException {
        HadoopFiles.writeAtomically(dir + "/" + optimizerFile(k, sets), out -> SafeTensors.write(out,
                Checkpoint.optimizerTensors(opt), Checkpoint.optimizerMetadata(opt)), conf);
    }

    /** Moment set k's file: one set (averaged, or a single worker's own) is optimizer.safetensors. */
    static String optimizerFile(int k, int sets) {
        return sets == 1 ? Checkpoint.OPTIMIZER_FILE : "optimizer-w" + k + ".safetensors";
    }

    /**
     * Runs {@code steps} local steps on every worker from batch {@code firstBatch} and averages;
     * {@code checkpoint}: the directory of the checkpoint written after this round, or null.
     */
    abstract RoundStats round(long round, long firstBatch, int steps, long step, String checkpoint);

    /** The averaged parameters after the last round (or the starting ones). */
    abstract float[] params();

    /** Where a task reads the averaged parameters of {@link #params} from, until the next round. */
    interface Averaged extends java.io.Serializable {
        void into(java.nio.FloatBuffer params);
    }

    /** One partition per worker, for jobs on the workers' replicas between rounds (validation). */
    org.apache.spark.api.java.JavaRDD<Integer> workerPartitions() {
        return sc.parallelize(range(workers), workers);
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

    /** The all-reduce's averaged slices of a round, fetched from the BlockManager. */
    private record InBlocks(String run, long round, int workers) implements Averaged {
        @Override
        public void into(java.nio.FloatBuffer target) {
            BlockAllReduce.gather(run, round, "p", target, workers);
        }
    }

    /** Sets of moments kept: one when averaged, W when each worker keeps its own. */
    int momentSets() {
        return localMoments ? workers : 1;
    }

    /**
     * Writes the moment sets into checkpoint {@code dir} after a round that was told of it, as
     * {@link #optimizerFile} names them, unless the workers have written their own.
     */
    abstract void writeMoments(String dir) throws java.io.IOException;

    /** Writes one moment set, from the driver's arrays. */
    void writeMoments(String dir, int k, float[] m, float[] v) throws java.io.IOException {
        AdamW opt = optimizer(spec);
        opt.restore(optimizerStep, m, v);
        writeOptimizer(dir, k, momentSets(), opt, spec.conf().get());
    }

    /** Frees what the sync holds outside the driver. */
    void close() {}

    RoundStats stats(List<Outcome> outs, long driverBytes) {
        for (int w = 0; w < outs.size(); w++) {
            Outcome o = outs.get(w);
            if (o.diverged()) {
                return new RoundStats(Double.NaN, 0, 0, optimizerStep, w, o.meanLoss(), o.divergedStep(), 0, 0);
            }
        }
        optimizerStep = outs.get(0).optimizerStep();
        return new RoundStats(outs.stream().mapToDouble(Outcome::meanLoss).average().orElse(Double.NaN),
                outs.stream().mapToLong(Outcome::tokens).sum(),
                outs.stream().mapToDouble(Outcome::computeSeconds).max().orElse(0), optimizerStep, -1, Double.NaN, -1,
                outs.stream().mapToLong(Outcome::bytes).max().orElse(0), driverBytes);
    }

    static List<Integer> range(int n) {
        List<Integer> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            l.add(i);
        }
        return l;
    }

    /** Averaging on the driver: every round's vectors go out by broadcast and come back collected. */
    static final class Driver extends ParameterSync {
        private float[] params;
        private final float[][] m;
        private final float[][] v;

        Driver(JavaSparkContext sc, WorkerState.Spec spec, int workers, boolean localMoments, float[] params,
               float[][] m, float[][] v, long optimizerStep) {
            super(sc, spec, workers, localMoments, params.length, optimizerStep);
            this.params = params;
            this.m = m;
            this.v = v;
        }

        @Override
        RoundStats round(long round, long firstBatch, int steps, long step, String checkpoint) {
            Broadcast<RoundInput> input = sc.broadcast(new RoundInput(params, m, v, optimizerStep));
            WorkerState.Spec spec = this.spec;
            List<LocalTrainer.RoundResult> results = sc.parallelize(range(workers), workers).map(w ->
                    OutOfMemory.guard("worker " + w + "'s round", () -> {
                        RoundInput in = input.value();
                        int k = in.firstMoments().length == 1 ? 0 : w;
                        WorkerState state = WorkerState.get(spec, w);
                        return state.trainer.round(in.params(), in.firstMoments()[k], in.secondMoments()[k],
                                in.optimizerStep(), state.train, firstBatch, steps, step);
                    })).collect();
            input.destroy();
            List<Outcome> outs = new ArrayList<>();
            // in: the parameters and every moment set broadcast; out: parameters and moments collected
            long bytes = 4L * length * (1 + 2L * m.length + 3);
            for (LocalTrainer.RoundResult r : results) {
                outs.add(new Outcome(r.meanLoss(), r.tokens(), r.computeSeconds(), r.optimizerStep(), r.diverged(),
                        r.divergedStep(), bytes, null));
            }
            RoundStats stats = stats(outs, bytes * workers);
            if (stats.divergedWorker() >= 0) {
                return stats;
            }
            params = average(results, LocalTrainer.RoundResult::params);
            if (localMoments) {
                for (int w = 0; w < workers; w++) {
                    m[w] = results.get(w).firstMoment();
                    v[w] = results.get(w).secondMoment();
                }
            } else {
                m[0] = average(results, LocalTrainer.RoundResult::firstMoment);
                v[0] = average(results, LocalTrainer.RoundResult::secondMoment);
            }
            return stats;
        }

        @Override
        float[] params() { return params; }

        @Override
        void writeMoments(String dir) throws java.io.IOException {
            for (int k = 0; k < m.length; k++) {
                writeMoments(dir, k, m[k], v[k]);
            }
        }

        /** Summed in partition order, in double: deterministic, and what the all-reduce reproduces. */
        private static float[] average(List<LocalTrainer.RoundResult> results,
                                       java.util.function.Function<LocalTrainer.RoundResult, float[]> f) {
            float[] first = f.apply(results.get(0));
            if (results.size() == 1) {
                return first;
            }
            double[] sum = new double[first.length];
            for (LocalTrainer.RoundResult r : results) {
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

    /**
     * Averaging among the workers, in a barrier stage per round. The replica's parameters and
     * moments live in its trainer's native buffers from round to round; they go into and come
     * out of the blocks straight from there, with no Java array of the vector on the executor.
     * Round r's tasks read round r−1's averaged slices from the BlockManager (the first round: a
     * broadcast of the parameters, each worker reading its moments from the checkpoint it
     * resumes), so a rerun round reads exactly what the first attempt read; the driver drops a
     * round's blocks once the next round has finished.
     *
     * <p>Per-worker moments stay in the replica and never travel: at a checkpoint round each
     * worker writes its own optimizer file into the checkpoint. Worker w's task is asked to run
     * where worker w ran last (its executor as preferred location); if Spark places it
     * elsewhere, it reads its moments from the checkpoint just written, and after any other
     * round the round fails with {@link BlockVectors#LOST} and the trainer resumes from the last
     * checkpoint, which gives the same bits.
     */
    static final class AllReduce extends ParameterSync {
        private final String run;
        private Start start;
        private long last = -1;
        /** The checkpoint written after round {@link #last}, or null when that round wrote none. */
        private String lastCheckpoint;
        /** Where each worker's task ran last ("executor_host_id"), or null before the first round. */
        private String[] placement;

        AllReduce(JavaSparkContext sc, WorkerState.Spec spec, int workers, boolean localMoments, float[] params,
                  String checkpoint, long optimizerStep) {
            super(sc, spec, workers, localMoments, params.length, optimizerStep);
            this.start = new Start(params, checkpoint, optimizerStep);
            // block names become file names when spilled: letters and digits only
            this.run = java.util.UUID.randomUUID().toString().replace("-", "");
        }

        private List<String> averagedNames() {
            return localMoments ? List.of("p") : List.of("p", "m", "v");
        }

        @Override
        RoundStats round(long round, long firstBatch, int steps, long step, String checkpoint) {
            Broadcast<Start> input = start == null ? null : sc.broadcast(start);
            WorkerState.Spec spec = this.spec;
            String run = this.run;
            long prev = last;
            String movedFrom = lastCheckpoint;
            long length = this.length;
            int workers = this.workers;
            boolean local = localMoments;
            int sets = momentSets();
            long optStep = optimizerStep;
            org.apache.spark.storage.StorageLevel kept = sc.isLocal() ? BlockAllReduce.KEPT_LOCAL : BlockAllReduce.KEPT;
            List<String> averaged = averagedNames();
            scala.Function1<scala.collection.Iterator<Integer>, scala.collection.Iterator<Outcome>> task = new TaskBody(
                    it -> {
                        int w = it.next();
                        return OutOfMemory.guard("worker " + w + "'s round", () -> {
                            WorkerState state = WorkerState.get(spec, w);
                            long resident = state.residentRound;
                            state.residentRound = -1; // the replica changes from here on
                            LocalTrainer trainer = state.trainer;
                            java.nio.FloatBuffer p = trainer.parameterView();
                            java.nio.FloatBuffer[] mv = trainer.momentViews();
                            long bytes = 0;
                            if (input != null) {
                                Start in = input.value();
                                p.duplicate().put(in.params());
                                if (in.momentsFrom() == null) {
                                    trainer.resetOptimizer();
                                } else {
                                    readOptimizer(in.momentsFrom(), w, sets, trainer.optimizer(), spec.conf().get());
                                }
                            } else {
                                BlockAllReduce.gather(run, prev, "p", p, workers);
                                bytes += BlockAllReduce.peerShare(length, workers);
                                if (local && resident != prev) {
                                    // this executor does not hold worker w's moments
                                    if (movedFrom == null) {
                                        throw new IllegalStateException(BlockVectors.LOST + "worker " + w + "'s moments of round "
                                                + (prev + 1) + " stayed with an executor this task did not run on");
                                    }
                                    readOptimizer(movedFrom, w, sets, trainer.optimizer(), spec.conf().get());
                                } else if (!local) {
                                    BlockAllReduce.gather(run, prev, "m", mv[0], workers);
                                    BlockAllReduce.gather(run, prev, "v", mv[1], workers);
                                    bytes += 2 * BlockAllReduce.peerShare(length, workers);
                                }
                            }
                            trainer.restoreStep(optStep);
                            LocalTrainer.RoundResult r = trainer.continueRound(state.train, firstBatch, steps, step);
                            String executor = executorLocation();
                            if (BlockAllReduce.anyDiverged(run, round, w, workers, r.diverged())) {
                                return new Outcome(r.meanLoss(), r.tokens(), r.computeSeconds(), r.optimizerStep(),
                                        r.diverged(), r.divergedStep(), 0, executor);
                            }
                            List<java.nio.FloatBuffer> vectors = local ? List.of(p) : List.of(p, mv[0], mv[1]);
                            state.blockBuffers.startRound(round);
                            long reduced = BlockAllReduce.reduceScatter(run, round, averaged, vectors, w, workers, kept,
                                    state.blockBuffers);
                            if (local && checkpoint != null) {
                                // straight from the replica's buffers into the checkpoint: the driver never holds them
                                writeOptimizer(checkpoint, w, sets, trainer.optimizer(), spec.conf().get());
                            }
                            state.residentRound = round;
                            return new Outcome(r.meanLoss(), r.tokens(), r.computeSeconds(), r.optimizerStep(),
                                    false, -1, 2 * (bytes + reduced), executor); // what it fetched, and as much served
                        });
                    });
            scala.reflect.ClassTag<Outcome> tag = ClassTag$.MODULE$.apply(Outcome.class);
            List<Outcome> outs = new org.apache.spark.api.java.JavaRDD<>(workerTasks().barrier().mapPartitions(task, false, tag),
                    tag).collect();
            if (input != null) {
                input.destroy();
            }
            // the first round's parameters are broadcast (4 bytes a float, to every worker); then nothing
            RoundStats stats = stats(outs, input == null ? 0 : 4L * length * workers);
            if (stats.divergedWorker() < 0) {
                start = null; // the driver holds no vector from here on
                if (prev >= 0) {
                    BlockAllReduce.remove(run, prev, averaged, workers);
                }
                last = round;
                lastCheckpoint = checkpoint;
                placement = outs.stream().map(Outcome::executor).toArray(String[]::new);
            }
            return stats;
        }

        /** One partition per worker, each preferring the executor its worker ran on last. */
        private org.apache.spark.rdd.RDD<Integer> workerTasks() {
            if (placement == null || sc.isLocal()) {
                return sc.parallelize(range(workers), workers).rdd();
            }
            List<scala.Tuple2<Integer, scala.collection.immutable.Seq<String>>> placed = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                placed.add(new scala.Tuple2<>(w, scala.jdk.javaapi.CollectionConverters.asScala(List.of(placement[w])).toList()));
            }
            return sc.sc().makeRDD(scala.jdk.javaapi.CollectionConverters.asScala(placed).toList(),
                    ClassTag$.MODULE$.apply(Integer.class));
        }

        /** This executor as Spark names a preferred location that is one executor (ExecutorCacheTaskLocation). */
        private static String executorLocation() {
            var env = org.apache.spark.SparkEnv.get();
            return "executor_" + env.blockManager().blockManagerId().host() + "_" + env.executorId();
        }

        @Override
        float[] params() {
            return last < 0 ? start.params() : BlockAllReduce.gather(run, last, "p", length, workers);
        }

        @Override
        org.apache.spark.api.java.JavaRDD<Integer> workerPartitions() {
            return workerTasks().toJavaRDD(); // where the replicas are
        }

        @Override
        Averaged averagedForTasks() {
            // straight from the blocks into each replica: the next round would fetch the same vector
            return last < 0 ? super.averagedForTasks() : new InBlocks(run, last, workers);
        }

        @Override
        void writeMoments(String dir) throws java.io.IOException {
            if (localMoments) {
                return; // each worker wrote its own in the round
            }
            writeMoments(dir, 0, BlockAllReduce.gather(run, last, "m", length, workers),
                    BlockAllReduce.gather(run, last, "v", length, workers));
        }

        @Override
        void close() {
            if (last >= 0) {
                BlockAllReduce.remove(run, last, averagedNames(), workers);
            }
        }
    }

    /** A task body for the barrier stage, serialisable, in Java. */
    interface Body extends java.io.Serializable {
        Outcome run(java.util.Iterator<Integer> workers) throws Exception;
    }

    static final class TaskBody extends scala.runtime.AbstractFunction1<scala.collection.Iterator<Integer>,
            scala.collection.Iterator<Outcome>> implements java.io.Serializable {
        private final Body body;

        TaskBody(Body body) {
            this.body = body;
        }

        @Override
        public scala.collection.Iterator<Outcome> apply(scala.collection.Iterator<Integer> it) {
            try {
                return scala.jdk.javaapi.CollectionConverters.asScala(List.of(body.run(
                        scala.jdk.javaapi.CollectionConverters.asJava(it))).iterator());
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
