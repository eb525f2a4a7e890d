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

    /**
     * Executors on one host: a block in shared memory is read where its holder keeps it (here
     * this JVM's own server, through /proc as a peer would), the same bytes as over the socket;
     * the region's file is gone from /dev/shm as soon as it is mapped; a path with the wrong
     * token is refused.
     */
    @Test
    void aBlockInSharedMemoryIsReadInPlaceByAPeerOnThisHost() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(SharedMemory.available(), "this host has no /dev/shm and /proc");
        sc.parallelize(java.util.List.of(1), 1).foreach(x -> { });
        java.util.Set<String> before = shmFiles();
        BlockMemory.trim(0); // free regions of earlier tests are ordinary memory
        BlockMemory.sharingOverride = true;
        String name = "shared_" + System.nanoTime();
        long n = BlockVectors.CHUNK_FLOATS + 20_000L; // a second chunk large enough for a region of its own
        try {
            float[] v = new float[Math.toIntExact(n)];
            for (int i = 0; i < v.length; i++) {
                v[i] = (i % 1000) * 0.25f - 7;
            }
            BlockVectors.put(name, v, 0, n, BlockAllReduce.KEPT_ONCE);
            assertEquals(before, shmFiles(), "a region's file is unlinked once mapped");
            ByteBuffer stored = SparkEnv.get().blockManager().getLocalBytes(BlockVectors.chunkId(name, 0)).get().toByteBuffer();
            var at = BlockMemory.locate(BlockMemory.address(stored), stored.remaining());
            SparkEnv.get().blockManager().releaseLock(BlockVectors.chunkId(name, 0), scala.Option.empty());
            assertNotNull(at, "a stored chunk lies in a shared region");
            var self = SparkEnv.get().blockManager().blockManagerId();
            float[] back = new float[v.length];
            FloatBuffer out = FloatBuffer.wrap(back);
            for (int round = 0; round < 2; round++) { // the second time through the kept connection and mapping
                out.clear();
                for (int c = 0; c < 2; c++) {
                    long floats = BlockVectors.chunkFloats(n, c);
                    try (Lease lease = BlockTransport.lease(self, BlockVectors.chunkId(name, c), 4 * floats)) {
                        assertNotNull(lease, "chunk " + c);
                        org.junit.jupiter.api.Assertions.assertTrue(lease.shared(), "read in the holder's memory, not sent");
                        assertEquals(4 * floats, lease.bytes().remaining());
                        out.put(lease.bytes().asFloatBuffer());
                    }
                }
                org.junit.jupiter.api.Assertions.assertArrayEquals(v, back);
            }
            org.junit.jupiter.api.Assertions.assertTrue(SharedMemory.peerMappings() >= 1, "the holder's regions stay mapped for the next read");

            ByteBuffer direct = ByteBuffer.allocateDirect(4 * 20_000).order(ByteOrder.LITTLE_ENDIAN);
            org.junit.jupiter.api.Assertions.assertTrue(BlockTransport.fetchInto(self, BlockVectors.chunkId(name, 1), direct));
            assertEquals(v[BlockVectors.CHUNK_FLOATS + 19_999], direct.getFloat(4 * 19_999), "copied from the holder's memory");

            var location = BlockMemory.locate(BlockMemory.address(direct), 4); // not a shared region
            assertNull(location, "ordinary memory has no shared location");
            var refused = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                    () -> SharedMemory.read(at.path(), at.token() ^ 2, at.offset(), 16));
            org.junit.jupiter.api.Assertions.assertTrue(refused.getMessage().contains(at.path()), refused.getMessage());
            java.nio.file.Path empty = java.nio.file.Files.createTempFile("region-", ".empty");
            try { // an empty file, and a path that names nothing: refused, so the socket carries the bytes
                var emptyRefused = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                        () -> SharedMemory.read(empty.toString(), at.token(), at.offset(), 16));
                org.junit.jupiter.api.Assertions.assertTrue(emptyRefused.getMessage().contains(empty.toString()),
                        emptyRefused.getMessage());
            } finally {
                java.nio.file.Files.delete(empty);
            }
            org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                    () -> SharedMemory.read("/proc/0/fd/99999", at.token(), at.offset(), 16));
        } finally {
            BlockVectors.remove(name, n);
            BlockMemory.sharingOverride = null;
            BlockMemory.trim(0);
            SharedMemory.trimPeers(0);
        }
    }

    /**
     * A replica whose parameters live in shared memory ({@link ReplicaMemory}): a block that views
     * one of its slices is leased in place, so a peer on this host averages it with no copy, and
     * what the peer reads is what the model holds; once freed, the memory is no one's to lease.
     */
    @Test
    void aReplicasSliceInSharedMemoryIsLeasedWhereItLies() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(SharedMemory.available(), "this host has no /dev/shm and /proc");
        sc.parallelize(java.util.List.of(1), 1).foreach(x -> { });
        java.util.Set<String> before = shmFiles();
        BlockMemory.sharingOverride = true;
        ReplicaMemory memory = new ReplicaMemory();
        String name = "replica_" + System.nanoTime();
        var cfg = new io.sparkformer.model.TransformerConfig(io.sparkformer.model.TransformerConfig.Kind.DECODER, 50, 16, 2, 2,
                32, 16, io.sparkformer.model.TransformerConfig.Norm.PRE, io.sparkformer.model.TransformerConfig.Positional.LEARNED,
                io.sparkformer.model.TransformerConfig.Activation.GELU, true, 1e-5, 0, 0.0);
        try {
            var model = io.sparkformer.model.Model.create(cfg, org.nd4j.linalg.api.buffer.DataType.FLOAT, memory);
            org.junit.jupiter.api.Assertions.assertTrue(memory.shared(), "sharing on: the parameters are in a shared region");
            assertEquals(before, shmFiles(), "the region's file is unlinked once mapped");
            model.initialize(3, io.sparkformer.model.Transformer.Init.GPT2);
            FloatBuffer params = io.sparkformer.model.ParameterBuffer.view(model.parameters().flat());
            FloatBuffer slice = BlockAllReduce.slice(params, 2, 1);
            BlockVectors.putView(name, slice, BlockAllReduce.TRANSIENT);
            var self = SparkEnv.get().blockManager().blockManagerId();
            try (Lease lease = BlockTransport.lease(self, BlockVectors.chunkId(name, 0), 4L * slice.remaining())) {
                assertNotNull(lease);
                org.junit.jupiter.api.Assertions.assertTrue(lease.shared(), "read in the replica's memory, not sent or copied");
                float[] read = new float[slice.remaining()];
                lease.bytes().asFloatBuffer().get(read);
                float[] held = new float[slice.remaining()];
                slice.duplicate().get(held);
                org.junit.jupiter.api.Assertions.assertArrayEquals(held, read);
            }
            BlockVectors.remove(name, slice.remaining());
            long address = BlockMemory.address(slice);
            memory.free();
            assertNull(BlockMemory.locate(address, 4), "a freed replica's memory is not offered to peers");
        } finally {
            memory.free();
            BlockMemory.sharingOverride = null;
            SharedMemory.trimPeers(0);
        }
    }

    /**
     * A tmpfs too small for a region (a container's 64 MB /dev/shm against a few regions): no
     * region, no file left, and no SIGBUS later. Needs such a mount, which takes root:
     * -Dsparkformer.smallShm=DIR (e.g. mount -t tmpfs -o size=8m tmpfs DIR).
     */
    @Test
    void aTmpfsTooSmallForARegionGivesNoneAndLeavesNothing() throws Exception {
        String small = System.getProperty("sparkformer.smallShm");
        org.junit.jupiter.api.Assumptions.assumeTrue(small != null, "no small tmpfs given (-Dsparkformer.smallShm=DIR)");
        java.nio.file.Path dir = java.nio.file.Path.of(small);
        assertNull(SharedMemory.create(dir, BlockMemory.REGION_BYTES), "a chunk's region on a smaller tmpfs");
        try (var left = java.nio.file.Files.list(dir)) {
            assertEquals(0, left.count(), "the half-written file is removed");
        }
        SharedMemory.Region fits = SharedMemory.create(dir, 1 << 20);
        assertNotNull(fits, "a region that fits is made there");
        fits.free();
    }

    private static java.util.Set<String> shmFiles() throws java.io.IOException {
        try (var files = java.nio.file.Files.list(java.nio.file.Path.of("/dev/shm"))) {
            return files.map(p -> p.getFileName().toString()).filter(f -> f.startsWith("sparkformer-"))
                    .collect(java.util.stream.Collectors.toSet());
        }
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
