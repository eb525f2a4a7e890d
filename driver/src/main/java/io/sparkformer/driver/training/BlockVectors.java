package io.sparkformer.driver.training;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

import org.apache.spark.SparkEnv;
import org.apache.spark.storage.BlockData;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.BlockManager;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.storage.TestBlockId;
import org.apache.spark.util.io.ChunkedByteBuffer;

import scala.Option;
import scala.reflect.ClassTag$;

/**
 * Float vectors (or ranges of them) as blocks in Spark's BlockManager: raw little-endian bytes,
 * no serialisation framework, stored in the JVM that puts them and fetched by name from any
 * other (the BlockManager master knows where each block lives). This is how workers exchange
 * parameters without the driver.
 */
final class BlockVectors {
    /** Blocks hold at most this many bytes per chunk (a ByteBuffer stops at 2 GiB). */
    private static final int CHUNK_BYTES = 1 << 28;

    private BlockVectors() {}

    /** Thrown when a block is nowhere: its executor was lost and it had no replica. */
    static final class MissingBlockException extends LostWorkerStateException {
        MissingBlockException(String name) {
            super("block " + name + " is gone (lost with its executor, and no replica survived)");
        }
    }

    static BlockId id(String name) {
        return TestBlockId.apply("sparkformer_" + name);
    }

    /** Stores v[from, to) as block {@code name}; a block already there is kept (a rerun task computes the same bytes). */
    static long put(String name, float[] v, long from, long to, StorageLevel level) {
        return put(name, FloatBuffer.wrap(v, Math.toIntExact(from), Math.toIntExact(to - from)), level);
    }

    /** Stores the floats between src's position and limit (a heap array's or native memory's) as block {@code name}. */
    static long put(String name, FloatBuffer src, StorageLevel level) {
        return put(name, src, level, allocate(src.remaining()));
    }

    /** As {@link #put(String, FloatBuffer, StorageLevel)}, in buffers from {@code pool}. */
    static long put(String name, FloatBuffer src, StorageLevel level, BlockBuffers pool) {
        return put(name, src, level, pool.take(src.remaining()));
    }

    /** As {@link #put(String, FloatBuffer, StorageLevel)}, in these buffers (from {@link #allocate} or a pool). */
    static long put(String name, FloatBuffer src, StorageLevel level, ByteBuffer[] buffers) {
        FloatBuffer from = src.duplicate();
        for (ByteBuffer b : buffers) {
            FloatBuffer part = from.duplicate();
            part.limit(part.position() + b.capacity() / 4);
            b.asFloatBuffer().put(part);
            from.position(part.limit());
        }
        return store(name, buffers, level);
    }

    /** Heap buffers for n floats, little-endian, at most {@link #CHUNK_BYTES} each. */
    static ByteBuffer[] allocate(long n) {
        int chunks = (int) Math.max(1, (n * 4 + CHUNK_BYTES - 1) / CHUNK_BYTES);
        ByteBuffer[] buffers = new ByteBuffer[chunks];
        long left = n;
        for (int c = 0; c < chunks; c++) {
            int floats = (int) Math.min(CHUNK_FLOATS, left);
            buffers[c] = ByteBuffer.allocate(floats * 4).order(ByteOrder.LITTLE_ENDIAN);
            left -= floats;
        }
        return buffers;
    }

    /** Floats per buffer of {@link #allocate}; a power of two, so aligned pieces of a smaller one never straddle two. */
    static final int CHUNK_FLOATS = CHUNK_BYTES / 4;

    /** Stores filled buffers from {@link #allocate} as block {@code name}; returns its bytes. */
    static long store(String name, ByteBuffer[] buffers, StorageLevel level) {
        long bytes = 0;
        for (ByteBuffer b : buffers) {
            bytes += b.capacity();
            b.clear();
        }
        BlockManager bm = SparkEnv.get().blockManager();
        if (!bm.putBytes(id(name), new ChunkedByteBuffer(buffers), level, true, ClassTag$.MODULE$.apply(byte[].class))) {
            throw new IllegalStateException("could not store block " + name + " (" + (bytes >> 20) + " MiB) at storage level "
                    + level.description() + ": raise spark.executor.memory (or spark.driver.memory in local mode)");
        }
        return bytes;
    }

    /** Reads block {@code name} into out[at, at + n) and returns its byte count; the local copy first. */
    static long read(String name, float[] out, long at, long n) {
        return read(name, FloatBuffer.wrap(out, Math.toIntExact(at), Math.toIntExact(n)));
    }

    /** Reads block {@code name}, which holds exactly out's remaining floats, into out (a duplicate: out is not moved). */
    static long read(String name, FloatBuffer out) {
        FloatBuffer to = out.duplicate();
        try (Floats in = open(name, to.remaining())) {
            in.read(to, to.remaining());
        }
        return 4L * out.remaining();
    }

    /**
     * Block {@code name}, of n floats, as a stream of floats read in order: from this JVM's
     * store when the block is here, else fetched from a peer (whole, as Spark fetches).
     */
    static Floats open(String name, long n) {
        BlockManager bm = SparkEnv.get().blockManager();
        BlockId id = id(name);
        Option<BlockData> local = bm.getLocalBytes(id);
        if (local.isDefined()) {
            return new Floats(name, n, local.get().toInputStream(), () -> bm.releaseLock(id, Option.empty()));
        }
        Option<ChunkedByteBuffer> remote = bm.getRemoteBytes(id);
        if (remote.isEmpty()) {
            throw new MissingBlockException(name);
        }
        if (remote.get().size() != n * 4) {
            throw new IllegalStateException("block " + name + " holds " + remote.get().size() + " bytes, expected " + n * 4);
        }
        return new Floats(name, n, remote.get().toInputStream(true), () -> {});
    }

    /** A block's floats, read in order into float buffers; little-endian on the wire and on disk. */
    static final class Floats implements AutoCloseable {
        private final String name;
        private final InputStream in;
        private final Runnable release;
        private final byte[] buf = new byte[1 << 16];
        private final ByteBuffer bytes = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        private int carry;
        private long left;

        Floats(String name, long n, InputStream in, Runnable release) {
            this.name = name;
            this.in = in;
            this.release = release;
            this.left = n;
        }

        /** Reads the next n floats into out at its position, advancing it. */
        void read(FloatBuffer out, int n) {
            if (n > left) {
                throw new IllegalStateException("block " + name + " has " + left + " floats left, " + n + " asked for");
            }
            try {
                int want = n;
                while (want > 0) {
                    if (carry < 4) {
                        int r = in.read(buf, carry, buf.length - carry);
                        if (r < 0) {
                            throw new IOException("block " + name + " ends " + left + " floats early");
                        }
                        carry += r;
                        continue;
                    }
                    int floats = Math.min(carry / 4, want);
                    bytes.position(0).limit(floats * 4);
                    out.put(bytes.asFloatBuffer());
                    System.arraycopy(buf, floats * 4, buf, 0, carry - floats * 4);
                    carry -= floats * 4;
                    want -= floats;
                    left -= floats;
                }
            } catch (IOException e) {
                throw new IllegalStateException("cannot read block " + name + ": " + e, e);
            }
        }

        @Override
        public void close() {
            try {
                in.close();
            } catch (IOException e) {
                // a block's stream holds no resource worth failing a round for
            } finally {
                release.run();
            }
        }
    }

    /**
     * Waits until block {@code name} is stored somewhere (the master knows of it). Polls with a
     * short backoff: Spark's own barrier() sleeps in whole seconds, which made a 1M-parameter
     * round's synchronisation take 1-2 s.
     */
    static void await(String name, long timeoutMillis) {
        BlockManager bm = SparkEnv.get().blockManager();
        BlockId id = id(name);
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        long sleepMicros = 50;
        while (bm.master().getLocations(id).isEmpty()) {
            org.apache.spark.TaskContext task = org.apache.spark.TaskContext.get();
            if (task != null && task.isInterrupted()) {
                throw new IllegalStateException("interrupted while waiting for block " + name);
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("block " + name + " did not appear within " + timeoutMillis / 1000
                        + " s: a peer task is stuck or was lost");
            }
            java.util.concurrent.locks.LockSupport.parkNanos(sleepMicros * 1000);
            sleepMicros = Math.min(sleepMicros * 2, 20_000);
        }
    }

    /** Drops a block wherever it is stored; from the driver. */
    static void remove(String name) {
        SparkEnv.get().blockManager().master().removeBlock(id(name));
    }
}
