package io.sparkformer.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

/** float16 and bfloat16 tensors (as Hugging Face checkpoints often hold them) read as the floats they stand for. */
class HalfPrecisionTest {
    @Test
    void float16AndBfloat16ReadExactly() throws Exception {
        // float16 bit patterns: 1, -2.5, 65504 (the largest), 2^-24 (the smallest subnormal), -0, infinity
        short[] f16 = {0x3c00, (short) 0xc100, 0x7bff, 0x0001, (short) 0x8000, 0x7c00};
        float[] f16Values = {1f, -2.5f, 65504f, 0x1p-24f, -0f, Float.POSITIVE_INFINITY};
        // bfloat16 is a float's upper half: 1, -2.5, 3.3895314e38 (the largest), 2^-133
        float[] bf16Values = {1f, -2.5f, Float.intBitsToFloat(0x7f7f0000), Float.intBitsToFloat(0x00010000)};
        short[] bf16 = new short[bf16Values.length];
        for (int i = 0; i < bf16.length; i++) {
            bf16[i] = (short) (Float.floatToRawIntBits(bf16Values[i]) >>> 16);
        }
        try (SafeTensors.Reader r = SafeTensors.open(RandomAccessSource.of(file(f16, bf16), "half.safetensors"))) {
            assertArrayEquals(f16Values, r.floats("h"));
            assertArrayEquals(bf16Values, r.floats("b"));
        }
    }

    private static byte[] file(short[] f16, short[] bf16) throws Exception {
        String header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[" + f16.length + "],\"data_offsets\":[0," + 2 * f16.length + "]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[" + bf16.length + "],\"data_offsets\":[" + 2 * f16.length + ","
                + 2 * (f16.length + bf16.length) + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer data = ByteBuffer.allocate(2 * (f16.length + bf16.length)).order(ByteOrder.LITTLE_ENDIAN);
        for (short s : f16) {
            data.putShort(s);
        }
        for (short s : bf16) {
            data.putShort(s);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
        out.write(h);
        out.write(data.array());
        return out.toByteArray();
    }
}
