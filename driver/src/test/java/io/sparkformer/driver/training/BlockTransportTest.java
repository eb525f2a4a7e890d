package io.sparkformer.driver.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

import org.apache.spark.SparkEnv;
import org.apache.spark.storage.BlockId;
import org.junit.jupiter.api.Test;

import io.sparkformer.driver.SparkTestBase;

/**
 * The exchange's own transport, asked by this JVM of its own server (in local mode no block is
 * remote, so the all-reduce never takes this path here; the standalone cluster's tests do).
 */
class BlockTransportTest extends SparkTestBase {
    @Test
    void aStoredChunkComesBackWholeAndWhatIsNotServedIsRefusedWithoutBreakingTheConnection() throws Exception {
        sc.parallelize(java.util.List.of(1), 1).foreach(x -> { });
        long n = BlockVectors.CHUNK_FLOATS + 1_001L; // two chunks, the second short
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = i * 0.125f - 3;
        }
        String name = "transport_" + System.nanoTime();
        BlockVectors.put(name, v, 0, n, BlockAllReduce.KEPT_ONCE);
        assertNotNull(BlockTransport.localAddress(), "storing a block starts the server");
        var self = SparkEnv.get().blockManager().blockManagerId();

        float[] back = new float[v.length];
        FloatBuffer out = FloatBuffer.wrap(back);
        for (int c = 0; c < 2; c++) {
            long floats = Math.min(BlockVectors.CHUNK_FLOATS, n - (long) c * BlockVectors.CHUNK_FLOATS);
            ByteBuffer bytes = BlockTransport.fetch(self, BlockVectors.chunkId(name, c), 4 * floats);
            assertNotNull(bytes, "chunk " + c);
            assertEquals(ByteOrder.LITTLE_ENDIAN, bytes.order());
            assertEquals(4 * floats, bytes.remaining());
            out.put(bytes.asFloatBuffer());
            BlockTransport.giveBack(bytes);
        }
        org.junit.jupiter.api.Assertions.assertArrayEquals(v, back);

        assertNull(BlockTransport.fetch(self, BlockVectors.chunkId("nowhere_" + System.nanoTime(), 0), 16),
                "a block not stored here: Spark's fetch decides");
        assertNull(BlockTransport.fetch(self, BlockId.apply("broadcast_0"), 16), "only the exchange's blocks are served");
        ByteBuffer again = BlockTransport.fetch(self, BlockVectors.chunkId(name, 1), 4 * 1_001L);
        assertNotNull(again, "the connection is still in step after refusals");
        assertEquals(v[BlockVectors.CHUNK_FLOATS + 1000], again.asFloatBuffer().get(1000));
        BlockTransport.giveBack(again);
        BlockVectors.remove(name, n);
    }

    /** A peer that accepts and never answers (a frozen executor) costs the timeout, not the round. */
    @Test
    void aPeerThatNeverAnswersTimesOutToSparksFetch() throws Exception {
        try (java.nio.channels.ServerSocketChannel silent = java.nio.channels.ServerSocketChannel.open()) {
            silent.bind(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0));
            Thread holder = new Thread(() -> {
                try {
                    silent.accept(); // and say nothing
                } catch (java.io.IOException e) {
                    // closed by the test's end
                }
            });
            holder.setDaemon(true);
            holder.start();
            var address = (java.net.InetSocketAddress) silent.getLocalAddress();
            ByteBuffer got = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(30),
                    () -> BlockTransport.fetchFrom(address, BlockVectors.chunkId("silent", 0), 16, 300));
            assertNull(got, "no answer: null, and Spark's fetch decides");
        }
    }
}
