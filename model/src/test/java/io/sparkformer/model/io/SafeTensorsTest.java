package io.sparkformer.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.SharedData;

class SafeTensorsTest {
    static {
        Nd4jRuntime.init();
    }

    @TempDir
    Path tmp;

    private static byte[] file(String headerJson, byte[] data) {
        byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
        ByteBuffer bb = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(h.length).put(h).put(data);
        return bb.array();
    }

    private static SafeTensors.Reader open(byte[] bytes) throws IOException {
        return SafeTensors.open(RandomAccessSource.of(bytes, "test.safetensors"));
    }

    @Test
    void floatAndDoubleRoundTripBitForBit() throws IOException {
        Nd4j.getRandom().setSeed(1);
        INDArray f = Nd4j.randn(DataType.FLOAT, 3, 5).muli(1e-3);
        INDArray d = Nd4j.randn(DataType.DOUBLE, 4).muli(1e30);
        f.putScalar(0, 0, Float.MIN_VALUE);
        d.putScalar(1, -0.0);
        Map<String, SafeTensors.Tensor> t = new LinkedHashMap<>();
        t.put("b.f", SafeTensors.Tensor.of(f));
        t.put("a.d", SafeTensors.Tensor.of(d));
        Path p = tmp.resolve("x.safetensors");
        SafeTensors.writeAtomically(p, t, Map.of("note", "hello"));
        try (var r = SafeTensors.open(p)) {
            assertEquals("hello", r.metadata().get("note"));
            assertArrayEquals(f.data().asFloat(), r.floats("b.f"));
            assertArrayEquals(new long[] {3, 5}, r.info("b.f").shape());
            double[] back = r.doubles("a.d");
            for (int i = 0; i < 4; i++) {
                assertEquals(Double.doubleToRawLongBits(d.getDouble(i)), Double.doubleToRawLongBits(back[i]));
            }
        }
        byte[] bytes = Files.readAllBytes(p);
        long headerLen = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, (8 + headerLen) % 8, "data starts 8-byte aligned");
        try (var files = Files.list(tmp)) {
            assertEquals(1, files.count(), "no temporary file left behind");
        }
    }

    @Test
    void writesAStridedViewAsItsValues() throws IOException {
        INDArray block = Nd4j.arange(12).castTo(DataType.FLOAT).reshape(3, 4);
        INDArray cols = block.get(org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 3));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        SafeTensors.write(out, Map.of("v", SafeTensors.Tensor.of(cols)), Map.of());
        try (var r = open(out.toByteArray())) {
            assertArrayEquals(new float[] {1, 2, 5, 6, 9, 10}, r.floats("v"));
        }
    }

    /**
     * Views whose rows are contiguous (some columns of a wider matrix, as one projection of a
     * fused Q/K/V weight; a piece of a flat vector) stream row by row, not copied: the
     * bytes are the row-major copy's, through a plain stream and through a channel alike.
     */
    @Test
    void writesRowStridedViewsAsTheirRowMajorCopiesWouldBe() throws IOException {
        INDArray fused = Nd4j.arange(5 * 9).castTo(DataType.FLOAT).reshape(5, 9);
        INDArray k = fused.get(org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.interval(3, 6));
        INDArray bias = Nd4j.arange(20).castTo(DataType.DOUBLE).get(org.nd4j.linalg.indexing.NDArrayIndex.interval(5, 12));
        Map<String, SafeTensors.Tensor> views = Map.of("k", SafeTensors.Tensor.of(k), "bias", SafeTensors.Tensor.of(bias));
        Map<String, SafeTensors.Tensor> copies = Map.of("k", SafeTensors.Tensor.of(k.dup('c')), "bias",
                SafeTensors.Tensor.of(bias.dup('c')));
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        SafeTensors.write(expected, copies, Map.of());
        ByteArrayOutputStream streamed = new ByteArrayOutputStream();
        SafeTensors.write(streamed, views, Map.of());
        assertArrayEquals(expected.toByteArray(), streamed.toByteArray(), "through an OutputStream");
        ChannelStream channel = new ChannelStream();
        SafeTensors.write(channel, views, Map.of());
        assertArrayEquals(expected.toByteArray(), channel.toByteArray(), "through a WritableByteChannel");
        try (var r = open(streamed.toByteArray())) {
            assertArrayEquals(new float[] {3, 4, 5, 12, 13, 14, 21, 22, 23, 30, 31, 32, 39, 40, 41}, r.floats("k"));
        }
    }

    /** An output stream that is also a channel, as the direct-I/O file output is. */
    private static final class ChannelStream extends ByteArrayOutputStream implements java.nio.channels.WritableByteChannel {
        @Override
        public int write(ByteBuffer src) {
            int n = src.remaining();
            byte[] b = new byte[n];
            src.get(b);
            write(b, 0, n);
            return n;
        }

        @Override
        public boolean isOpen() {
            return true;
        }
    }

    @Test
    void readsTheReferenceGoldenFiles() throws IOException {
        Path dir = SharedData.goldenDir();
        try (var r = SafeTensors.open(dir.resolve("decoder_preln_learned_gelu.safetensors"))) {
            assertTrue(r.metadata().containsKey("config"));
            assertArrayEquals(new long[] {13, 16}, r.info("tok_emb").shape());
            assertEquals(SafeTensors.DType.I32, r.info("input.ids").dtype());
        }
    }

    @Test
    void truncatedFileIsAClearError() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        SafeTensors.write(out, Map.of("w", SafeTensors.Tensor.of(Nd4j.ones(DataType.FLOAT, 10))), Map.of());
        byte[] full = out.toByteArray();
        byte[] cut = Arrays.copyOf(full, full.length - 5);
        var e = assertThrows(SafeTensorsException.class, () -> open(cut));
        assertTrue(e.getMessage().contains("test.safetensors"), e.getMessage());
        assertTrue(e.getMessage().contains("'w'"), e.getMessage());
        var e2 = assertThrows(SafeTensorsException.class, () -> open(Arrays.copyOf(full, 5)));
        assertTrue(e2.getMessage().contains("shorter than the 8-byte header"), e2.getMessage());
        var e3 = assertThrows(SafeTensorsException.class, () -> open(Arrays.copyOf(full, 20)));
        assertTrue(e3.getMessage().contains("header length"), e3.getMessage());
    }

    @Test
    void rejectsMalformedHeaders() {
        byte[] four = new byte[4];
        assertRejects(file("not json at all", four), "not JSON");
        assertRejects(file("[1,2]", four), "not a JSON object");
        assertRejects(file("{\"w\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", four), "unknown dtype");
        assertRejects(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", four), "needs 8");
        assertRejects(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", four), "invalid shape");
        assertRejects(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", four), "outside");
        assertRejects(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", four), "needs dtype, shape and data_offsets");
        assertRejects(file("{\"__metadata__\":{\"a\":1},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", four),
                "not a string");
        assertRejects(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[8]), "overlapping");
        assertRejects(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[12]),
                "tensors cover 4");
        ByteBuffer huge = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE);
        assertRejects(huge.array(), "header length");
    }

    @Test
    void missingTensorAndMissingFileAreNamed() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        SafeTensors.write(out, Map.of("w", SafeTensors.Tensor.of(Nd4j.ones(DataType.FLOAT, 2))), Map.of());
        try (var r = open(out.toByteArray())) {
            var e = assertThrows(SafeTensorsException.class, () -> r.floats("nope"));
            assertTrue(e.getMessage().contains("no tensor named 'nope'"), e.getMessage());
            assertFalse(r.has("nope"));
        }
        var e = assertThrows(java.io.FileNotFoundException.class, () -> SafeTensors.open(tmp.resolve("absent.safetensors")));
        assertTrue(e.getMessage().contains("absent.safetensors"));
    }

    private static void assertRejects(byte[] bytes, String expected) {
        var e = assertThrows(SafeTensorsException.class, () -> open(bytes));
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
        assertTrue(e.getMessage().startsWith("test.safetensors"), e.getMessage());
    }
}
