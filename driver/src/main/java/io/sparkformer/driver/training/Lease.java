package io.sparkformer.driver.training;

import java.nio.ByteBuffer;

/**
 * A block's bytes, read where they are until {@link #close}: in a peer's shared memory on this
 * host (read-only; closing lets the holder drop the block), or in a buffer of ours (closing
 * gives it back).
 */
final class Lease implements AutoCloseable {
    private final ByteBuffer bytes;
    private final Runnable done;
    private boolean closed;

    Lease(ByteBuffer bytes, Runnable done) {
        this.bytes = bytes;
        this.done = done;
    }

    /** The block's bytes, little-endian. */
    ByteBuffer bytes() {
        return bytes;
    }

    /** Whether the bytes are read in another process's memory (for tests). */
    boolean shared() {
        return bytes.isReadOnly();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            done.run();
        }
    }
}
