package io.sparkformer.driver.training;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;

import io.sparkformer.driver.cluster.ExecutorSettings;
import io.sparkformer.driver.cluster.OutOfMemory;
import io.sparkformer.model.optim.Averaging;
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
 * the checkpoint it resumes; on a cluster, a Hugging Face start or one on the driver's own disk
 * is read on the driver and broadcast), so a rerun round
 * reads exactly what the first attempt read; the driver drops a round's blocks once the next
 * round has finished. Where Spark tries a task once (local mode), no rerun can read them, and the
 * next round's workers drop them once all have loaded them: their memory takes that round's
 * averaged slices.
 *
 * <p>Per-worker moments stay in the replica and never travel: at a checkpoint round each worker
 * writes its own optimizer file into the checkpoint, and worker 0 the model file, from the
 * replica's buffers on threads of their own, started once the worker's part of the exchange is
 * done, while the next round's first step runs (its first update waits for the bytes to be out;
 * that round returns once they are durable, and only then does the driver complete the
 * checkpoint). After the run's last round they are written while the driver validates, and
 * {@link #awaitCheckpointFiles} waits for them on the executors that write them. Worker w's task
 * is asked to run where worker w ran last (its executor as preferred location); if Spark places
 * it elsewhere, it reads its moments from the checkpoint just written, and after any other round
 * the round fails with a {@link LostWorkerStateException} and the trainer resumes from the last
 * checkpoint, which gives the same bits.
 */
final class AllReduceSync extends SparkSync {
    private static final ClassTag<RoundReport> REPORT = ClassTag$.MODULE$.apply(RoundReport.class);

    /** The worker whose replica the model file of a checkpoint is written from. */
    static final int MODEL_WRITER = 0;

    /** Block names become file names when spilled: letters and digits only. */
    private final String run = java.util.UUID.randomUUID().toString().replace("-", "");
    /** The first round's inputs, until that round has finished; then null: the driver holds no vector. */
    private Start start;
    private long last = -1;
    /** The checkpoint written after round {@link #last}, or null when that round wrote none. */
    private String lastCheckpoint;
    /** Where each worker's task ran last ("executor_host_id"), or null before the first round. */
    private String[] placement;
    /**
     * Whether Spark reruns a failed round's barrier stage (a task may be tried more than once):
     * the rerun reads the round before's averaged slices, so they are kept until the round ends.
     * Local mode tries a task once: there a round drops them once every worker has loaded them.
     */
    private final boolean reruns;
    /** The worker spec, sent to each executor once rather than inside every round's tasks. */
    private final Broadcast<WorkerState.Spec> specBroadcast;

    AllReduceSync(JavaSparkContext sc, WorkerState.Spec spec, Start start) throws IOException {
        super(sc, spec, Math.toIntExact(io.sparkformer.model.ParameterLayout.of(spec.model()).size()), start.optimizerStep());
        this.specBroadcast = sc.broadcast(spec);
        this.reruns = ExecutorSettings.taskAttempts(sc.getConf()) > 1;
        org.apache.hadoop.conf.Configuration conf = spec.conf().get();
        boolean workersRead = start.params() == null && start.weights().readByWorkers(sc.isLocal(), conf);
        this.start = workersRead || start.params() != null ? start : start.withParams(start.weights().read(spec.model(), conf));
    }

    @Override
    public RoundReport round(long round, long firstStep, int steps, String checkpoint) {
        Broadcast<Start> input = start == null ? null : sc.broadcast(start);
        StorageLevel kept = sc.isLocal() || moments == MomentsPolicy.LOCAL ? BlockAllReduce.KEPT_ONCE : BlockAllReduce.KEPT_TWICE;
        // with no rerun of a failed stage, a round's tasks drop the round before's averaged slices once all have loaded them
        long dropRound = reruns ? -1 : last;
        Task task = new Task(specBroadcast, run, round, last, lastCheckpoint, input, optimizerStep, firstStep, steps, checkpoint,
                kept, dropRound);
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
                BlockAllReduce.remove(run, last, moments.averaged(), length, workers);
            }
            last = round;
            lastCheckpoint = checkpoint;
            placement = reports.stream().map(RoundReport::executor).toArray(String[]::new);
        }
        return report;
    }

    private static final java.util.concurrent.atomic.AtomicBoolean AVERAGING_LOADING = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Loads the averaging loop on a thread of its own, once per JVM, while the round trains: its
     * class initialiser warms the vector loop until the JIT compiles it (about half a second), and
     * the first exchange waits for that only if it is not done yet.
     */
    private static void loadAveragingInBackground() {
        if (AVERAGING_LOADING.compareAndSet(false, true)) {
            Thread t = new Thread(Averaging::vectorized, "sparkformer-averaging-warm-up");
            t.setDaemon(true);
            t.start();
        }
    }

    /** One worker's task of a round: load the averaged vectors, train, then average with the peers. */
    private record Task(Broadcast<WorkerState.Spec> specs, String run, long round, long prev, String movedFrom, Broadcast<Start> input,
                        long optimizerStep, long firstStep, int steps, String checkpoint, StorageLevel kept,
                        long dropRound) implements java.io.Serializable {

        /** The run's worker spec, broadcast once: in every task it was most of a round's 44 KB task binary. */
        private WorkerState.Spec spec() {
            return specs.value();
        }

        RoundReport run(int w) throws Exception {
            return OutOfMemory.guard("worker " + w + "'s round", () -> {
                WorkerState state = WorkerState.get(spec(), w);
                loadAveragingInBackground();
                long resident = state.residentRound;
                state.residentRound = -1; // the replica changes from here on
                long fetched = load(w, state, resident);
                LocalTrainer trainer = state.trainer;
                trainer.restoreStep(optimizerStep);
                // the last checkpoint's files may still be being written from the replica's buffers
                RoundReport r = trainer.continueRound(state.train, firstStep, steps, () -> state.awaitBytesOut(null));
                String executor = executorLocation();
                int workers = spec().config().train().workers();
                if (BlockAllReduce.anyDiverged(run, round, w, workers, r.diverged())) {
                    state.awaitWritesBefore(round);
                    return r.exchanged(0, executor);
                }
                long reduced = exchange(w, state);
                state.residentRound = round;
                // the last checkpoint's files are durable when this round returns (the driver then
                // completes it); this round's own are written while the driver validates
                state.awaitWritesBefore(round);
                return r.exchanged(2 * (fetched + reduced), executor); // what it fetched, and as much served
            });
        }

        /** Puts the round's starting vectors into the replica; returns the bytes fetched from peers. */
        private long load(int w, WorkerState state, long resident) throws IOException {
            LocalTrainer trainer = state.trainer;
            MomentsPolicy moments = spec().config().train().optimizerState();
            int workers = spec().config().train().workers();
            FloatBuffer p = trainer.parameterView();
            boolean held = state.averagedRound == prev && input == null;
            state.averagedRound = -1; // the replica changes from here on
            if (input != null) {
                state.awaitWrites(); // an earlier attempt's writes, before the replica is replaced
                Start in = input.value();
                if (in.params() != null) {
                    p.duplicate().put(in.params());
                } else {
                    in.weights().into(trainer.model(), spec().conf().get());
                }
                if (in.momentsFrom() == null) {
                    trainer.resetOptimizer();
                } else {
                    readMoments(in.momentsFrom(), w, trainer);
                }
                return 0;
            }
            long length = p.remaining();
            long fetched = 0;
            // this replica ran round prev's exchange, which left its own slices averaged: the peers' are fetched
            int own = resident == prev ? w : -1;
            if (!held) { // else the checkpoint round gathered them, and the model file is being written from them
                state.awaitBytesOut(WorkerState.Reads.PARAMETERS);
                BlockAllReduce.gather(run, prev, "p", p, workers, BlockAllReduce.holdsOwnAverage(p) ? own : -1);
                fetched = BlockAllReduce.peerShare(length, workers);
            }
            if (moments == MomentsPolicy.AVERAGE) {
                state.awaitBytesOut(null);
                FloatBuffer[] mv = trainer.momentViews();
                BlockAllReduce.gather(run, prev, "m", mv[0], workers, BlockAllReduce.holdsOwnAverage(mv[0]) ? own : -1);
                BlockAllReduce.gather(run, prev, "v", mv[1], workers, BlockAllReduce.holdsOwnAverage(mv[1]) ? own : -1);
                return fetched + 2 * BlockAllReduce.peerShare(length, workers);
            }
            if (resident != prev) { // this executor does not hold worker w's moments
                if (movedFrom == null) {
                    throw new LostWorkerStateException("worker " + w + "'s moments of round " + (prev + 1)
                            + " stayed with an executor this task did not run on");
                }
                state.awaitWrites();
                String file = movedFrom + "/" + moments.file(w, workers);
                if (!io.sparkformer.driver.corpus.HadoopFiles.exists(file, spec().conf().get())) {
                    // written in the background by the executor that ran worker w: lost with it, or not done yet
                    throw new LostWorkerStateException("worker " + w + "'s moments of round " + (prev + 1)
                            + " are neither on this executor nor in " + file + " yet");
                }
                readMoments(movedFrom, w, trainer);
            }
            return fetched;
        }

        /**
         * Averages the replica's vectors with the peers'; per-worker moments go into the checkpoint
         * instead. At a checkpoint round the checkpoint's files are written from the replica's
         * buffers (the driver never holds them) on threads of their own: each worker's optimizer
         * file, and worker 0's model file from the averaged parameters it gathers. They start
         * once this worker's part of the exchange is done: started before it, their copies took
         * the cores the exchange needed (a 0.3 s exchange took 1.0 s on 2 cores). The next
         * update waits for them.
         */
        private long exchange(int w, WorkerState state) throws IOException {
            LocalTrainer trainer = state.trainer;
            MomentsPolicy moments = spec().config().train().optimizerState();
            int workers = spec().config().train().workers();
            FloatBuffer p = trainer.parameterView();
            FloatBuffer[] mv = trainer.momentViews();
            List<FloatBuffer> vectors = moments == MomentsPolicy.LOCAL ? List.of(p) : List.of(p, mv[0], mv[1]);
            var conf = spec().conf();
            long reduced = BlockAllReduce.reduceScatter(run, round, org.apache.spark.TaskContext.get().stageAttemptNumber(),
                    moments.averaged(), vectors, w, workers, kept, dropRound);
            if (checkpoint != null && w == MODEL_WRITER) {
                // the round's averaged parameters, as the next round would load them (its own slice is averaged already)
                BlockAllReduce.gather(run, round, "p", p, workers, BlockAllReduce.holdsOwnAverage(p) ? w : -1);
                reduced += BlockAllReduce.peerShare(p.remaining(), workers);
                state.averagedRound = round;
                var tensors = io.sparkformer.model.io.Checkpoint.weightTensors(trainer.model().parameters());
                var metadata = io.sparkformer.model.io.Checkpoint.modelMetadata(spec().model(), spec().manifest().labels());
                state.startWrite(io.sparkformer.model.io.Checkpoint.MODEL_FILE, round, WorkerState.Reads.PARAMETERS,
                        bytesOut -> RunDirectory.writeModelFile(checkpoint, tensors, metadata, conf.get(), bytesOut));
            }
            if (moments == MomentsPolicy.LOCAL && checkpoint != null) {
                var tensors = io.sparkformer.model.io.Checkpoint.optimizerTensors(trainer.optimizer());
                var metadata = io.sparkformer.model.io.Checkpoint.optimizerMetadata(trainer.optimizer());
                String file = moments.file(w, workers);
                state.startWrite(file, round, WorkerState.Reads.MOMENTS,
                        bytesOut -> RunDirectory.writeOptimizer(checkpoint, file, tensors, metadata, conf.get(), bytesOut));
            }
            return reduced;
        }

        private void readMoments(String checkpointDir, int w, LocalTrainer trainer) throws IOException {
            int workers = spec().config().train().workers();
            RunDirectory.readOptimizer(checkpointDir, spec().config().train().optimizerState().file(w, workers),
                    trainer.optimizer(), spec().conf().get());
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
    public void paramsInto(FloatBuffer out) {
        if (last >= 0) {
            BlockAllReduce.gather(run, last, "p", out, workers);
        } else {
            super.paramsInto(out);
        }
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

        @Override
        public boolean heldBy(WorkerState state) {
            return state.averagedRound == round;
        }
    }

    @Override
    public boolean workersWriteModel() {
        return true;
    }

    /**
     * A job on the executors that hold the replicas: each waits for its worker's files of the last
     * round's checkpoint. A task placed on an executor without the worker's state cannot know
     * whether the files were finished: that is a lost worker state, and the run resumes from the
     * checkpoint before.
     */
    @Override
    public void awaitCheckpointFiles() {
        if (lastCheckpoint == null) {
            return;
        }
        WorkerState.Spec spec = this.spec;
        long round = last;
        String dir = lastCheckpoint;
        workerTasks().toJavaRDD().foreach(w -> {
            WorkerState state = WorkerState.existing(spec, w);
            if (state == null || state.residentRound != round) {
                throw new LostWorkerStateException("worker " + w + "'s files of " + dir
                        + " were written by an executor this task did not run on");
            }
            state.awaitWrites();
        });
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
            BlockAllReduce.remove(run, last, moments.averaged(), length, workers);
        }
        specBroadcast.destroy();
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
