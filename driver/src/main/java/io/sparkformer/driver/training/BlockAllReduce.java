package io.sparkformer.driver.training;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;

import org.apache.spark.api.java.StorageLevels;
import org.apache.spark.storage.StorageLevel;

import io.sparkformer.model.optim.Averaging;

/**
 * Averaging W workers' vectors without the driver: a reduce-scatter and an all-gather through
 * Spark's BlockManager, as BigDL's AllReduceParameter does. Inside a barrier stage each worker
 * cuts its vector into W slices and stores them; worker w waits for and fetches slice w from
 * every peer, averages it and stores the result; the next round (or the driver, to checkpoint)
 * fetches all W averaged slices. Each worker sends and receives about 2P floats per vector
 * whatever W is, and the driver carries only counts.
 *
 * <p>Slices are summed in worker order in double and divided by W, element for element as the
 * driver's own averaging does, so both give the same bits. When the moments are averaged too
 * (train.optimizer_state average), the blocks are the workers' whole state, and averaged slices
 * are stored with two replicas: a lost executor's blocks survive on another one, and a rerun
 * round reads the same inputs. With per-worker moments a lost executor takes its worker's
 * moments with it and the run resumes from the last checkpoint whatever survived, so one copy
 * (the second was a third of a round's traffic between executors). Block names carry the run
 * and the round.
 */
final class BlockAllReduce {
    /** Survives one executor's loss: the averaged slices when they are the workers' whole state. */
    static final StorageLevel KEPT_TWICE = StorageLevels.MEMORY_AND_DISK_SER_2;
    /** One copy: in local mode (one BlockManager, a second replica has nowhere to go), or with per-worker moments. */
    static final StorageLevel KEPT_ONCE = StorageLevels.MEMORY_AND_DISK_SER;
    /** Needed only until the slice's owner has averaged it. */
    static final StorageLevel TRANSIENT = StorageLevels.MEMORY_ONLY_SER;

    private BlockAllReduce() {}

    static long sliceStart(long length, int workers, int slice) {
        return length * slice / workers;
    }

    /** Bytes of a vector's slices that live with the other workers: what a gather fetches. */
    static long peerShare(long length, int workers) {
        return 4 * (length - (sliceStart(length, workers, 1) - sliceStart(length, workers, 0)));
    }

    static String raw(String run, long round, int attempt, String vector, int worker, int slice) {
        return run + "_r" + round + "_a" + attempt + "_" + vector + "_w" + worker + "_s" + slice;
    }

    static String status(String run, long round, int worker) {
        return run + "_r" + round + "_status_w" + worker;
    }

    /** How long a worker waits for a peer's block before the round fails (and Spark reruns it). */
    static final long WAIT_MILLIS = 600_000;

    /**
     * Publishes this worker's outcome (diverged or not) and waits for every peer's: true when
     * any worker of the round diverged, and then no one exchanges anything.
     */
    static boolean anyDiverged(String run, long round, int worker, int workers, boolean diverged) {
        BlockVectors.put(status(run, round, worker), new float[] {diverged ? 1f : 0f}, 0, 1, TRANSIENT);
        boolean any = diverged;
        float[] flag = new float[1];
        for (int w = 0; w < workers; w++) {
            if (w != worker) {
                BlockVectors.await(status(run, round, w), 1, WAIT_MILLIS);
                BlockVectors.read(status(run, round, w), flag, 0, 1);
                any |= flag[0] != 0f;
            }
        }
        return any;
    }

    static String averaged(String run, long round, String vector, int slice) {
        return run + "_r" + round + "_" + vector + "_avg_s" + slice;
    }

    /**
     * Worker {@code worker}'s part of averaging {@code vectors} (named by {@code names}) for
     * {@code round}: store its slices, wait for every peer's, average slice {@code worker} chunk
     * by chunk and store it. The vectors may be native memory (a replica's own buffers): then
     * slice {@code worker} is replaced by its average as well ({@link #holdsOwnAverage}), the
     * others are only read, and the slices for the peers are stored as views of that memory,
     * not copies (a copy of P/W floats a vector, into fresh memory, was a third of a round's
     * synchronisation). A slice for a peer in another executor on this host is read by that peer
     * where it lies when the vector is in shared memory ({@link ReplicaMemory}), and is otherwise
     * copied into shared block memory ({@link SharedMemory}): no copy, or one, where the socket made two. The caller must not change a vector's slice s until slice s's average
     * is stored: its owner has then read every raw slice s. Every task of the round calls it.
     * Waiting is on the blocks themselves; the barrier stage only makes Spark start the W tasks
     * together. A peer's raw slice is dropped a chunk at a time as it is read. Raw slices carry
     * the stage attempt ({@code attempt}): those of a failed attempt view memory the rerun
     * changes, so no rerun reads them, and each worker drops its own at the rerun's start.
     * {@code dropRound}: a round (or -1) whose averaged slices no task will read again once every
     * peer has stored its raw slices (each loaded them before): the worker's own are dropped
     * then, and its new averaged slice takes their memory. Returns the bytes it fetched.
     */
    static long reduceScatter(String run, long round, int attempt, List<String> names, List<FloatBuffer> vectors,
                              int worker, int workers, StorageLevel kept, long dropRound) {
        boolean[] sameHost = readersOnThisHost(workers);
        for (int k = 0; k < names.size(); k++) {
            for (int s = 0; s < workers; s++) {
                if (s != worker) {
                    FloatBuffer slice = slice(vectors.get(k), workers, s);
                    for (int earlier = 0; earlier < attempt; earlier++) {
                        BlockVectors.remove(raw(run, round, earlier, names.get(k), worker, s), slice.remaining());
                    }
                    String block = raw(run, round, attempt, names.get(k), worker, s);
                    if (sameHost[s] && !inSharedMemory(slice)) { // one copy into shared memory, which worker s reads in place
                        BlockVectors.put(block, slice, TRANSIENT);
                    } else { // no copy: worker s reads the replica in place, or a socket's two for a peer elsewhere
                        BlockVectors.putView(block, slice, TRANSIENT);
                    }
                }
            }
        }
        long in = 0;
        for (int k = 0; k < names.size(); k++) {
            in += averageOwnSlice(run, round, attempt, names.get(k), vectors.get(k), worker, workers, kept, dropRound);
        }
        return in;
    }

    /**
     * Which workers of this barrier stage run in another executor on this host, when this JVM's
     * block memory is shared ({@link BlockMemory#sharing}): a slice they read is worth copying
     * into it. None outside a barrier stage (the driver, tests).
     */
    static boolean[] readersOnThisHost(int workers) {
        boolean[] same = new boolean[workers];
        if (!(org.apache.spark.TaskContext.get() instanceof org.apache.spark.BarrierTaskContext task) || !BlockMemory.sharing()) {
            return same;
        }
        org.apache.spark.BarrierTaskInfo[] infos = task.getTaskInfos(); // by partition: worker w runs partition w
        if (infos.length != workers) {
            return same;
        }
        String mine = infos[task.partitionId()].address();
        for (int s = 0; s < workers; s++) {
            String theirs = infos[s].address();
            same[s] = !theirs.equals(mine) && host(theirs).equals(host(mine));
        }
        return same;
    }

    /** Whether a vector's slice already lies in shared memory (a replica's parameters, {@link ReplicaMemory}). */
    private static boolean inSharedMemory(FloatBuffer slice) {
        long address = BlockMemory.address(slice);
        return address != 0 && BlockMemory.locate(address, 4L * slice.remaining()) != null;
    }

    /** The host of a "host:port" address. */
    private static String host(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        return colon < 0 ? hostPort : hostPort.substring(0, colon);
    }

    /**
     * Averages slice {@code worker} of vector {@code name} over every worker's copy, a chunk at a
     * time, and stores it; returns the bytes fetched from the peers.
     */
    private static long averageOwnSlice(String run, long round, int attempt, String name, FloatBuffer vector, int worker,
                                        int workers, StorageLevel kept, long dropRound) {
        FloatBuffer own = slice(vector, workers, worker);
        int n = own.remaining();
        boolean replaceOwn = holdsOwnAverage(vector);
        List<BlockVectors.Floats> peers = new ArrayList<>();
        ByteBuffer[] out = null;
        long in = 0;
        try {
            for (int w = 0; w < workers; w++) {
                if (w == worker) {
                    peers.add(null);
                } else {
                    BlockVectors.await(raw(run, round, attempt, name, w, worker), n, WAIT_MILLIS);
                    peers.add(BlockVectors.openOnce(raw(run, round, attempt, name, w, worker), n));
                    in += 4L * n;
                }
            }
            if (dropRound >= 0) { // every peer is past its load: no one reads them again
                BlockVectors.removeHere(averaged(run, dropRound, name, worker), n);
            }
            // a chunk at a time, every input read where it is (the replica, a peer's chunk as it
            // arrived); each output chunk is taken when averaging reaches it
            out = new ByteBuffer[BlockVectors.chunks(n)];
            ByteBuffer[] inputs = new ByteBuffer[workers];
            for (int c = 0; c < out.length; c++) {
                int at = c * BlockVectors.CHUNK_FLOATS;
                int len = BlockVectors.chunkFloats(n, c);
                for (int w = 0; w < workers; w++) { // worker order: the same bits as the driver's average
                    inputs[w] = w == worker ? BlockVectors.littleEndianBytes(own, at, len) : peers.get(w).view(len);
                }
                out[c] = BlockMemory.take(4 * len);
                // the replica's own slice becomes the average too, so the next round need not copy it back
                Averaging.mean(inputs, out[c], replaceOwn ? inputs[worker] : null, len);
            }
            BlockVectors.store(averaged(run, round, name, worker), out, kept);
        } finally {
            if (out != null) {
                BlockMemory.giveBack(out); // those not stored
            }
            for (BlockVectors.Floats f : peers) {
                if (f != null) {
                    f.close();
                }
            }
        }
        return in;
    }

    /**
     * Whether {@link #reduceScatter} leaves a vector's own slice replaced by its average: when the
     * vector is native little-endian memory (a replica's), which the averaging reads in place.
     */
    static boolean holdsOwnAverage(FloatBuffer vector) {
        return vector.order() == java.nio.ByteOrder.LITTLE_ENDIAN && BlockMemory.address(vector) != 0;
    }

    /** Slice s of a vector (its part between position and limit), as a buffer of its own. */
    static FloatBuffer slice(FloatBuffer v, int workers, int s) {
        int n = v.remaining();
        int from = v.position() + (int) sliceStart(n, workers, s);
        int to = v.position() + (int) sliceStart(n, workers, s + 1);
        return v.duplicate().position(from).limit(to).slice();
    }

    /** The averaged vector of {@code round}, all W slices from wherever they are stored, into out (not moved). */
    static void gather(String run, long round, String vector, FloatBuffer out, int workers) {
        gather(run, round, vector, out, workers, -1);
    }

    /**
     * As {@link #gather(String, long, String, FloatBuffer, int)}, but slice {@code held} (or none:
     * -1) is left as it is: out already holds it (a replica's own slice, averaged in place).
     */
    static void gather(String run, long round, String vector, FloatBuffer out, int workers, int held) {
        for (int s = 0; s < workers; s++) {
            if (s == held) {
                continue;
            }
            FloatBuffer target = slice(out, workers, s);
            BlockVectors.await(averaged(run, round, vector, s), target.remaining(), WAIT_MILLIS);
            BlockVectors.read(averaged(run, round, vector, s), target);
        }
    }

    /** The averaged vector of {@code round} as a heap array (the driver's, to validate or checkpoint). */
    static float[] gather(String run, long round, String vector, long length, int workers) {
        float[] out = new float[Math.toIntExact(length)];
        gather(run, round, vector, FloatBuffer.wrap(out), workers);
        return out;
    }

    /**
     * The blocks of {@code round} still stored, of vectors of {@code length} floats (driver side, once
     * nothing will read them again): the averaged slices and the workers' outcomes. The raw slices
     * are dropped as they are read, and a failed attempt's by the rerun.
     */
    static void remove(String run, long round, List<String> averagedNames, long length, int workers) {
        for (String v : averagedNames) {
            for (int s = 0; s < workers; s++) {
                long n = sliceStart(length, workers, s + 1) - sliceStart(length, workers, s);
                BlockVectors.remove(averaged(run, round, v, s), n); // the raw slices are gone: dropped as read
            }
        }
        for (int w = 0; w < workers; w++) {
            BlockVectors.remove(status(run, round, w), 1);
        }
    }
}
