package io.sparkformer.driver.training;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

import org.apache.spark.SparkEnv;
import org.apache.spark.storage.BlockData;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.BlockManager;
import org.apache.spark.storage.BlockManagerId;
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
 *
 * <p>A vector of n floats is stored as Spark blocks of at most {@link #CHUNK_BYTES} each
 * ({@code name_c0}, {@code name_c1}, ...), read one after the other: Spark fetches a remote block
 * above spark.network.maxRemoteBlockSizeFetchToMem (200 MB) into a file first, and sends a
 * replica that large to a file on the receiving side. GPT-2 small's 248 MB slices went through
 * the disk twice per round between executors, two thirds of a round's synchronisation.
 */
final class BlockVectors {
    /** The bytes of one Spark block: well under Spark's fetch-to-disk threshold. */
    private static final int CHUNK_BYTES = BlockMemory.REGION_BYTES;

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

    /** The Spark block holding chunk c of vector block {@code name}. */
    static BlockId chunkId(String name, int c) {
        return id(name + "_c" + c);
    }

    /** How many Spark blocks a vector of n floats takes. */
    static int chunks(long n) {
        return (int) Math.max(1, (n + CHUNK_FLOATS - 1) / CHUNK_FLOATS);
    }

    /** Stores v[from, to) as block {@code name}; a block already there is kept (a rerun task computes the same bytes). */
    static long put(String name, float[] v, long from, long to, StorageLevel level) {
        return put(name, FloatBuffer.wrap(v, Math.toIntExact(from), Math.toIntExact(to - from)), level);
    }

    /** Stores the floats between src's position and limit (a heap array's or native memory's) as block {@code name}. */
    static long put(String name, FloatBuffer src, StorageLevel level) {
        ByteBuffer[] buffers = allocate(src.remaining());
        try {
            FloatBuffer from = src.duplicate();
            for (ByteBuffer b : buffers) {
                FloatBuffer part = from.duplicate();
                part.limit(part.position() + b.capacity() / 4);
                b.asFloatBuffer().put(part);
                from.position(part.limit());
            }
            return store(name, buffers, level);
        } finally {
            BlockMemory.giveBack(buffers); // those not stored
        }
    }

    /**
     * Stores the floats between src's position and limit as block {@code name} without copying
     * them, when they are native little-endian memory: the block's chunks are views of it (else
     * a copy, as {@link #put}). Whoever reads the block reads that memory as it is then, so it
     * must not change until the block's one reader has read it; Spark's dropping the block leaves
     * the memory alone.
     */
    static long putView(String name, FloatBuffer src, StorageLevel level) {
        long address = src.order() == ByteOrder.LITTLE_ENDIAN ? BlockMemory.address(src) : 0;
        if (address == 0) {
            return put(name, src, level);
        }
        long n = src.remaining();
        ByteBuffer[] views = new ByteBuffer[chunks(n)];
        for (int c = 0; c < views.length; c++) {
            views[c] = BlockMemory.view(address + 4L * src.position() + 4L * c * CHUNK_FLOATS, 4 * chunkFloats(n, c));
        }
        return store(name, views, level);
    }

    /** Floats [from, from + n) of src as little-endian bytes: a view of native little-endian memory, else a copy. */
    static ByteBuffer littleEndianBytes(FloatBuffer src, int from, int n) {
        long address = src.order() == ByteOrder.LITTLE_ENDIAN ? BlockMemory.address(src) : 0;
        if (address != 0) {
            return BlockMemory.view(address + 4L * (src.position() + from), 4 * n);
        }
        ByteBuffer copy = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        copy.asFloatBuffer().put(src.duplicate().position(src.position() + from).limit(src.position() + from + n));
        return copy;
    }

    /**
     * Buffers for n floats, little-endian, at most {@link #CHUNK_BYTES} each, in native memory
     * ({@link BlockMemory}: reused once Spark has dropped the block stored in it). On the heap, a
     * round's blocks (three slices a worker: 0.75 GB at 124M parameters and W = 2) were G1's live
     * set, and G1 kept about as much again committed for headroom: 2.8 GB of heap for 1.6 GB
     * live. They are not zeroed: their bytes are written before they are stored. Each is
     * {@link #store}d, or given back ({@link BlockMemory#giveBack}) when it will not be.
     */
    static ByteBuffer[] allocate(long n) {
        ByteBuffer[] buffers = new ByteBuffer[chunks(n)];
        for (int c = 0; c < buffers.length; c++) {
            buffers[c] = BlockMemory.take(4 * chunkFloats(n, c));
        }
        return buffers;
    }

    /** The floats of chunk c of a vector of n floats. */
    static int chunkFloats(long n, int c) {
        return (int) Math.min(CHUNK_FLOATS, n - (long) c * CHUNK_FLOATS);
    }

    /** Floats per buffer of {@link #allocate}; a power of two, so aligned pieces of a smaller one never straddle two. */
    static final int CHUNK_FLOATS = CHUNK_BYTES / 4;

    /**
     * Stores filled buffers from {@link #allocate} as block {@code name}, one Spark block per
     * buffer, in order (the last one stored means all are); returns its bytes.
     */
    static long store(String name, ByteBuffer[] buffers, StorageLevel level) {
        long bytes = 0;
        BlockTransport.serve(); // peers read what this JVM stores through it
        BlockManager bm = SparkEnv.get().blockManager();
        for (int c = 0; c < buffers.length; c++) {
            ByteBuffer b = buffers[c];
            bytes += b.capacity();
            b.clear();
            boolean put = bm.putBytes(chunkId(name, c), new ChunkedByteBuffer(new ByteBuffer[] {b}), level, true,
                    ClassTag$.MODULE$.apply(byte[].class));
            if (put) {
                BlockMemory.stored(b, chunkId(name, c));
            } else {
                throw new IllegalStateException("could not store block " + name + " (" + (b.capacity() >> 20) + " of "
                        + (4L * CHUNK_FLOATS * buffers.length >> 20) + " MiB) at storage level " + level.description()
                        + ": raise spark.executor.memory (or spark.driver.memory in local mode)");
            }
        }
        return bytes;
    }

    /** Reads block {@code name} into out[at, at + n) and returns its byte count; the local copy first. */
    static long read(String name, float[] out, long at, long n) {
        return read(name, FloatBuffer.wrap(out, Math.toIntExact(at), Math.toIntExact(n)));
    }

    /** Reads block {@code name}, which holds exactly out's remaining floats, into out (a duplicate: out is not moved). */
    static long read(String name, FloatBuffer out) {
        long address = out.order() == ByteOrder.LITTLE_ENDIAN ? BlockMemory.address(out) : 0;
        if (address != 0) {
            readInto(name, address + 4L * out.position(), out.remaining());
            return 4L * out.remaining();
        }
        FloatBuffer to = out.duplicate();
        try (Floats in = open(name, to.remaining())) {
            in.read(to, to.remaining());
        }
        return 4L * out.remaining();
    }

    /**
     * Block {@code name} of n floats into native little-endian memory at {@code address}: a
     * peer's chunks are read from the socket straight into it (a replica's parameters, at every
     * round's start), not into a buffer of the transport's and then copied (248 MB a round at
     * 124M parameters and W = 2).
     */
    private static void readInto(String name, long address, long n) {
        BlockManager bm = SparkEnv.get().blockManager();
        Holders holders = new Holders();
        for (int c = 0; c < chunks(n); c++) {
            BlockId id = chunkId(name, c);
            int floats = chunkFloats(n, c);
            ByteBuffer target = BlockMemory.view(address + 4L * c * CHUNK_FLOATS, 4 * floats);
            Option<BlockData> local = bm.getLocalBytes(id);
            if (local.isDefined()) {
                try {
                    target.put(checked(name, c, local.get().toByteBuffer(), floats));
                } finally {
                    bm.releaseLock(id, Option.empty());
                }
                continue;
            }
            if (holders.fetchInto(bm, id, target)) {
                continue;
            }
            Option<ChunkedByteBuffer> remote = bm.getRemoteBytes(id);
            if (remote.isEmpty()) {
                throw new MissingBlockException(name);
            }
            ChunkedByteBuffer fetched = remote.get();
            try {
                target.clear();
                target.put(checked(name, c, fetched.toByteBuffer(), floats));
            } finally {
                fetched.dispose();
            }
        }
    }

    /**
     * Where a block's chunks are, asked of the master once per block rather than once per chunk
     * (a chunk's holders are its block's: they are stored together); asked again when a holder
     * no longer has a chunk.
     */
    private static final class Holders {
        private scala.collection.immutable.Seq<BlockManagerId> known;

        /** Chunk id through the transport, whole, into target; false when no holder answers with it. */
        boolean fetchInto(BlockManager bm, BlockId id, ByteBuffer target) {
            return first(bm, id, holder -> {
                target.clear();
                return BlockTransport.fetchInto(holder, id, target) ? Boolean.TRUE : null;
            }) != null;
        }

        /** Chunk id through the transport (in a holder's shared memory, or fetched), or null when no holder answers with it. */
        Lease lease(BlockManager bm, BlockId id, long bytes) {
            return first(bm, id, holder -> BlockTransport.lease(holder, id, bytes));
        }

        /** The first holder's answer that is not null: the known holders first, then those the master names now. */
        private <T> T first(BlockManager bm, BlockId id, java.util.function.Function<BlockManagerId, T> ask) {
            for (int attempt = 0; attempt < 2; attempt++) {
                if (known == null || attempt > 0) {
                    known = bm.master().getLocations(id);
                }
                for (int h = 0; h < known.size(); h++) {
                    T answer = ask.apply(known.apply(h));
                    if (answer != null) {
                        return answer;
                    }
                }
            }
            return null;
        }
    }

    /**
     * Drops a peer's chunk through the master off the reading thread: the master's answer took 2-8
     * ms a chunk on the reader's path, and a raw slice is a view of its holder's replica, so
     * dropping it frees no memory anyone waits for.
     */
    private static final java.util.concurrent.ExecutorService REMOTE_DROPS = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "sparkformer-block-drops");
        t.setDaemon(true);
        return t;
    });

    private static void dropRemote(BlockManager bm, BlockId id) {
        REMOTE_DROPS.execute(() -> {
            try {
                bm.master().removeBlock(id);
            } catch (RuntimeException e) {
                org.slf4j.LoggerFactory.getLogger(BlockVectors.class).debug("block {} not dropped: {}", id.name(), e.toString());
            }
        });
    }

    /**
     * Block {@code name}, of n floats, as a stream of floats read in order: from this JVM's
     * store when the block is here, else fetched from a peer (whole, as Spark fetches).
     */
    static Floats open(String name, long n) {
        return new Floats(name, n, false);
    }

    /**
     * As {@link #open}, for a block with this one reader: each Spark block is dropped (wherever it
     * is stored, its memory freed) as soon as it has been read, so a worker holds a peer's raw
     * slice and its own averaged one a chunk apart, not both whole (0.5 GB less at the exchange's
     * peak at 124M parameters and W = 2). A rerun round stores the block again.
     */
    static Floats openOnce(String name, long n) {
        return new Floats(name, n, true);
    }

    /** One Spark block of a vector: its bytes (little-endian, position at the first), what to do once read, and how to drop it. */
    private record Chunk(ByteBuffer bytes, Runnable release, Runnable drop) {}

    /**
     * Chunk c (of {@code floats} floats) of block {@code name}: this JVM's copy when there is one
     * (its own memory, no copy), else a peer's, through {@link BlockTransport} or, failing that,
     * Spark's fetch.
     */
    private static Chunk openChunk(String name, int c, long floats, Holders holders) {
        BlockManager bm = SparkEnv.get().blockManager();
        BlockId id = chunkId(name, c);
        Option<BlockData> local = bm.getLocalBytes(id);
        if (local.isDefined()) {
            ByteBuffer bytes;
            try { // a chunk in memory: its own buffer; on disk: read whole
                bytes = checked(name, c, local.get().toByteBuffer(), floats);
            } catch (RuntimeException e) {
                bm.releaseLock(id, Option.empty());
                throw e;
            }
            return new Chunk(bytes, () -> bm.releaseLock(id, Option.empty()), () -> bm.removeBlock(id, true));
        }
        Runnable drop = () -> dropRemote(bm, id);
        Lease lease = holders.lease(bm, id, floats * 4);
        if (lease != null) {
            try {
                return new Chunk(checked(name, c, lease.bytes(), floats), lease::close, drop);
            } catch (RuntimeException e) {
                lease.close();
                throw e;
            }
        }
        Option<ChunkedByteBuffer> remote = bm.getRemoteBytes(id);
        if (remote.isEmpty()) {
            throw new MissingBlockException(name);
        }
        ChunkedByteBuffer fetched = remote.get();
        return new Chunk(checked(name, c, fetched.toByteBuffer(), floats), fetched::dispose, drop);
    }

    private static ByteBuffer checked(String name, int c, ByteBuffer bytes, long floats) {
        if (bytes.remaining() != floats * 4) {
            throw new IllegalStateException("block " + name + " chunk " + c + " holds " + bytes.remaining() + " bytes, expected "
                    + floats * 4);
        }
        return bytes.order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * A block's floats, read in order into float buffers, one Spark block after the other (each
     * opened when reading reaches it); little-endian on the wire and on disk.
     */
    static final class Floats implements AutoCloseable {
        private final String name;
        private final long n;
        private final boolean dropRead;
        private final Holders holders = new Holders();
        private Chunk open;
        private int chunk = -1;
        private long left;

        Floats(String name, long n, boolean dropRead) {
            this.name = name;
            this.n = n;
            this.dropRead = dropRead;
            this.left = n;
            next();
        }

        /** Moves to the next chunk (closing the last), so a read never spans two. */
        private void next() {
            closeChunk();
            chunk++;
            long floats = Math.min(CHUNK_FLOATS, n - (long) chunk * CHUNK_FLOATS);
            open = openChunk(name, chunk, floats, holders);
        }

        private void closeChunk() {
            if (open == null) {
                return;
            }
            boolean whole = !open.bytes().hasRemaining();
            try {
                open.release().run();
            } finally {
                Chunk read = open;
                open = null;
                if (dropRead && whole) {
                    read.drop().run(); // here at once; a peer's through the master
                }
            }
        }

        /**
         * The next n floats as little-endian bytes of the chunk being read, not copied; valid
         * until the next call (which may drop the chunk). They must not run past the chunk's end.
         */
        ByteBuffer view(int n) {
            if (n > left) {
                throw new IllegalStateException("block " + name + " has " + left + " floats left, " + n + " asked for");
            }
            if (!open.bytes().hasRemaining()) {
                next();
            }
            ByteBuffer bytes = open.bytes();
            if (bytes.remaining() < 4L * n) {
                throw new IllegalStateException("block " + name + ": " + n + " floats asked for across the end of chunk " + chunk);
            }
            ByteBuffer view = bytes.slice(bytes.position(), 4 * n).order(ByteOrder.LITTLE_ENDIAN);
            bytes.position(bytes.position() + 4 * n);
            left -= n;
            return view;
        }

        /** Reads the next n floats into out at its position, advancing it. */
        void read(FloatBuffer out, int n) {
            if (n > left) {
                throw new IllegalStateException("block " + name + " has " + left + " floats left, " + n + " asked for");
            }
            int want = n;
            while (want > 0) {
                ByteBuffer bytes = open.bytes();
                if (!bytes.hasRemaining()) {
                    next();
                    continue;
                }
                int floats = Math.min(want, bytes.remaining() / 4);
                FloatBuffer from = bytes.asFloatBuffer();
                from.limit(floats);
                out.put(from);
                bytes.position(bytes.position() + 4 * floats);
                want -= floats;
                left -= floats;
            }
        }

        @Override
        public void close() {
            closeChunk();
        }
    }

    /**
     * Waits until block {@code name} of n floats is stored somewhere (the master knows of it). Polls with a
     * short backoff: Spark's own barrier() sleeps in whole seconds, which made a 1M-parameter
     * round's synchronisation take 1-2 s.
     */
    static void await(String name, long n, long timeoutMillis) {
        BlockManager bm = SparkEnv.get().blockManager();
        BlockId id = chunkId(name, chunks(n) - 1); // chunks are stored in order
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

    /** Drops block {@code name} of n floats wherever it is stored; from the driver. */
    static void remove(String name, long n) {
        for (int c = 0; c < chunks(n); c++) {
            SparkEnv.get().blockManager().master().removeBlock(chunkId(name, c));
        }
    }

    /**
     * Removes this executor's copy of block {@code name} of {@code n} floats now, on this thread
     * (waiting for its readers), so its memory is free for the next {@link BlockMemory#take};
     * {@link #remove} tells the executors through the master, later. Other copies go as in remove.
     */
    static void removeHere(String name, long n) {
        BlockManager bm = SparkEnv.get().blockManager();
        for (int c = 0; c < chunks(n); c++) {
            bm.removeBlock(chunkId(name, c), true);
            bm.master().removeBlock(chunkId(name, c)); // replicas elsewhere (a storage level kept twice)
        }
    }
}
