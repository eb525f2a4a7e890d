package io.sparkformer.driver.training;

import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.nio.ByteBuffer;

import org.junit.jupiter.api.Test;

class BlockBuffersTest {
    /** A raw slice's buffers come back the next round; an averaged slice's, read at the next round's start, the round after. */
    @Test
    void rawSlicesAreFreeTheNextRoundAndAveragedOnesTheRoundAfter() {
        BlockBuffers pool = new BlockBuffers();
        pool.startRound(0);
        ByteBuffer[] raw = pool.takeTransient(1000);
        ByteBuffer[] averaged = pool.take(2000);
        pool.startRound(1);
        assertSame(raw, pool.takeTransient(1000), "round 0's raw slice has been read by its end");
        assertNotSame(averaged, pool.take(2000), "round 1 still reads round 0's averaged slice");
        pool.startRound(2);
        assertSame(averaged, pool.take(2000), "nothing reads round 0's averaged slice in round 2");
    }

    @Test
    void aGapBetweenRoundsFreesEverything() {
        BlockBuffers pool = new BlockBuffers();
        pool.startRound(3);
        ByteBuffer[] averaged = pool.take(500);
        pool.startRound(7); // a resumed or moved worker
        assertSame(averaged, pool.take(500));
    }
}
