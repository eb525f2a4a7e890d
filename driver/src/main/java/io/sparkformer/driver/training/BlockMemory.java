package io.sparkformer.driver.training;

import java.lang.reflect.Constructor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.SparkEnv;
import org.apache.spark.storage.BlockId;
import org.apache.spark.unsafe.Platform;

/**
 * The native memory of the exchange's blocks, kept by this JVM and reused from round to round.
 * Each round stores about three slices of the vector a worker; memory fresh from the system cost
 * its page faults every time (the kernel zeroes and charges each page: 80% of storing a raw slice
 * and a third of averaging one, 0.4 s of a worker's round at 124M parameters on the 2-core machine).
 *
 * <p>A region is lent as a direct buffer without a cleaner, so Spark's disposal of a dropped
 * block (which frees a buffer it allocated) leaves it alone; the region is free again once its
 * block is no longer in this JVM's memory store: removed, or evicted to disk. Spark takes a
 * block's write lock to drop it, which waits for every reader (a local one, a fetch it serves,
 * {@link BlockTransport}), so no one reads a region after that. Regions free for
 * {@link #IDLE_NANOS} go back to the system, so an executor that stops training does not keep them.
 *
 * <p>Where the JDK does not let a buffer be made over given memory, every buffer is Spark's own
 * allocation, freed when its block goes, as before.
 */
final class BlockMemory {
    /**
     * The largest region, and a vector's chunk: 8 Spark blocks of 32 MiB for each 248 MB slice
     * of GPT-2 small cost the master a round trip each when stored (15-70 ms of a round's 0.55 s
     * on the 2-core machine, twice), 2 of 128 MiB cost a quarter of that. Under Spark's 200 MB
     * fetch-to-disk threshold, which the fallback fetch would otherwise meet.
     */
    static final int REGION_BYTES = 1 << 27;
    /**
     * Blocks smaller than this (a worker's outcome, a transport's port: a few bytes) take memory
     * of their own, not a region each, which a block never removed would keep for good.
     */
    static final int SMALL_BYTES = 1 << 16;
    /** How long a free region is kept for the next round. */
    static final long IDLE_NANOS = 120_000_000_000L;

    private static final Constructor<?> VIEW = viewConstructor();
    private static final java.lang.reflect.Field ADDRESS = VIEW == null ? null : addressField();

    private static final class Region {
        final long address;
        /** A power of two, from {@link #SMALL_BYTES} to {@link #REGION_BYTES}. */
        final int bytes;
        /** The shared-memory file behind it, or null: ordinary memory. */
        final SharedMemory.Region shared;
        /** The block stored in it, once stored. */
        BlockId block;
        /** Lent and not stored yet. */
        boolean lent;
        long freeSince = System.nanoTime();

        Region(long address, int bytes, SharedMemory.Region shared) {
            this.address = address;
            this.bytes = bytes;
            this.shared = shared;
        }

        void free() {
            if (shared != null) {
                shared.free();
            } else {
                Platform.freeMemory(address);
            }
        }
    }

    private static final List<Region> REGIONS = new ArrayList<>();
    /** Lent buffers and their regions, until stored or returned. */
    private static final Map<ByteBuffer, Region> LENT = new IdentityHashMap<>();

    private BlockMemory() {}

    /** Frees regions idle for {@link #IDLE_NANOS} even when no round asks for memory again. */
    private static final java.util.concurrent.ScheduledExecutorService TRIMMER =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(task -> {
                Thread t = new Thread(task, "sparkformer-block-memory-trim");
                t.setDaemon(true);
                return t;
            });

    static {
        if (VIEW != null) {
            TRIMMER.scheduleWithFixedDelay(BlockMemory::trim, 30, 30, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    /** Returns regions free for longer than {@link #IDLE_NANOS} to the system. */
    static void trim() {
        trim(IDLE_NANOS);
    }

    /** Returns regions free for longer than {@code idleNanos} to the system (0: every free one). */
    static synchronized void trim(long idleNanos) {
        long now = System.nanoTime();
        for (var it = REGIONS.iterator(); it.hasNext(); ) {
            Region r = it.next();
            if (isFree(r, now) && now - r.freeSince >= idleNanos) {
                r.free();
                it.remove();
            }
        }
        SharedMemory.trimPeers(idleNanos);
    }

    /**
     * A little-endian buffer of {@code bytes} (at most {@link #REGION_BYTES}), not zeroed, in a
     * region of the next power of two: a round asks for the same sizes as the last one, so it
     * finds them free, and a small model's slices do not take a chunk's 128 MiB each.
     */
    static synchronized ByteBuffer take(int bytes) {
        if (bytes > REGION_BYTES) {
            throw new IllegalArgumentException(bytes + " bytes, more than a region's " + REGION_BYTES);
        }
        if (VIEW == null || bytes < SMALL_BYTES) { // Spark's own allocation, freed when the block goes
            return Platform.allocateDirectBuffer(bytes).order(ByteOrder.LITTLE_ENDIAN);
        }
        int size = Integer.highestOneBit(bytes) == bytes ? bytes : Integer.highestOneBit(bytes) << 1;
        long now = System.nanoTime();
        Region found = null;
        for (Region r : REGIONS) { // idle ones go back to the system in trim(), on its own thread
            if (r.bytes == size && isFree(r, now)) {
                found = r;
                break;
            }
        }
        if (found == null) {
            SharedMemory.Region shared = sharing() ? SharedMemory.create(size) : null;
            if (shared == null && sharing == Boolean.TRUE) {
                sharing = false; // /dev/shm full or unusable: ordinary memory from now on, and raw slices as views
            }
            found = shared != null ? new Region(shared.address(), size, shared)
                    : new Region(Platform.allocateMemory(size), size, null);
            REGIONS.add(found);
        }
        found.lent = true;
        found.block = null;
        ByteBuffer b = view(found.address, bytes);
        LENT.put(b, found);
        return b;
    }

    /** Whether r holds nothing: neither lent nor a block still in memory here; notes since when. */
    private static boolean isFree(Region r, long now) {
        if (r.lent) {
            return false;
        }
        if (r.block != null) {
            SparkEnv env = SparkEnv.get();
            if (env != null && env.blockManager().memoryStore().contains(r.block)) {
                return false;
            }
            r.block = null;
            r.freeSince = now;
        }
        return true;
    }

    /** Buffer b (from {@link #take}) now holds block {@code id}: its region is Spark's until the block leaves memory. */
    static synchronized void stored(ByteBuffer b, BlockId id) {
        Region r = LENT.remove(b);
        if (r != null) {
            r.block = id;
            r.lent = false;
        }
    }

    /** Buffers from {@link #take} that will not be stored (a failed put or average): free at once. */
    static synchronized void giveBack(ByteBuffer[] buffers) {
        long now = System.nanoTime();
        for (ByteBuffer b : buffers) {
            Region r = b == null ? null : LENT.remove(b);
            if (r != null) {
                r.lent = false;
                r.block = null;
                r.freeSince = now;
            }
        }
    }

    /** Replicas' parameters in shared memory ({@link ReplicaMemory}), with their sizes: never lent, only found. */
    private static final Map<SharedMemory.Region, Long> REPLICA_REGIONS = new IdentityHashMap<>();

    /** A replica's parameters now live in {@code region}: blocks that view them can be read in place by peers. */
    static synchronized void addReplicaRegion(SharedMemory.Region region, long bytes) {
        REPLICA_REGIONS.put(region, bytes);
    }

    static synchronized void removeReplicaRegion(SharedMemory.Region region) {
        REPLICA_REGIONS.remove(region);
    }

    /** Where a peer process on this host finds stored bytes: a shared region's path, token and offset. */
    record SharedLocation(String path, long token, long offset) {
        /** Where {@code address}, inside {@code region}, lies for a peer. */
        static SharedLocation in(SharedMemory.Region region, long address) {
            return new SharedLocation(region.peerPath(), region.token(), SharedMemory.HEADER_BYTES + (address - region.address()));
        }
    }

    /**
     * Where {@code bytes} bytes at {@code address} lie in a shared region of this JVM (a block
     * region, or a replica's parameters), or null when they are not in one (ordinary memory).
     */
    static synchronized SharedLocation locate(long address, long bytes) {
        for (Region r : REGIONS) {
            if (r.shared != null && address >= r.address && address + bytes <= r.address + r.bytes) {
                return SharedLocation.in(r.shared, address);
            }
        }
        for (var e : REPLICA_REGIONS.entrySet()) {
            long start = e.getKey().address();
            if (address >= start && address + bytes <= start + e.getValue()) {
                return SharedLocation.in(e.getKey(), address);
            }
        }
        return null;
    }

    /** Tests turn sharing on in local mode (one JVM reading its own regions through /proc). */
    static volatile Boolean sharingOverride;
    private static Boolean sharing;

    /**
     * Whether new regions are shared memory: in an executor (a peer executor on this host may
     * read them), with the exchange's transport on, spark.sparkformer.sharedMemory not false,
     * and /dev/shm and /proc here. Not in local mode's single JVM, where every read is local.
     */
    static synchronized boolean sharing() {
        if (sharingOverride != null) {
            return sharingOverride;
        }
        if (sharing == null) {
            SparkEnv env = SparkEnv.get();
            if (env == null) {
                return false;
            }
            sharing = !"driver".equals(env.executorId()) && sharedMemoryEnabled(env.conf())
                    && SharedMemory.available();
        }
        return sharing;
    }

    /** Whether the exchange may use shared memory between executors on one host (spark.sparkformer.sharedMemory, on by default). */
    static boolean sharedMemoryEnabled(org.apache.spark.SparkConf conf) {
        return BlockTransport.enabled(conf) && conf.getBoolean("spark.sparkformer.sharedMemory", true);
    }

    /** Bytes of native memory held (lent, stored or free), for tests and logs. */
    static synchronized long heldBytes() {
        return REGIONS.stream().mapToLong(r -> r.bytes).sum();
    }

    /** Whether buffers are reused (false: each is Spark's own allocation). */
    static boolean reuses() {
        return VIEW != null;
    }

    /**
     * The native address of a direct buffer's element 0 (as Buffer keeps it), or 0 for a heap
     * buffer or where the JDK does not let it be read.
     */
    static long address(java.nio.Buffer b) {
        if (ADDRESS == null || !b.isDirect()) {
            return 0;
        }
        try {
            return ADDRESS.getLong(b);
        } catch (IllegalAccessException e) {
            return 0;
        }
    }

    /** A buffer of {@code bytes} over native memory at {@code address}, little-endian; Spark's disposing of it frees nothing. */
    static ByteBuffer view(long address, int bytes) {
        if (VIEW == null) {
            throw new IllegalStateException("this JDK does not let a buffer be made over given memory");
        }
        try {
            return ((ByteBuffer) VIEW.newInstance(address, bytes)).order(ByteOrder.LITTLE_ENDIAN);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot make a buffer over native memory", e);
        }
    }

    private static java.lang.reflect.Field addressField() {
        try {
            java.lang.reflect.Field f = java.nio.Buffer.class.getDeclaredField("address");
            f.setAccessible(true);
            return f;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /** java.nio.DirectByteBuffer(long address, int capacity): the one JNI's NewDirectByteBuffer uses, with no cleaner. */
    private static Constructor<?> viewConstructor() {
        try {
            Constructor<?> c = Class.forName("java.nio.DirectByteBuffer").getDeclaredConstructor(long.class, int.class);
            c.setAccessible(true); // needs --add-opens java.base/java.nio, which Spark's JVMs have
            return c;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }
}
