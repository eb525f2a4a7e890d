package io.sparkformer.driver.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.apache.spark.SparkEnv;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.sparkformer.driver.SparkTestBase;

class BlockAllReduceTest extends SparkTestBase {
    /**
     * Two workers (threads here) average a replica-like native vector. Asked to drop the round
     * before's averaged slices, each drops its own during the exchange and its new averaged slice
     * takes their memory (the block memory held does not grow); not asked, they stay stored and
     * the new slices take memory of their own. The averages are the same either way.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void theRoundBeforesAveragedSlicesAreDroppedInTheExchangeWhenAsked(boolean drop) throws Exception {
        Assumptions.assumeTrue(BlockMemory.reuses(),
                "this JDK does not let a buffer be made over given memory: every block is Spark's own allocation");
        int workers = 2;
        int length = 1_000_002;
        int sliceLength = length / workers;
        sc.parallelize(List.of(1), 1).foreach(x -> { }); // the executor's BlockManager is up
        BlockMemory.trim(0); // no free regions from other tests: a new slice can only reuse the dropped ones
        String run = "test_drop_" + drop + "_" + System.nanoTime();
        for (int s = 0; s < workers; s++) { // round 0's averaged slices, as the workers loaded them
            BlockVectors.put(BlockAllReduce.averaged(run, 0, "p", s), new float[sliceLength], 0, sliceLength,
                    BlockAllReduce.KEPT_ONCE);
        }
        long heldBefore = BlockMemory.heldBytes();

        FloatBuffer[] replicas = new FloatBuffer[workers];
        for (int w = 0; w < workers; w++) {
            replicas[w] = ByteBuffer.allocateDirect(4 * length).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            for (int i = 0; i < length; i++) {
                replicas[w].put(i, i + 2f * w); // worker 0: i, worker 1: i + 2; their mean is i + 1, exactly
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(workers);
        try {
            Future<?>[] done = new Future<?>[workers];
            for (int w = 0; w < workers; w++) {
                int worker = w;
                done[w] = pool.submit(() -> BlockAllReduce.reduceScatter(run, 1, 0, List.of("p"), List.of(replicas[worker]), worker,
                        workers, BlockAllReduce.KEPT_ONCE, drop ? 0 : -1));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }

        var bm = SparkEnv.get().blockManager();
        for (int s = 0; s < workers; s++) {
            var id = BlockVectors.chunkId(BlockAllReduce.averaged(run, 0, "p", s), 0);
            assertEquals(!drop, bm.getStatus(id).isDefined(), "round 0's averaged slice " + s + " stored");
        }
        if (drop) {
            assertEquals(heldBefore, BlockMemory.heldBytes(), "round 1's averaged slices took new memory beside round 0's freed");
        } else {
            assertTrue(BlockMemory.heldBytes() > heldBefore, "round 1's averaged slices took no memory of their own");
        }
        float[] expected = new float[length];
        for (int i = 0; i < length; i++) {
            expected[i] = i + 1f;
        }
        assertArrayEquals(expected, BlockAllReduce.gather(run, 1, "p", length, workers));
        BlockAllReduce.remove(run, 0, List.of("p"), length, workers);
        BlockAllReduce.remove(run, 1, List.of("p"), length, workers);
    }
}
