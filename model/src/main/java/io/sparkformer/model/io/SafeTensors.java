package io.sparkformer.model.io;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header of tensor entries
 * (dtype, shape, data_offsets) and {@code __metadata__} strings, then raw little-endian data.
 * Reading parses data only: nothing in a file can run code. Every offset is checked against the
 * file before it is used.
 */
public final class SafeTensors {
    /** The same limit as the reference implementation's. */
    static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;
    private static final ObjectMapper JSON = new ObjectMapper();

    public enum DType {
        F64(8), F32(4), F16(2), BF16(2), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1);

        public final int bytes;

        DType(int bytes) { this.bytes = bytes; }

        static DType of(DataType t) {
            return switch (t) {
                case DOUBLE -> F64;
                case FLOAT -> F32;
                case LONG -> I64;
                case INT -> I32;
                default -> throw new IllegalArgumentException("no safetensors dtype for " + t);
            };
        }
    }

    /** A tensor's entry in the header; data lies at [begin, end) of the data section. */
    public record Info(String name, DType dtype, long[] shape, long begin, long end) {
        public long elements() {
            long n = 1;
            for (long s : shape) {
                n *= s;
            }
            return n;
        }
    }

    private SafeTensors() {}

    // ------------------------------------------------------------------ reading

    /** An open safetensors file: the validated header, with tensors read on demand. */
    public static final class Reader implements AutoCloseable {
        private final RandomAccessSource source;
        private final long dataStart;
        private final Map<String, Info> tensors;
        private final Map<String, String> metadata;

        private Reader(RandomAccessSource source, long dataStart, Map<String, Info> tensors, Map<String, String> metadata) {
            this.source = source;
            this.dataStart = dataStart;
            this.tensors = tensors;
            this.metadata = metadata;
        }

        public String name() { return source.name(); }

        public Map<String, String> metadata() { return metadata; }

        /** Tensor entries by name, in header order. */
        public Map<String, Info> tensors() { return tensors; }

        public boolean has(String tensor) { return tensors.containsKey(tensor); }

        public Info info(String tensor) throws SafeTensorsException {
            Info i = tensors.get(tensor);
            if (i == null) {
                throw new SafeTensorsException(source.name(), "has no tensor named '" + tensor + "'");
            }
            return i;
        }

        private ByteBuffer bytes(Info info) throws IOException {
            long n = info.end() - info.begin();
            if (n > Integer.MAX_VALUE - 16) {
                throw new SafeTensorsException(source.name(), "tensor '" + info.name() + "' is over 2 GiB");
            }
            byte[] b = new byte[(int) n];
            source.readFully(dataStart + info.begin(), b, 0, b.length);
            return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        }

        /** The tensor as doubles, converting from any float (F64, F32, F16, BF16) or int dtype. */
        public double[] doubles(String tensor) throws IOException {
            Info info = info(tensor);
            ByteBuffer bb = bytes(info);
            double[] out = new double[(int) info.elements()];
            for (int i = 0; i < out.length; i++) {
                out[i] = switch (info.dtype()) {
                    case F64 -> bb.getDouble();
                    case F32 -> bb.getFloat();
                    case F16 -> halfToFloat(bb.getShort());
                    case BF16 -> Float.intBitsToFloat((bb.getShort() & 0xffff) << 16);
                    case I64 -> bb.getLong();
                    case I32 -> bb.getInt();
                    case I16 -> bb.getShort();
                    case I8 -> bb.get();
                    case U8, BOOL -> bb.get() & 0xff;
                    default -> throw new SafeTensorsException(source.name(),
                            "tensor '" + tensor + "' has dtype " + info.dtype() + ", which this reader does not convert");
                };
            }
            return out;
        }

        /** IEEE 754 half precision to float, exactly (subnormals, infinities and NaN included). */
        static float halfToFloat(short half) {
            int h = half & 0xffff;
            int sign = (h & 0x8000) << 16;
            int exponent = (h >>> 10) & 0x1f;
            int mantissa = h & 0x3ff;
            if (exponent == 0x1f) {
                return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
            }
            if (exponent == 0) {
                float subnormal = mantissa * 0x1p-24f;
                return sign == 0 ? subnormal : -subnormal;
            }
            return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
        }

        /** The tensor as floats: exact for F32 data (and for F16 and BF16, which floats hold exactly). */
        public float[] floats(String tensor) throws IOException {
            Info info = info(tensor);
            if (info.dtype() == DType.F32) {
                float[] out = new float[(int) info.elements()];
                bytes(info).asFloatBuffer().get(out);
                return out;
            }
            double[] d = doubles(tensor);
            float[] out = new float[d.length];
            for (int i = 0; i < d.length; i++) {
                out[i] = (float) d[i];
            }
            return out;
        }

        /** An integer tensor (I32, I64, I16, I8, U8) as ints. */
        public int[] ints(String tensor) throws IOException {
            Info info = info(tensor);
            if (info.dtype() == DType.F64 || info.dtype() == DType.F32 || info.dtype() == DType.F16
                    || info.dtype() == DType.BF16) {
                throw new SafeTensorsException(source.name(), "tensor '" + tensor + "' has dtype " + info.dtype()
                        + ", expected an integer type");
            }
            double[] d = doubles(tensor);
            int[] out = new int[d.length];
            for (int i = 0; i < d.length; i++) {
                out[i] = (int) d[i];
            }
            return out;
        }

        /** The tensor as an ND4J array of the given type and the stored shape. */
        public INDArray array(String tensor, DataType type) throws IOException {
            Info info = info(tensor);
            INDArray a = type == DataType.FLOAT ? Nd4j.createFromArray(floats(tensor))
                    : Nd4j.createFromArray(doubles(tensor)).castTo(type);
            return info.shape().length == 0 ? a.reshape() : a.reshape(info.shape());
        }

        /**
         * Copies the tensor into {@code target} (its shape and row-major order already checked by
         * the caller's layout), a megabyte at a time when the file's dtype is the target's: no
         * heap copy of the whole tensor.
         */
        public void readInto(String tensor, INDArray target) throws IOException {
            Info info = info(tensor);
            if (info.elements() != target.length()) {
                throw new SafeTensorsException(source.name(), "tensor '" + tensor + "' has " + info.elements()
                        + " values, the target holds " + target.length());
            }
            boolean direct = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN && target.ordering() == 'c'
                    && org.nd4j.linalg.api.shape.Shape.hasDefaultStridesForShape(target)
                    && (info.dtype() == DType.F32 && target.dataType() == DataType.FLOAT
                        || info.dtype() == DType.F64 && target.dataType() == DataType.DOUBLE);
            if (!direct) {
                target.assign(array(tensor, target.dataType()));
                return;
            }
            ByteBuffer all = target.data().asNio();
            int from = Math.toIntExact(target.offset() * info.dtype().bytes);
            long n = info.end() - info.begin();
            byte[] chunk = new byte[(int) Math.min(CHUNK_BYTES, n)];
            for (long done = 0; done < n; done += chunk.length) {
                int len = (int) Math.min(chunk.length, n - done);
                source.readFully(dataStart + info.begin() + done, chunk, 0, len);
                all.duplicate().position(Math.toIntExact(from + done)).put(chunk, 0, len);
            }
        }

        @Override
        public void close() throws IOException {
            source.close();
        }
    }

    public static Reader open(Path path) throws IOException {
        if (!Files.isRegularFile(path)) {
            throw new java.io.FileNotFoundException(path + ": no such file");
        }
        return open(RandomAccessSource.of(path));
    }

    /** Reads and validates the header; the source is closed on failure, else by the reader. */
    public static Reader open(RandomAccessSource source) throws IOException {
        try {
            return parse(source);
        } catch (IOException | RuntimeException e) {
            source.close();
            throw e;
        }
    }

    private static Reader parse(RandomAccessSource source) throws IOException {
        String name = source.name();
        long size = source.size();
        if (size < 8) {
            throw new SafeTensorsException(name, "only " + size + " bytes, shorter than the 8-byte header length");
        }
        byte[] lenBytes = new byte[8];
        source.readFully(0, lenBytes, 0, 8);
        long headerLen = ByteBuffer.wrap(lenBytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || headerLen > size - 8) {
            throw new SafeTensorsException(name, "header length " + headerLen + " does not fit a file of "
                    + size + " bytes (truncated or not safetensors)");
        }
        byte[] header = new byte[(int) headerLen];
        source.readFully(8, header, 0, header.length);
        JsonNode root;
        try {
            root = JSON.readTree(new String(header, StandardCharsets.UTF_8).trim());
        } catch (JsonProcessingException e) {
            throw new SafeTensorsException(name, "header is not JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new SafeTensorsException(name, "header is not a JSON object");
        }
        long dataStart = 8 + headerLen;
        long dataLen = size - dataStart;
        Map<String, String> metadata = new LinkedHashMap<>();
        Map<String, Info> tensors = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext();) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                if (!e.getValue().isObject()) {
                    throw new SafeTensorsException(name, "__metadata__ is not an object");
                }
                for (Iterator<Map.Entry<String, JsonNode>> m = e.getValue().fields(); m.hasNext();) {
                    Map.Entry<String, JsonNode> kv = m.next();
                    if (!kv.getValue().isTextual()) {
                        throw new SafeTensorsException(name, "__metadata__." + kv.getKey() + " is not a string");
                    }
                    metadata.put(kv.getKey(), kv.getValue().asText());
                }
                continue;
            }
            tensors.put(e.getKey(), entry(name, e.getKey(), e.getValue(), dataLen));
        }
        checkCoverage(name, tensors, dataLen);
        return new Reader(source, dataStart, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    private static Info entry(String file, String tensor, JsonNode node, long dataLen) throws SafeTensorsException {
        String where = "tensor '" + tensor + "'";
        if (!node.isObject() || !node.has("dtype") || !node.has("shape") || !node.has("data_offsets")) {
            throw new SafeTensorsException(file, where + " needs dtype, shape and data_offsets");
        }
        DType dtype;
        try {
            dtype = DType.valueOf(node.get("dtype").asText());
        } catch (IllegalArgumentException e) {
            throw new SafeTensorsException(file, where + " has unknown dtype " + node.get("dtype"));
        }
        JsonNode shapeNode = node.get("shape");
        if (!shapeNode.isArray()) {
            throw new SafeTensorsException(file, where + " has a shape that is not a list");
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode s = shapeNode.get(i);
            if (!s.canConvertToLong() || !s.isIntegralNumber() || s.asLong() < 0) {
                throw new SafeTensorsException(file, where + " has an invalid shape " + shapeNode);
            }
            shape[i] = s.asLong();
            try {
                elements = Math.multiplyExact(elements, shape[i]);
            } catch (ArithmeticException overflow) {
                throw new SafeTensorsException(file, where + " has a shape too large to address " + shapeNode);
            }
        }
        JsonNode off = node.get("data_offsets");
        if (!off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()) {
            throw new SafeTensorsException(file, where + " has invalid data_offsets " + off);
        }
        long begin = off.get(0).asLong();
        long end = off.get(1).asLong();
        if (begin < 0 || end < begin || end > dataLen) {
            throw new SafeTensorsException(file, where + " has data_offsets [" + begin + ", " + end
                    + "] outside the " + dataLen + " data bytes (truncated file?)");
        }
        if (elements > Long.MAX_VALUE / 8 || end - begin != elements * dtype.bytes) {
            throw new SafeTensorsException(file, where + " holds " + (end - begin) + " bytes, but shape "
                    + java.util.Arrays.toString(shape) + " of " + dtype + " needs " + elements * dtype.bytes);
        }
        return new Info(tensor, dtype, shape, begin, end);
    }

    /** Tensors must tile the data section exactly: no gaps, no overlaps, nothing after. */
    private static void checkCoverage(String file, Map<String, Info> tensors, long dataLen) throws SafeTensorsException {
        List<Info> sorted = new ArrayList<>(tensors.values());
        sorted.sort((a, b) -> a.begin() != b.begin() ? Long.compare(a.begin(), b.begin()) : Long.compare(a.end(), b.end()));
        long expected = 0;
        for (Info i : sorted) {
            if (i.begin() != expected) {
                throw new SafeTensorsException(file, "tensor '" + i.name() + "' starts at byte " + i.begin()
                        + ", expected " + expected + " (overlapping or gapped data)");
            }
            expected = i.end();
        }
        if (expected != dataLen) {
            throw new SafeTensorsException(file, "data section has " + dataLen + " bytes but tensors cover " + expected);
        }
    }

    // ------------------------------------------------------------------ writing

    /**
     * Bytes copied at a time when a tensor streams between a file and native memory: under
     * half of G1's smallest region, so the chunk is not a humongous object (a 1 MiB one per
     * tensor started a concurrent cycle each while a checkpoint was written).
     */
    private static final int CHUNK_BYTES = 1 << 18;

    /**
     * A tensor to write: its dtype, shape and little-endian bytes. A float32 or float64 array
     * whose rows lie contiguous in memory (row-major, or a view of some columns of a wider
     * matrix, such as one projection of a fused Q/K/V weight) is not copied: its values stream
     * from native memory to the file, a row or a megabyte at a time, when it is written. (A copy
     * of each view of GPT-2 small's Q/K/V weights was 85 MB of native memory a vector, and half a
     * second of a checkpoint round's exchange for the moments.)
     */
    public static final class Tensor {
        private final DType dtype;
        private final long[] shape;
        private final byte[] bytes;
        private final INDArray source;
        /** The source's elements as rows: how many, their length, and the distance between their starts. */
        private final long rows;
        private final long rowLength;
        private final long rowStride;

        private Tensor(DType dtype, long[] shape, byte[] bytes, INDArray source, long rows, long rowLength, long rowStride) {
            this.dtype = dtype;
            this.shape = shape;
            this.bytes = bytes;
            this.source = source;
            this.rows = rows;
            this.rowLength = rowLength;
            this.rowStride = rowStride;
        }

        public static Tensor of(INDArray array) {
            DType dtype = DType.of(array.dataType());
            boolean rowMajor = array.ordering() == 'c' && org.nd4j.linalg.api.shape.Shape.hasDefaultStridesForShape(array);
            if ((dtype == DType.F32 || dtype == DType.F64) && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
                long[] stride = array.stride();
                if (rowMajor || array.length() <= 1 || array.rank() == 1 && stride[0] == 1) {
                    return new Tensor(dtype, array.shape(), null, array, 1, array.length(), array.length());
                }
                if (array.rank() == 2 && stride[1] == 1 && stride[0] >= array.size(1)) {
                    return new Tensor(dtype, array.shape(), null, array, array.size(0), array.size(1), stride[0]);
                }
                INDArray c = array.dup('c');
                return new Tensor(dtype, array.shape(), null, c, 1, c.length(), c.length());
            }
            INDArray c = rowMajor ? array : array.dup('c');
            ByteBuffer bb = ByteBuffer.allocate(Math.toIntExact(c.length() * dtype.bytes)).order(ByteOrder.LITTLE_ENDIAN);
            switch (dtype) {
                case F64 -> { for (double v : c.data().asDouble()) { bb.putDouble(v); } }
                case F32 -> { for (float v : c.data().asFloat()) { bb.putFloat(v); } }
                case I64 -> { for (long v : c.data().asLong()) { bb.putLong(v); } }
                case I32 -> { for (int v : c.data().asInt()) { bb.putInt(v); } }
                default -> throw new IllegalArgumentException("cannot write " + dtype);
            }
            return new Tensor(dtype, array.shape(), bb.array(), null, 0, 0, 0);
        }

        public static Tensor scalarLong(long v) {
            return new Tensor(DType.I64, new long[] {1},
                    ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array(), null, 0, 0, 0);
        }

        public DType dtype() { return dtype; }

        public long[] shape() { return shape.clone(); }

        public long byteLength() {
            return bytes != null ? bytes.length : rows * rowLength * dtype.bytes;
        }

        void writeTo(OutputStream out) throws IOException {
            if (bytes != null) {
                out.write(bytes);
                return;
            }
            if (rows * rowLength == 0) {
                return; // an empty tensor: no bytes, and maybe no buffer to read
            }
            // the buffer's bytes in native order, which is little-endian here (checked in of)
            ByteBuffer all = source.data().asNio();
            long start = source.offset() * dtype.bytes;
            long rowBytes = rowLength * dtype.bytes;
            java.nio.channels.WritableByteChannel channel = out instanceof java.nio.channels.WritableByteChannel ch ? ch : null;
            byte[] chunk = channel != null ? null : new byte[(int) Math.min(CHUNK_BYTES, rowBytes)];
            for (long r = 0; r < rows; r++) {
                long from = start + r * rowStride * dtype.bytes;
                long end = from + rowBytes;
                if (channel != null) { // no array between native memory and the file
                    ByteBuffer range = all.duplicate().position(Math.toIntExact(from)).limit(Math.toIntExact(end));
                    while (range.hasRemaining()) {
                        channel.write(range);
                    }
                    continue;
                }
                for (long at = from; at < end; at += chunk.length) {
                    int n = (int) Math.min(chunk.length, end - at);
                    all.duplicate().position(Math.toIntExact(at)).get(chunk, 0, n);
                    out.write(chunk, 0, n);
                }
            }
        }
    }

    /** Writes tensors (in name order) and metadata to out. */
    public static void write(OutputStream out, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            new TreeMap<>(metadata).forEach(meta::put);
        }
        long offset = 0;
        Map<String, Tensor> sorted = new TreeMap<>(tensors);
        for (Map.Entry<String, Tensor> e : sorted.entrySet()) {
            Tensor t = e.getValue();
            ObjectNode entry = header.putObject(e.getKey());
            entry.put("dtype", t.dtype().name());
            var shape = entry.putArray("shape");
            for (long s : t.shape()) {
                shape.add(s);
            }
            var offs = entry.putArray("data_offsets");
            offs.add(offset);
            offs.add(offset + t.byteLength());
            offset += t.byteLength();
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8; // data then starts 8-byte aligned
        byte[] headerBytes = new byte[padded];
        java.util.Arrays.fill(headerBytes, (byte) ' ');
        System.arraycopy(json, 0, headerBytes, 0, json.length);
        out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
        out.write(headerBytes);
        for (Tensor t : sorted.values()) {
            t.writeTo(out);
        }
        out.flush();
    }

    /** Writes to a temporary file beside path, forces it to disk, then renames it into place. */
    public static void writeAtomically(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        Path dir = path.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + path.getFileName(), ".tmp");
        try {
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
                write(out, tensors, metadata);
            }
            try (var ch = java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            try {
                Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
