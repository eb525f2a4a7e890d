package io.sparkformer.model;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import java.util.HashMap;
import java.util.Map;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One flat buffer laid out by a {@link ParameterLayout}, with named views into it. Parameters,
 * their gradients and AdamW's two moments are each one of these, so whole-buffer operations
 * (averaging, the optimizer step, checkpoints) never loop over tensors.
 */
public final class ParameterBuffer {
    private final ParameterLayout layout;
    private final INDArray flat;
    private final Map<String, INDArray> blockViews = new HashMap<>();
    private final Map<String, INDArray> tensorViews = new HashMap<>();

    public ParameterBuffer(ParameterLayout layout, DataType dataType) {
        this(layout, Memory.ND4J.zeros(layout, dataType));
    }

    /** A buffer of the layout in memory from {@code memory}. */
    public ParameterBuffer(ParameterLayout layout, DataType dataType, Memory memory) {
        this(layout, memory.zeros(layout, dataType));
    }

    /**
     * Where a flat buffer's memory comes from: ND4J's own allocation, or memory its caller
     * keeps (a replica's parameters in memory another process on the host can read).
     */
    @FunctionalInterface
    public interface Memory {
        /** ND4J's allocation, freed when the buffer is collected. */
        Memory ND4J = (layout, dataType) -> Nd4j.zeros(dataType, affordable(layout, dataType));

        /** A dense flat array of the layout's size and {@code dataType}, all zeros. */
        INDArray zeros(ParameterLayout layout, DataType dataType);
    }

    /**
     * A float array over {@code memory} (direct, little-endian, from position to limit), without
     * a copy: ND4J neither counts nor frees it, so the caller must keep it mapped for as long as
     * the array is used.
     */
    public static INDArray floatsOver(java.nio.ByteBuffer memory) {
        if (!memory.isDirect() || memory.order() != java.nio.ByteOrder.LITTLE_ENDIAN || memory.remaining() % 4 != 0) {
            throw new IllegalArgumentException("float memory must be direct, little-endian and whole floats: " + memory);
        }
        long length = memory.remaining() / 4;
        var pointer = new org.bytedeco.javacpp.FloatPointer(memory.asFloatBuffer());
        var data = Nd4j.createBuffer(pointer, DataType.FLOAT, length, org.bytedeco.javacpp.indexer.FloatIndexer.create(pointer));
        return Nd4j.create(data, new long[] {length}, new long[] {1}, 0, 'c', DataType.FLOAT);
    }

    /**
     * The layout's size, once it is known to fit JavaCPP's limit: a size from a config or a file
     * that does not fit ends as an OutOfMemoryError naming the limit, before ND4J is asked for it
     * (an allocation that large has crashed the JVM in native code).
     */
    private static long affordable(ParameterLayout layout, DataType dataType) {
        long size = layout.size();
        long max = org.bytedeco.javacpp.Pointer.maxBytes();
        if (max > 0 && (size > Long.MAX_VALUE / 8 || size * dataType.width() > max - org.bytedeco.javacpp.Pointer.totalBytes())) {
            throw new OutOfMemoryError("a buffer of " + size + " parameters (" + (size / (1 << 20)) * dataType.width()
                    + " MiB) does not fit what JavaCPP may still allocate: maxBytes " + (max >> 20) + " MiB, "
                    + (org.bytedeco.javacpp.Pointer.totalBytes() >> 20) + " MiB in use");
        }
        return size;
    }

    /** Wraps an existing flat array, which must have the layout's length. */
    public ParameterBuffer(ParameterLayout layout, INDArray flat) {
        if (flat.rank() != 1 || flat.length() != layout.size()) {
            throw new IllegalArgumentException("flat buffer has shape " + java.util.Arrays.toString(flat.shape())
                    + ", layout needs [" + layout.size() + "]");
        }
        this.layout = layout;
        this.flat = flat;
        for (ParameterLayout.Block b : layout.blocks().values()) {
            blockViews.put(b.name(), flat.get(interval(b.offset(), b.offset() + b.size())).reshape(b.shape()));
        }
        for (ParameterLayout.Tensor t : layout.tensors().values()) {
            INDArray block = blockViews.get(t.block());
            INDArray view;
            if (t.rank() == 1) {
                view = block.get(interval(t.colStart(), t.colStart() + t.shape()[0]));
            } else if (t.colStart() == 0 && block.size(1) == t.shape()[1]) {
                view = block;
            } else {
                view = block.get(all(), interval(t.colStart(), t.colStart() + t.shape()[1]));
            }
            tensorViews.put(t.name(), view);
        }
    }

    public ParameterLayout layout() { return layout; }

    public INDArray flat() { return flat; }

    public DataType dataType() { return flat.dataType(); }

    /** A block the layers compute with, e.g. {@code decoder.layers.0.self_attn.qkv.weight}. */
    public INDArray block(String name) {
        INDArray v = blockViews.get(name);
        if (v == null) {
            throw new IllegalArgumentException("no parameter block named " + name);
        }
        return v;
    }

    /** A spec tensor, e.g. {@code decoder.layers.0.self_attn.k.weight}; may be a strided view. */
    public INDArray tensor(String name) {
        INDArray v = tensorViews.get(name);
        if (v == null) {
            throw new IllegalArgumentException("no parameter tensor named " + name);
        }
        return v;
    }

    public void zero() {
        flat.assign(0);
    }

    public void copyFrom(ParameterBuffer other) {
        flat.assign(other.flat);
    }

    /** flat ← values, a float or double flat buffer of the same length, without a temporary copy. */
    public static void copyInto(float[] values, INDArray flat) {
        if (values.length != flat.length()) {
            throw new IllegalArgumentException(values.length + " values for a buffer of " + flat.length());
        }
        if (flat.dataType() == org.nd4j.linalg.api.buffer.DataType.FLOAT && flat.ordering() == 'c'
                && (flat.length() <= 1 || flat.elementWiseStride() == 1)) {
            flat.data().asNioFloat().put(Math.toIntExact(flat.offset()), values, 0, values.length);
        } else {
            io.sparkformer.model.layers.Ops.assignAndFree(flat, org.nd4j.linalg.factory.Nd4j.createFromArray(values));
        }
    }

    /**
     * The native memory of a dense float flat buffer as a FloatBuffer (position 0, its length):
     * the way to move a replica's vectors into and out of Spark's blocks without heap copies.
     */
    public static java.nio.FloatBuffer view(INDArray flat) {
        if (flat.dataType() != org.nd4j.linalg.api.buffer.DataType.FLOAT || flat.ordering() != 'c'
                || (flat.length() > 1 && flat.elementWiseStride() != 1)) {
            throw new IllegalArgumentException("a view needs a dense float buffer, got " + flat.dataType() + " "
                    + flat.ordering() + " stride " + flat.elementWiseStride());
        }
        int from = Math.toIntExact(flat.offset());
        return flat.data().asNioFloat().position(from).limit(from + Math.toIntExact(flat.length())).slice();
    }

    /** out ← flat, the inverse of {@link #copyInto}; returns out. */
    public static float[] copyOut(INDArray flat, float[] out) {
        if (out.length != flat.length()) {
            throw new IllegalArgumentException("a buffer of " + flat.length() + " values into an array of " + out.length);
        }
        if (flat.dataType() == org.nd4j.linalg.api.buffer.DataType.FLOAT && flat.ordering() == 'c'
                && (flat.length() <= 1 || flat.elementWiseStride() == 1)) {
            flat.data().asNioFloat().get(Math.toIntExact(flat.offset()), out, 0, out.length);
        } else {
            System.arraycopy(flat.toFloatVector(), 0, out, 0, out.length);
        }
        return out;
    }
}
