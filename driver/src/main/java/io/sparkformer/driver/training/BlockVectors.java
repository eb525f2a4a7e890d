package io.sparkformer.driver.training;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

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

    /** Marks a lost worker state in a failed job's message: the trainer then resumes from its last checkpoint. */
    static final String LOST = "sparkformer-lost-worker-state: ";

    /** Thrown when a block is nowhere: its executor was lost and it had no replica. */
    static final class MissingBlockException extends IllegalStateException {
        MissingBlockException(String name) {
            super(LOST + "block " + name + " is gone (lost with its executor, and no replica survived)");
        }
    }

    static BlockId id(String name) {
        return TestBlockId.apply("sparkformer_" + name);
    }

    /** Stores v[from, to) as block {@code name}; a block already there is kept (a rerun task computes the same bytes). */
    static long put(String name, float[] v, long from, long to, StorageLevel level) {
        long n = to - from;
        int chunks = (int) Math.max(1, (n * 4 + CHUNK_BYTES - 1) / CHUNK_BYTES);
        ByteBuffer[] buffers = new ByteBuffer[chunks];
        long at = from;
        for (int c = 0; c < chunks; c++) {
            int floats = (int) Math.min(CHUNK_BYTES / 4, to - at);
            ByteBuffer b = ByteBuffer.allocate(floats * 4).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(v, (int) at, floats);
            buffers[c] = b;
            at += floats;
        }
        BlockManager bm = SparkEnv.get().blockManager();
        if (!bm.putBytes(id(name), new ChunkedByteBuffer(buffers), level, true, ClassTag$.MODULE$.apply(byte[].class))) {
            throw new IllegalStateException("could not store block " + name + " (" + (n * 4 >> 20) + " MiB) at storage level "
                    + level.description() + ": raise spark.executor.memory (or spark.driver.memory in local mode)");
        }
        return n * 4;
    }

    /** Reads block {@code name} into out[at, at + n) and returns its byte count; the local copy first. */
    static long read(String name, float[] out, long at, long n) {
        BlockManager bm = SparkEnv.get().blockManager();
        BlockId id = id(name);
        Option<BlockData> local = bm.getLocalBytes(id);
        if (local.isDefined()) {
            try (InputStream in = local.get().toInputStream()) {
                fill(in, out, at, n, name);
            } catch (IOException e) {
                throw new IllegalStateException("cannot read block " + name + ": " + e, e);
            } finally {
                bm.releaseLock(id, Option.empty());
            }
            return n * 4;
        }
        Option<ChunkedByteBuffer> remote = bm.getRemoteBytes(id);
        if (remote.isEmpty()) {
            throw new MissingBlockException(name);
        }
        long size = remote.get().size();
        if (size != n * 4) {
            throw new IllegalStateException("block " + name + " holds " + size + " bytes, expected " + n * 4);
        }
        long pos = at;
        for (ByteBuffer chunk : remote.get().chunks()) {
            ByteBuffer b = chunk.duplicate().order(ByteOrder.LITTLE_ENDIAN);
            int floats = b.remaining() / 4;
            b.asFloatBuffer().get(out, (int) pos, floats);
            pos += floats;
        }
        return n * 4;
    }

    private static void fill(InputStream in, float[] out, long at, long n, String name) throws IOException {
        byte[] buf = new byte[1 << 16];
        ByteBuffer view = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        long pos = at;
        long end = at + n;
        int carry = 0;
        while (pos < end) {
            int r = in.read(buf, carry, buf.length - carry);
            if (r < 0) {
                throw new IOException("block " + name + " ends after " + (pos - at) + " of " + n + " floats");
            }
            int have = carry + r;
            int floats = (int) Math.min(have / 4, end - pos);
            view.clear();
            view.asFloatBuffer().get(out, (int) pos, floats);
            pos += floats;
            carry = have - floats * 4;
            System.arraycopy(buf, floats * 4, buf, 0, carry);
        }
    }

    /** True when block {@code name} is stored somewhere. */
    static boolean exists(String name) {
        return !SparkEnv.get().blockManager().master().getLocations(id(name)).isEmpty();
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

    /** Drops every block whose name contains {@code part}: what losing every replica does (for tests). */
    static void removeMatching(String part) {
        var master = SparkEnv.get().blockManager().master();
        var ids = master.getMatchingBlockIds(new MatchName(part), true);
        scala.jdk.javaapi.CollectionConverters.asJava(ids).forEach(master::removeBlock);
    }

    private static final class MatchName extends scala.runtime.AbstractFunction1<BlockId, Object>
            implements java.io.Serializable {
        private final String part;

        MatchName(String part) {
            this.part = part;
        }

        @Override
        public Object apply(BlockId id) {
            return id.name().startsWith("test_sparkformer_") && id.name().contains(part);
        }
    }

    /** Drops a block wherever it is stored; from the driver. */
    static void remove(String name) {
        SparkEnv.get().blockManager().master().removeBlock(id(name));
    }
}
