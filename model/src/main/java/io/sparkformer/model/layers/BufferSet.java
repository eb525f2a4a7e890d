package io.sparkformer.model.layers;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.indexer.DoubleIndexer;
import org.bytedeco.javacpp.indexer.FloatIndexer;
import org.bytedeco.javacpp.indexer.IntIndexer;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The activation and gradient buffers a model allocates for one batch shape. When the shape
 * changes, the new shape's buffers are carved from the old ones' memory wherever a buffer of the
 * same type is large enough, and only what does not fit is allocated. Memory is not zero-filled
 * (libnd4j's own buffers are), so a page costs nothing until a layer writes it: a forward pass
 * alone never touches the gradient buffers. With libnd4j's buffers and a new shape every batch, as
 * in inference over rows of different lengths, the zero fill and its page faults were 40% of the
 * time. Memory holds whatever was there before; every layer writes its buffers before reading them.
 *
 * <p>Allocation code asks for buffers through {@link Ops#buffer} while {@link #allocate} or
 * {@link #add} runs on the same thread.
 */
public final class BufferSet {
    private static volatile boolean poison;

    private static final ThreadLocal<BufferSet> OPEN = new ThreadLocal<>();

    /** Memory in use by the current shape, in the order it was asked for. */
    private final List<Block> storage = new ArrayList<>();
    /** The last shape's memory, in the order it was asked for; null where the current shape took it. */
    private final List<Block> spare = new ArrayList<>();
    /** Buffers asked for since the current shape's {@link #allocate}. */
    private int requests;
    /** The current shape's shared scratch memory, by slot ({@link Ops#scratch}). */
    private final java.util.Map<String, Block> shared = new java.util.HashMap<>();
    /** Whether new memory counts against JavaCPP's maxbytes (see {@link #forInference}). */
    private boolean counted = true;

    /**
     * New memory of this set stays out of JavaCPP's count (maxbytes). An inference model's set is
     * a training-sized one whose backward buffers are never touched, so its pages are the forward
     * pass's: counting its full size stopped two tasks of all-MiniLM-L6-v2 (batches of 64) at
     * 5-8 GB with 1-3 GB resident. Resident memory stays bounded by maxphysicalbytes, checked at
     * every JavaCPP allocation.
     */
    public void forInference() {
        counted = false;
    }

    /** Frees the uncounted blocks of sets the garbage collector found unreachable. */
    private static final java.lang.ref.Cleaner CLEANER = java.lang.ref.Cleaner.create();

    /** Memory for {@code capacity} elements of {@code type}, freed by {@link #free} or by the garbage collector. */
    private record Block(DataType type, long capacity, BytePointer memory, java.lang.ref.Cleaner.Cleanable uncounted) {
        static Block allocate(DataType type, long capacity, boolean counted) {
            long bytes = Math.max(1, capacity) * type.width();
            if (counted) {
                // JavaCPP's allocation: malloc, no zero fill, counted against org.bytedeco.javacpp.maxbytes
                return new Block(type, capacity, new BytePointer(bytes), null);
            }
            Pointer raw = Pointer.malloc(bytes);
            if (raw == null || raw.isNull()) {
                throw new OutOfMemoryError("cannot allocate " + bytes + " bytes for an inference buffer");
            }
            BytePointer memory = new BytePointer(raw).capacity(bytes).limit(bytes);
            return new Block(type, capacity, memory, CLEANER.register(memory, () -> Pointer.free(raw)));
        }

        void free() {
            if (uncounted != null) {
                uncounted.clean();
            } else {
                memory.deallocate();
            }
        }
    }

    /** For tests: fill memory with NaN as it is handed out, so a layer that reads a buffer before writing it shows. */
    public static void setPoison(boolean poison) {
        BufferSet.poison = poison;
    }

    /**
     * Runs allocation code for a new shape: every buffer it asks for reuses this set's memory where
     * one fits, and the last shape's memory it did not take is freed. (Kept until the next shape,
     * it doubled what a set held after each growth: inference over length-sorted chunks grows a
     * few times a partition, and two tasks' sets of all-MiniLM-L6-v2 reached JavaCPP's 8 GB
     * limit.)
     */
    public void allocate(Runnable allocation) {
        freeSpare();
        spare.addAll(storage);
        storage.clear();
        shared.clear();
        requests = 0;
        record(allocation);
        freeSpare();
    }

    /** Runs more allocation code for the current shape (buffers a later pass needs), in new memory. */
    public void add(Runnable allocation) {
        record(allocation);
        freeSpare();
    }

    /** Bytes of memory this set holds that JavaCPP counts against maxbytes. */
    public long countedBytes() {
        long n = 0;
        for (Block b : storage) {
            n += b.uncounted() == null ? b.capacity() * b.type().width() : 0;
        }
        return n;
    }

    /** Bytes of memory this set holds (used and spare). */
    public long bytes() {
        long n = 0;
        for (Block b : storage) {
            n += b.capacity() * b.type().width();
        }
        for (Block b : spare) {
            n += b == null ? 0 : b.capacity() * b.type().width();
        }
        return n;
    }

    private void record(Runnable allocation) {
        if (OPEN.get() != null) {
            throw new IllegalStateException("buffer allocation is already being recorded on this thread");
        }
        OPEN.set(this);
        try {
            allocation.run();
        } finally {
            OPEN.remove();
        }
    }

    private void freeSpare() {
        for (Block b : spare) {
            if (b != null) {
                b.free();
            }
        }
        spare.clear();
    }

    /** A buffer from the set being recorded on this thread, or null when none is. */
    static INDArray take(DataType type, long[] shape) {
        BufferSet set = OPEN.get();
        if (set == null) {
            return null;
        }
        long n = elements(shape);
        // the allocation code asks in the same order for every shape: the k-th buffer of the last
        // shape fits the k-th of a smaller one. Otherwise the smallest spare that fits.
        int k = set.requests++;
        if (n == 0) {
            return Nd4j.createUninitialized(type, shape);
        }
        int found = -1;
        if (k < set.spare.size() && fits(set.spare.get(k), type, n)) {
            found = k;
        } else {
            for (int i = 0; i < set.spare.size(); i++) {
                if (fits(set.spare.get(i), type, n) && (found < 0 || set.spare.get(i).capacity() < set.spare.get(found).capacity())) {
                    found = i;
                }
            }
        }
        Block block;
        if (found < 0) {
            block = Block.allocate(type, n, set.counted);
        } else {
            block = set.spare.set(found, null);
        }
        set.storage.add(block);
        return handOut(block, n, type, shape);
    }

    /** The first n elements of a block as a buffer of this shape (NaN-filled when poisoned, for tests). */
    private static INDArray handOut(Block block, long n, DataType type, long[] shape) {
        INDArray a = Nd4j.create(wrap(block, n), shape);
        if (poison) {
            a.assign(type.isFPType() ? Double.NaN : Integer.MIN_VALUE);
        }
        return a;
    }

    /**
     * The memory of {@code slot} as a buffer of this shape: the block the slot's first request
     * took, when it fits, else a new block (which the slot then names). Null when no set is
     * being recorded on this thread.
     */
    static INDArray takeShared(String slot, DataType type, long[] shape) {
        BufferSet set = OPEN.get();
        if (set == null) {
            return null;
        }
        long n = elements(shape);
        Block block = set.shared.get(slot);
        if (n == 0 || !fits(block, type, n)) {
            INDArray a = take(type, shape);
            if (n > 0) {
                set.shared.put(slot, set.storage.get(set.storage.size() - 1));
            }
            return a;
        }
        return handOut(block, n, type, shape);
    }

    private static long elements(long[] shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return n;
    }

    private static boolean fits(Block spare, DataType type, long n) {
        return spare != null && spare.type() == type && spare.capacity() >= n;
    }

    /**
     * The first n elements of a block as a buffer of their own: not a view (ND4J would copy on
     * reshape). A pointer made from another keeps that one, and so the block, reachable.
     */
    private static DataBuffer wrap(Block block, long n) {
        return switch (block.type()) {
            case FLOAT -> {
                FloatPointer p = new FloatPointer(block.memory()).capacity(n).limit(n);
                yield Nd4j.createBuffer(p, DataType.FLOAT, n, FloatIndexer.create(p));
            }
            case DOUBLE -> {
                DoublePointer p = new DoublePointer(block.memory()).capacity(n).limit(n);
                yield Nd4j.createBuffer(p, DataType.DOUBLE, n, DoubleIndexer.create(p));
            }
            case INT -> {
                IntPointer p = new IntPointer(block.memory()).capacity(n).limit(n);
                yield Nd4j.createBuffer(p, DataType.INT, n, IntIndexer.create(p));
            }
            default -> throw new IllegalArgumentException("no model buffers of " + block.type());
        };
    }
}
