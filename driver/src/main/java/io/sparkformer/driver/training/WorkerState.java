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
    private static final Map<String, WorkerState> CACHE = new ConcurrentHashMap<>();

    final LocalTrainer trainer;
    final BatchSource train;
    final BatchSource validation;
    /**
     * train.sync allreduce: the round whose end the replica's optimizer state is (its moments
     * stay in the trainer between rounds), or -1 while a round changes it or after a failure.
     */
    long residentRound = -1;
    /** Heap buffers for the blocks this worker stores, reused across rounds. */
    final BlockBuffers blockBuffers = new BlockBuffers();

    private WorkerState(LocalTrainer trainer, BatchSource train, BatchSource validation) {
        this.trainer = trainer;
        this.train = train;
        this.validation = validation;
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
            s = build(spec, worker);
            // one run per executor at a time is the common case: drop other runs' replicas
            CACHE.keySet().removeIf(k -> !k.startsWith(spec.runId() + "#"));
            CACHE.put(key, s);
        }
        return s;
    }

    /** Drops every replica this JVM keeps: what losing the executor does (for tests). */
    static void forgetAll() {
        CACHE.clear();
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
        return new WorkerState(new LocalTrainer(spec.model(), spec.settings()), train, val);
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
