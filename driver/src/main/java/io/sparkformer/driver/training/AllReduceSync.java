package io.sparkformer.driver.training;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;

import io.sparkformer.driver.cluster.OutOfMemory;
import io.sparkformer.worker.training.LocalTrainer;
import io.sparkformer.worker.training.RoundReport;

import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * train.sync allreduce: the workers average among themselves, in a barrier stage per round
 * ({@link BlockAllReduce}), and the driver carries counts. The replica's parameters and moments
 * live in its trainer's native buffers from round to round; they go into and come out of the
 * blocks straight from there, with no Java array of the vector on the executor. Round r's tasks
 * read round r−1's averaged slices from the BlockManager (the first round: each worker makes its
 * start itself from the seed and the checkpoint, {@link StartWeights}, and reads its moments from
 * the checkpoint it resumes; a Hugging Face start, or one on the driver's own disk on a cluster,
 * is read on the driver and broadcast), so a rerun round
 * reads exactly what the first attempt read; the driver drops a round's blocks once the next
 * round has finished.
 *
 * <p>Per-worker moments stay in the replica and never travel: at a checkpoint round each worker
 * writes its own optimizer file into the checkpoint. Worker w's task is asked to run where worker
 * w ran last (its executor as preferred location); if Spark places it elsewhere, it reads its
 * moments from the checkpoint just written, and after any other round the round fails with a
 * {@link LostWorkerStateException} and the trainer resumes from the last checkpoint, which gives
 * the same bits.
 */
final class AllReduceSync extends SparkSync {
    private static final ClassTag<RoundReport> REPORT = ClassTag$.MODULE$.apply(RoundReport.class);

    /** Block names become file names when spilled: letters and digits only. */
    private final String run = java.util.UUID.randomUUID().toString().replace("-", "");
    /** The first round's inputs, until that round has finished; then null: the driver holds no vector. */
    private Start start;
    private long last = -1;
    /** The checkpoint written after round {@link #last}, or null when that round wrote none. */
    private String lastCheckpoint;
    /** Where each worker's task ran last ("executor_host_id"), or null before the first round. */
    private String[] placement;

    AllReduceSync(JavaSparkContext sc, WorkerState.Spec spec, Start start) throws IOException {
        super(sc, spec, Math.toIntExact(io.sparkformer.model.ParameterLayout.of(spec.model()).size()), start.optimizerStep());
        org.apache.hadoop.conf.Configuration conf = spec.conf().get();
        boolean workersRead = start.params() == null && start.weights().readByWorkers(sc.isLocal(), conf);
        this.start = workersRead || start.params() != null ? start : start.withParams(start.weights().read(spec.model(), conf));
    }

    @Override
    public RoundReport round(long round, long firstStep, int steps, String checkpoint) {
        Broadcast<Start> input = start == null ? null : sc.broadcast(start);
        StorageLevel kept = sc.isLocal() ? BlockAllReduce.KEPT_LOCAL : BlockAllReduce.KEPT;
        Task task = new Task(spec, run, round, last, lastCheckpoint, input, optimizerStep, firstStep, steps, checkpoint, kept);
        List<RoundReport> reports = new JavaRDD<>(workerTasks().barrier().mapPartitions(new TaskBody(task), false, REPORT),
                REPORT).collect();
        if (input != null) {
            input.destroy();
        }
        // a start the driver read is broadcast (4 bytes a float, to every worker); then nothing
        boolean broadcastParams = input != null && start.params() != null;
        RoundReport report = RoundReport.merge(reports, broadcastParams ? 4L * length * workers : 0);
        if (!report.diverged()) {
            optimizerStep = report.optimizerStep();
            start = null;
            if (last >= 0) {
                BlockAllReduce.remove(run, last, moments.averaged(), workers);
            }
            last = round;
            lastCheckpoint = checkpoint;
            placement = reports.stream().map(RoundReport::executor).toArray(String[]::new);
        }
        return report;
    }

    /** One worker's task of a round: load the averaged vectors, train, then average with the peers. */
    private record Task(WorkerState.Spec spec, String run, long round, long prev, String movedFrom, Broadcast<Start> input,
                        long optimizerStep, long firstStep, int steps, String checkpoint, StorageLevel kept)
            implements java.io.Serializable {

        RoundReport run(int w) throws Exception {
            return OutOfMemory.guard("worker " + w + "'s round", () -> {
                WorkerState state = WorkerState.get(spec, w);
                long resident = state.residentRound;
                state.residentRound = -1; // the replica changes from here on
                long fetched = load(w, state, resident);
                LocalTrainer trainer = state.trainer;
                trainer.restoreStep(optimizerStep);
                RoundReport r = trainer.continueRound(state.train, firstStep, steps);
                String executor = executorLocation();
                int workers = spec.config().train().workers();
                if (BlockAllReduce.anyDiverged(run, round, w, workers, r.diverged())) {
                    return r.exchanged(0, executor);
                }
                long reduced = exchange(w, state);
                state.residentRound = round;
                return r.exchanged(2 * (fetched + reduced), executor); // what it fetched, and as much served
            });
        }

        /** Puts the round's starting vectors into the replica; returns the bytes fetched from peers. */
        private long load(int w, WorkerState state, long resident) throws IOException {
            LocalTrainer trainer = state.trainer;
            MomentsPolicy moments = spec.config().train().optimizerState();
            int workers = spec.config().train().workers();
            FloatBuffer p = trainer.parameterView();
            if (input != null) {
                Start in = input.value();
                if (in.params() != null) {
                    p.duplicate().put(in.params());
                } else {
                    in.weights().into(trainer.model(), spec.conf().get());
                }
                if (in.momentsFrom() == null) {
                    trainer.resetOptimizer();
                } else {
                    readMoments(in.momentsFrom(), w, trainer);
                }
                return 0;
            }
            BlockAllReduce.gather(run, prev, "p", p, workers);
            long length = p.remaining();
            if (moments == MomentsPolicy.AVERAGE) {
                FloatBuffer[] mv = trainer.momentViews();
                BlockAllReduce.gather(run, prev, "m", mv[0], workers);
                BlockAllReduce.gather(run, prev, "v", mv[1], workers);
                return 3 * BlockAllReduce.peerShare(length, workers);
            }
            if (resident != prev) { // this executor does not hold worker w's moments
                if (movedFrom == null) {
                    throw new LostWorkerStateException("worker " + w + "'s moments of round " + (prev + 1)
                            + " stayed with an executor this task did not run on");
                }
                readMoments(movedFrom, w, trainer);
            }
            return BlockAllReduce.peerShare(length, workers);
        }

        /** Averages the replica's vectors with the peers'; per-worker moments go into the checkpoint instead. */
        private long exchange(int w, WorkerState state) throws IOException {
            LocalTrainer trainer = state.trainer;
            MomentsPolicy moments = spec.config().train().optimizerState();
            int workers = spec.config().train().workers();
            FloatBuffer p = trainer.parameterView();
            FloatBuffer[] mv = trainer.momentViews();
            List<FloatBuffer> vectors = moments == MomentsPolicy.LOCAL ? List.of(p) : List.of(p, mv[0], mv[1]);
            state.blockBuffers.startRound(round);
            long reduced = BlockAllReduce.reduceScatter(run, round, moments.averaged(), vectors, w, workers, kept,
                    state.blockBuffers);
            if (moments == MomentsPolicy.LOCAL && checkpoint != null) {
                // straight from the replica's buffers into the checkpoint: the driver never holds them
                RunDirectory.writeOptimizer(checkpoint, moments.file(w, workers), trainer.optimizer(), spec.conf().get());
            }
            return reduced;
        }

        private void readMoments(String checkpointDir, int w, LocalTrainer trainer) throws IOException {
            int workers = spec.config().train().workers();
            RunDirectory.readOptimizer(checkpointDir, spec.config().train().optimizerState().file(w, workers),
                    trainer.optimizer(), spec.conf().get());
        }

        /** This executor as Spark names a preferred location that is one executor (ExecutorCacheTaskLocation). */
        private static String executorLocation() {
            var env = org.apache.spark.SparkEnv.get();
            return "executor_" + env.blockManager().blockManagerId().host() + "_" + env.executorId();
        }
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

    @Override
    public float[] params() {
        if (last >= 0) {
            return BlockAllReduce.gather(run, last, "p", length, workers);
        }
        try {
            return start.paramsOnDriver(spec.model(), spec.conf().get());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Override
    JavaRDD<Integer> workerPartitions() {
        return workerTasks().toJavaRDD(); // where the replicas are
    }

    @Override
    Averaged averagedForTasks() {
        // straight from the blocks into each replica: the next round would fetch the same vector
        return last < 0 ? super.averagedForTasks() : new InBlocks(run, last, workers);
    }

    /** The all-reduce's averaged slices of a round, fetched from the BlockManager. */
    private record InBlocks(String run, long round, int workers) implements Averaged {
        @Override
        public void into(FloatBuffer target) {
            BlockAllReduce.gather(run, round, "p", target, workers);
        }
    }

    @Override
    public void writeMoments(String dir) throws IOException {
        if (moments == MomentsPolicy.LOCAL) {
            return; // each worker wrote its own in the round
        }
        writeMoments(dir, 0, BlockAllReduce.gather(run, last, "m", length, workers),
                BlockAllReduce.gather(run, last, "v", length, workers));
    }

    @Override
    public void close() {
        if (last >= 0) {
            BlockAllReduce.remove(run, last, moments.averaged(), workers);
        }
    }

    /** The barrier stage's task body: serialisable, in Java, one worker per partition. */
    private static final class TaskBody extends scala.runtime.AbstractFunction1<scala.collection.Iterator<Integer>,
            scala.collection.Iterator<RoundReport>> implements java.io.Serializable {
        private final Task task;

        TaskBody(Task task) {
            this.task = task;
        }

        @Override
        public scala.collection.Iterator<RoundReport> apply(scala.collection.Iterator<Integer> it) {
            try {
                return scala.jdk.javaapi.CollectionConverters.asScala(List.of(task.run(it.next())).iterator());
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
