package io.sparkformer.model.layers;

import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import sun.misc.Unsafe;

/**
 * Bulk copies between a float32 array's native memory and a Java array, for the host loops.
 * A NIO view of the buffer (what these copies went through before) is made by a JNI call of
 * about 0.8 µs each time, which the loops paid per piece; this is one memory copy. A loop that
 * reads and writes in place through the Vector API takes one such view per call ({@link #bytes}).
 * Bounds are checked here, against the array's length, before any copy.
 */
final class NativeCopy {
    private static final Unsafe UNSAFE = unsafe();
    private static final long FLOATS = Unsafe.ARRAY_FLOAT_BASE_OFFSET;

    private NativeCopy() {}

    /** dst[0, n) ← a's elements [from, from + n) (a contiguous float32 array). */
    static void toArray(INDArray a, long from, float[] dst, int n) {
        UNSAFE.copyMemory(null, address(a, from, n), dst, FLOATS, 4L * check(dst, n));
    }

    /** a's elements [from, from + n) ← src[0, n). */
    static void fromArray(float[] src, INDArray a, long from, int n) {
        UNSAFE.copyMemory(src, FLOATS, null, address(a, from, n), 4L * check(src, n));
    }

    /** The address of a's first element, once a is known to hold at least n float32 values. */
    static long base(INDArray a, long n) {
        return address(a, 0, n);
    }

    /**
     * a's elements [0, n) (a contiguous float32 array) as a little-endian view of its native
     * memory, for loops that read and write in place; n · 4 must fit an int.
     */
    static ByteBuffer bytes(INDArray a, long n) {
        base(a, n); // the type and bounds checks
        int at = Math.toIntExact(4L * a.offset());
        ByteBuffer all = a.data().asNio();
        return all.duplicate().position(at).limit(Math.toIntExact(at + 4L * n)).slice()
                .order(ByteOrder.LITTLE_ENDIAN);
    }

    /** n floats from one native address to another (addresses from {@link #base}, ranges within them). */
    static void floats(long from, long to, long n) {
        UNSAFE.copyMemory(from, to, 4L * n);
    }

    private static long address(INDArray a, long from, long n) {
        if (a.dataType() != DataType.FLOAT || from < 0 || n < 0 || from + n > a.length()) {
            throw new IndexOutOfBoundsException("elements [" + from + ", " + (from + n) + ") of a " + a.dataType()
                    + " array of " + a.length());
        }
        return a.data().address() + 4L * (a.offset() + from);
    }

    private static int check(float[] array, int n) {
        if (n > array.length) {
            throw new IndexOutOfBoundsException(n + " values do not fit an array of " + array.length);
        }
        return n;
    }

    private static Unsafe unsafe() {
        try {
            Field f = Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (Unsafe) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("the host loops need sun.misc.Unsafe for their copies", e);
        }
    }
}
