package io.sparkformer.driver.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.FloatBuffer;

import org.junit.jupiter.api.Test;

import io.sparkformer.driver.SparkTestBase;

class BlockVectorsTest extends SparkTestBase {
    /**
     * A vector longer than two Spark blocks (chunks) goes in and comes back whole, read in pieces
     * that straddle the chunks' edges, and is gone from every chunk once removed.
     */
    @Test
    void aVectorOfSeveralChunksRoundTripsAndIsRemovedWhole() {
        long n = 2L * BlockVectors.CHUNK_FLOATS + 12_345;
        assertEquals(3, BlockVectors.chunks(n));
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = i * 0.5f - 7;
        }
        sc.parallelize(java.util.List.of(1), 1).foreach(x -> { }); // the executor's BlockManager is up
        String name = "test_" + System.nanoTime();
        assertEquals(4 * n, BlockVectors.put(name, v, 0, n, BlockAllReduce.KEPT_ONCE));
        BlockVectors.await(name, n, 10_000);

        float[] back = new float[v.length];
        try (BlockVectors.Floats in = BlockVectors.open(name, n)) {
            FloatBuffer out = FloatBuffer.wrap(back);
            int piece = 1_000_003; // not a divisor of a chunk: pieces straddle the edges
            for (long left = n; left > 0; left -= piece) {
                in.read(out, (int) Math.min(piece, left));
            }
        }
        assertArrayEquals(v, back);

        float[] again = new float[v.length];
        BlockVectors.read(name, FloatBuffer.wrap(again));
        assertArrayEquals(v, again, "a second reader sees the same floats");

        BlockVectors.remove(name, n);
        // the master drops a block's locations once its BlockManager has removed it
        var master = org.apache.spark.SparkEnv.get().blockManager().master();
        long deadline = System.nanoTime() + 10_000_000_000L;
        for (int c = 0; c < 3; c++) {
            var id = BlockVectors.chunkId(name, c);
            while (!master.getLocations(id).isEmpty() && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertTrue(master.getLocations(id).isEmpty(), "chunk " + c + " is still stored");
        }
        assertThrows(BlockVectors.MissingBlockException.class, () -> BlockVectors.open(name, n));
    }

    /**
     * A block with one reader (a peer's raw slice) is freed a chunk at a time: once the reader is
     * past a chunk it is stored nowhere, while the chunks not yet read still are, and the floats
     * read are the floats stored.
     */
    @Test
    void aBlockReadOnceDropsEachChunkAsSoonAsItIsRead() {
        long n = 2L * BlockVectors.CHUNK_FLOATS + 7;
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (i % 1000) * 0.25f;
        }
        sc.parallelize(java.util.List.of(1), 1).foreach(x -> { });
        String name = "test_once_" + System.nanoTime();
        BlockVectors.put(name, v, 0, n, BlockAllReduce.TRANSIENT);
        var bm = org.apache.spark.SparkEnv.get().blockManager();

        float[] back = new float[v.length];
        FloatBuffer out = FloatBuffer.wrap(back);
        try (BlockVectors.Floats in = BlockVectors.openOnce(name, n)) {
            in.read(out, BlockVectors.CHUNK_FLOATS + 1); // into chunk 1: chunk 0 read whole
            assertTrue(bm.getLocalBytes(BlockVectors.chunkId(name, 0)).isEmpty(), "chunk 0 was read and is still stored");
            assertTrue(bm.getStatus(BlockVectors.chunkId(name, 1)).isDefined(), "chunk 1 is being read");
            assertTrue(bm.getStatus(BlockVectors.chunkId(name, 2)).isDefined(), "chunk 2 is not read yet");
            in.read(out, (int) (n - BlockVectors.CHUNK_FLOATS - 1));
        }
        assertArrayEquals(v, back);
        for (int c = 0; c < 3; c++) {
            assertTrue(bm.getStatus(BlockVectors.chunkId(name, c)).isEmpty(), "chunk " + c + " is still stored");
        }
    }

    /**
     * The exchange's native memory is reused once Spark has dropped the block in it, and only
     * then: a vector stored while another is still held lands in memory of its own (both read
     * back intact), and one stored after the other's removal takes the freed memory instead of
     * more.
     */
    @Test
    void blockMemoryIsReusedOnlyOnceItsBlockIsGone() {
        org.junit.jupiter.api.Assumptions.assumeTrue(BlockMemory.reuses(),
                "this JDK does not let a buffer be made over given memory: every block is Spark's own allocation");
        long n = BlockVectors.CHUNK_FLOATS + 99;
        float[] a = new float[Math.toIntExact(n)];
        float[] b = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            a[i] = i;
            b[i] = -i;
        }
        sc.parallelize(java.util.List.of(1), 1).foreach(x -> { });
        BlockMemory.trim(0); // no free memory left over from other tests: the third vector can only reuse the first's
        String first = "test_reuse_a_" + System.nanoTime();
        String second = "test_reuse_b_" + System.nanoTime();
        BlockVectors.put(first, a, 0, n, BlockAllReduce.KEPT_ONCE);
        BlockVectors.put(second, b, 0, n, BlockAllReduce.KEPT_ONCE);
        long heldBoth = BlockMemory.heldBytes();
        float[] back = new float[a.length];
        BlockVectors.read(first, FloatBuffer.wrap(back));
        assertArrayEquals(a, back, "the first vector was overwritten by the second");
        BlockVectors.read(second, FloatBuffer.wrap(back));
        assertArrayEquals(b, back);

        var bm = org.apache.spark.SparkEnv.get().blockManager();
        for (int c = 0; c < BlockVectors.chunks(n); c++) {
            bm.removeBlock(BlockVectors.chunkId(first, c), true);
        }
        String third = "test_reuse_c_" + System.nanoTime();
        BlockVectors.put(third, a, 0, n, BlockAllReduce.KEPT_ONCE);
        assertEquals(heldBoth, BlockMemory.heldBytes(), "a third vector took new memory though the first one's was free");
        BlockVectors.read(third, FloatBuffer.wrap(back));
        assertArrayEquals(a, back);
        BlockVectors.read(second, FloatBuffer.wrap(back));
        assertArrayEquals(b, back, "the second vector was overwritten by the third");
    }

    /**
     * A region is the next power of two of what is asked, and only a request of its size takes it
     * again: a small model's slice does not hold a chunk's 128 MiB, and a chunk is not cut from a
     * small region.
     */
    @Test
    void aRegionIsTheNextPowerOfTwoAndServesRequestsOfItsSize() {
        org.junit.jupiter.api.Assumptions.assumeTrue(BlockMemory.reuses(),
                "this JDK does not let a buffer be made over given memory: every block is Spark's own allocation");
        sc.parallelize(java.util.List.of(1), 1).foreach(x -> { });
        BlockMemory.trim(0);
        long before = BlockMemory.heldBytes();
        java.nio.ByteBuffer small = BlockMemory.take(100_000);
        assertEquals(before + (1 << 17), BlockMemory.heldBytes(), "100,000 bytes take a 128 KiB region");
        assertEquals(100_000, small.capacity());
        BlockMemory.giveBack(new java.nio.ByteBuffer[] {small});
        java.nio.ByteBuffer again = BlockMemory.take(70_000);
        assertEquals(before + (1 << 17), BlockMemory.heldBytes(), "70,000 bytes reuse the free 128 KiB region");
        assertEquals(BlockMemory.address(small), BlockMemory.address(again));
        java.nio.ByteBuffer large = BlockMemory.take(40 << 20);
        assertEquals(before + (1 << 17) + (64 << 20), BlockMemory.heldBytes(), "40 MiB take a region of their own, of 64 MiB");
        BlockMemory.giveBack(new java.nio.ByteBuffer[] {again, large});
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> BlockMemory.take(BlockMemory.REGION_BYTES + 1));
        BlockMemory.trim(0);
        assertEquals(before, BlockMemory.heldBytes(), "free regions go back to the system (other tests' blocks keep theirs)");
    }

    /**
     * A raw slice stored as a view is the replica's memory itself: a reader sees the floats as
     * they are when it reads (so the exchange must not change them before), a heap vector is
     * copied instead, and dropping the view leaves the memory intact.
     */
    @Test
    void aViewBlockIsTheSourceMemoryAndAHeapOneACopy() {
        org.junit.jupiter.api.Assumptions.assumeTrue(BlockMemory.reuses(),
                "this JDK does not let a buffer be made over given memory: every block is a copy");
        int n = BlockVectors.CHUNK_FLOATS + 5;
        FloatBuffer replica = java.nio.ByteBuffer.allocateDirect(4 * (n + 3)).order(java.nio.ByteOrder.nativeOrder())
                .asFloatBuffer();
        for (int i = 0; i < n + 3; i++) {
            replica.put(i, i);
        }
        sc.parallelize(java.util.List.of(1), 1).foreach(x -> { });
        String view = "test_view_" + System.nanoTime();
        FloatBuffer slice = replica.duplicate().position(3).limit(n + 3).slice(); // not at the buffer's start
        BlockVectors.putView(view, slice, BlockAllReduce.TRANSIENT);
        replica.put(3, -1f).put(n + 2, -2f); // the first and last float of the slice, after the put
        float[] back = new float[n];
        BlockVectors.read(view, FloatBuffer.wrap(back));
        assertEquals(-1f, back[0], "the block is not a view of the slice's memory");
        assertEquals(-2f, back[n - 1]);
        assertEquals(4f, back[1]);

        float[] heap = new float[n];
        java.util.Arrays.fill(heap, 7f);
        String copy = "test_copy_" + System.nanoTime();
        BlockVectors.putView(copy, FloatBuffer.wrap(heap), BlockAllReduce.TRANSIENT);
        heap[0] = 0f;
        BlockVectors.read(copy, FloatBuffer.wrap(back));
        assertEquals(7f, back[0], "a heap vector must be copied");

        var bm = org.apache.spark.SparkEnv.get().blockManager();
        for (int c = 0; c < BlockVectors.chunks(n); c++) {
            bm.removeBlock(BlockVectors.chunkId(view, c), true);
        }
        assertEquals(-1f, replica.get(3), "dropping the view changed the memory under it");
        assertEquals(5f, replica.get(5));
    }
}
