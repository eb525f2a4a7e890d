package io.sparkformer.driver.corpus;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DirectFileOutputTest {
    @TempDir
    Path dir;

    @AfterEach
    void allowDirect() {
        DirectFileOutput.directAllowed = true;
    }

    /** Bytes of every length class (empty, under a block, a block, across the buffer) come back exactly, direct or not. */
    @ParameterizedTest
    @ValueSource(ints = {0, 1, 4095, 4096, 4097, DirectFileOutput.BUFFER_BYTES, DirectFileOutput.BUFFER_BYTES + 4099})
    void theFileHoldsExactlyWhatWasWritten(int size) throws Exception {
        byte[] expected = new byte[size];
        new Random(size).nextBytes(expected);
        for (boolean direct : new boolean[] {true, false}) {
            DirectFileOutput.directAllowed = direct;
            Path file = dir.resolve("out-" + direct);
            Files.write(file, new byte[3 * size + 10]); // an older, longer file is replaced, not overwritten in part
            try (DirectFileOutput out = DirectFileOutput.create(file)) {
                if (!direct) {
                    assertFalse(out.isDirect());
                }
                // a mix of the three ways in: single bytes, arrays, and native memory
                int third = size / 3;
                for (int i = 0; i < Math.min(third, 5); i++) {
                    out.write(expected[i]);
                }
                int at = Math.min(third, 5);
                out.write(expected, at, third - at);
                ByteBuffer rest = ByteBuffer.allocateDirect(size - third).put(expected, third, size - third).flip();
                out.write(rest);
                assertFalse(rest.hasRemaining());
            }
            assertArrayEquals(expected, Files.readAllBytes(file), "direct allowed: " + direct);
        }
    }

    @Test
    void directIoIsUsedWhereTheFileSystemHasIt() throws Exception {
        Path file = dir.resolve("probe");
        try (DirectFileOutput out = DirectFileOutput.create(file)) {
            assumeTrue(out.isDirect(), dir + " is on a file system without direct I/O (tmpfs?): only the page-cache path runs here");
            out.write(new byte[5000]);
        }
        assertEquals(5000, Files.size(file));
    }
}
