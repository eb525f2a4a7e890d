package io.sparkformer.driver.training;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.SerializableConf;
import io.sparkformer.driver.corpus.ShardReader;
import io.sparkformer.model.NativeThreads;
import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.text.SpecialTokens;
import io.sparkformer.worker.batches.BatchSource;
import io.sparkformer.worker.batches.CausalLmBatches;
import io.sparkformer.worker.batches.MaskedLmBatches;
import io.sparkformer.worker.batches.PairBatches;
import io.sparkformer.worker.batches.Task;
import io.sparkformer.worker.shards.Manifest;
import io.sparkformer.worker.shards.TokenStream;
import io.sparkformer.worker.training.LocalTrainer;

/**
 * What an executor keeps between rounds for one worker of one run: the model replica and its
 * buffers, and the worker's batches, built from its own shards on first use. Keyed by run id and
 * worker, so a round costs no rebuild and only parameters travel.
 */
final class WorkerState {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(WorkerState.class);
    private static final Map<String, WorkerState> CACHE = new ConcurrentHashMap<>();

    final LocalTrainer trainer;
    /** Where the trainer's parameters live; freed when this state is dropped. */
    private final ReplicaMemory parameterMemory;
    final BatchSource train;
    final BatchSource validation;
    /**
     * train.sync allreduce: the round whose end the replica's optimizer state is (its moments
     * stay in the trainer between rounds), or -1 while a round changes it or after a failure.
     */
    long residentRound = -1;
    /**
     * train.sync allreduce, worker 0: the round whose averaged parameters the replica holds whole
     * (gathered at a checkpoint round to write the model file), or -1. The next round and the
     * validation between skip their gather then: the file is being written from these floats.
     */
    long averagedRound = -1;
    /**
     * A checkpoint round's files, written from the replica's buffers once the worker's part of
     * the exchange is done, while the next round's first step runs; waited for before anything
     * changes what they read.
     */
    private final List<PendingWrite> pendingWrites = new java.util.ArrayList<>();

    /** What a pending write reads: the replica's moments, or its parameters. */
    enum Reads { MOMENTS, PARAMETERS }

    /**
     * A file being written from the replica's buffers: {@code bytesOut} completes once its bytes
     * are with the file system (the buffers may change from then on), {@code task} once the file
     * is durable and in place.
     */
    private record PendingWrite(String name, long round, Reads reads, java.util.concurrent.CompletableFuture<Void> bytesOut,
                                java.util.concurrent.FutureTask<Void> task) {}

    private WorkerState(LocalTrainer trainer, ReplicaMemory parameterMemory, BatchSource train, BatchSource validation) {
        this.trainer = trainer;
        this.parameterMemory = parameterMemory;
        this.train = train;
        this.validation = validation;
    }

    /** A file write that calls {@code bytesOut} once it no longer reads the buffers (before forcing the file to disk). */
    interface Write {
        void run(Runnable bytesOut) throws IOException;
    }

    /**
     * Starts {@code write} (of {@code name}, for {@code round}'s checkpoint) on a thread of its
     * own. What it {@code reads} must not change until {@link #awaitBytesOut} has returned.
     */
    synchronized void startWrite(String name, long round, Reads reads, Write write) {
        var bytesOut = new java.util.concurrent.CompletableFuture<Void>();
        long t0 = System.nanoTime();
        long[] out = {0};
        var task = new java.util.concurrent.FutureTask<Void>(() -> {
            try {
                write.run(() -> {
                    out[0] = System.nanoTime();
                    bytesOut.complete(null);
                });
            } finally {
                bytesOut.complete(null); // a failed write reads nothing more either; awaitWrites reports it
            }
            LOG.info("{} of round {}: its bytes out in {} s, durable in {} s", name, round + 1,
                    String.format(java.util.Locale.ROOT, "%.2f", (out[0] - t0) / 1e9),
                    String.format(java.util.Locale.ROOT, "%.2f", (System.nanoTime() - t0) / 1e9));
            return null;
        });
        Thread t = new Thread(task, "sparkformer-write-" + name);
        t.setDaemon(true);
        t.start();
        pendingWrites.add(new PendingWrite(name, round, reads, bytesOut, task));
    }

    /** Waits until no pending write reads the buffers of {@code reads} (null: any) any more. */
    synchronized void awaitBytesOut(Reads reads) {
        for (PendingWrite w : pendingWrites) {
            if (reads == null || w.reads() == reads) {
                try {
                    awaitUninterruptibly(w.bytesOut());
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IllegalStateException(e); // completed normally, always
                }
            }
        }
    }

    /** Waits until every write of a round before {@code round} is durable; the first failure is this call's, naming its file. */
    synchronized void awaitWritesBefore(long round) throws IOException {
        IOException failed = null;
        for (var it = pendingWrites.iterator(); it.hasNext(); ) {
            PendingWrite w = it.next();
            if (w.round() >= round) {
                continue;
            }
            it.remove();
            try {
                awaitUninterruptibly(w.task());
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable c = e.getCause();
                IOException io = c instanceof IOException x ? x : new IOException("writing " + w.name() + " failed: " + c, c);
                if (failed == null) {
                    failed = io;
                } else {
                    failed.addSuppressed(io);
                }
            }
        }
        if (failed != null) {
            throw failed;
        }
    }

    /** Waits until every pending write is durable. */
    synchronized void awaitWrites() throws IOException {
        awaitWritesBefore(Long.MAX_VALUE);
    }

    /** Waits for {@code task} to end, interrupt or not (a write of the buffers must end before they change). */
    static void awaitUninterruptibly(java.util.concurrent.Future<?> task) throws java.util.concurrent.ExecutionException {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    task.get();
                    return;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Everything a worker needs to build its state; small, sent with each round. */
    record Spec(String runId, JobConfig config, TransformerConfig model, LocalTrainer.Settings settings,
                String corpusDir, Manifest manifest, SpecialTokens specials, SerializableConf conf, int taskThreads)
            implements java.io.Serializable {}

    /** The worker's state, built on first use; every task of a run starts here. */
    static WorkerState get(Spec spec, int worker) throws IOException {
        NativeThreads.apply(spec.taskThreads());
        String key = spec.runId() + "#" + worker;
        WorkerState s = CACHE.get(key);
        if (s == null) {
            // one run per executor at a time is the common case: drop other runs' replicas, once
            // their files are written (an attempt resumed in this JVM may write the same checkpoint),
            // and before building this one, so a resumed attempt's executor never holds two
            CACHE.entrySet().removeIf(e -> !e.getKey().startsWith(spec.runId() + "#") && e.getValue().release());
            s = build(spec, worker);
            CACHE.put(key, s);
        }
        return s;
    }

    /** The worker's state if this JVM holds it, else null (nothing is built). */
    static WorkerState existing(Spec spec, int worker) {
        return CACHE.get(spec.runId() + "#" + worker);
    }

    /**
     * Drops every replica this JVM keeps: what losing the executor does (for tests), once their
     * pending writes have ended, so a test knows which files a checkpoint has.
     */
    static void forgetAll() {
        CACHE.values().forEach(WorkerState::release);
        CACHE.clear();
    }

    /**
     * Waits for the pending write, then frees the replica's shared memory (this state is being
     * dropped); true either way (a failed write was reported by a task, or never will be).
     */
    private boolean release() {
        try {
            awaitWrites();
        } catch (IOException e) {
            LOG.warn("a dropped replica's write failed: {}", e.toString());
        }
        parameterMemory.free();
        return true;
    }

    private static WorkerState build(Spec spec, int worker) throws IOException {
        JobConfig cfg = spec.config();
        int workers = cfg.train().workers();
        long seed = BatchSource.mix(cfg.seed(), worker + 1);
        long valSeed = BatchSource.mix(cfg.seed(), 0);
        int evalBatch = cfg.eval().batchSize() > 0 ? cfg.eval().batchSize() : cfg.train().batchSize();
        Manifest.Split trainSplit = spec.manifest().split("train");
        Manifest.Split valSplit = spec.manifest().split("validation");
        var conf = spec.conf().get();
        String dir = spec.corpusDir();
        BatchSource train;
        BatchSource val;
        Task task = cfg.data().task();
        if (!task.isStream()) {
            List<List<int[]>> pairs = ShardReader.pairs(dir, ownedOrAll(trainSplit, worker, workers), conf);
            List<List<int[]>> share = share(pairs, worker, workers, trainSplit.shards().size() < workers);
            train = PairBatches.forTask(task, share, cfg.train().batchSize(), cfg.train().blockSize(), cfg.train().bucketing(), seed,
                    spec.specials());
            List<List<int[]>> vp = ShardReader.pairs(dir, valSplit.shards(), conf);
            val = vp.get(0).isEmpty() ? null : PairBatches.forTask(task, vp, evalBatch, cfg.train().blockSize(), false, valSeed,
                    spec.specials());
        } else {
            TokenStream stream = ShardReader.mapped(dir, ownedOrAll(trainSplit, worker, workers), conf);
            if (trainSplit.shards().size() < workers) {
                // fewer shards than workers: each takes a contiguous share of the stream
                stream = stream.slice(stream.length() * worker / workers, stream.length() * (worker + 1) / workers);
            }
            TokenStream vstream = ShardReader.mapped(dir, valSplit.shards(), conf);
            int t = cfg.train().blockSize();
            if (task == Task.MASKED_LM) {
                int vocab = spec.model().vocabSize();
                train = new MaskedLmBatches(stream, cfg.train().batchSize(), t, vocab, seed, spec.specials());
                val = vstream.length() >= t ? new MaskedLmBatches(vstream, evalBatch, t, vocab, valSeed, spec.specials()) : null;
            } else {
                train = new CausalLmBatches(stream, cfg.train().batchSize(), t, seed);
                val = vstream.length() > t ? new CausalLmBatches(vstream, evalBatch, t, valSeed) : null;
            }
        }
        ReplicaMemory memory = new ReplicaMemory();
        // the driver's averaging reads the replica through the task's result: nothing to share then
        boolean peersRead = cfg.train().sync() == JobConfig.SyncMode.ALLREDUCE;
        LocalTrainer trainer = new LocalTrainer(spec.model(), spec.settings(), peersRead ? memory : ParameterBuffer.Memory.ND4J);
        return new WorkerState(trainer, memory, train, val);
    }

    private static List<Manifest.Shard> ownedOrAll(Manifest.Split split, int worker, int workers) {
        return split.shards().size() >= workers ? ShardReader.owned(split, worker, workers) : split.shards();
    }

    private static List<List<int[]>> share(List<List<int[]>> pairs, int worker, int workers, boolean split) {
        if (!split) {
            return pairs;
        }
        List<int[]> s = new ArrayList<>();
        List<int[]> t = new ArrayList<>();
        for (int i = worker; i < pairs.get(0).size(); i += workers) {
            s.add(pairs.get(0).get(i));
            t.add(pairs.get(1).get(i));
        }
        return List.of(s, t);
    }
}
