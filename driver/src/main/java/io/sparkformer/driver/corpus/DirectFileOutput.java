package io.sparkformer.driver.corpus;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentLinkedQueue;

import com.sun.nio.file.ExtendedOpenOption;

/**
 * A new local file written with direct I/O (O_DIRECT): the bytes go from an aligned buffer to the
 * device, not through the page cache. A checkpoint's gigabytes through the page cache cost a core
 * for seconds (every page of cache allocated, zeroed and charged; 1.2-4.6 s of system time a GB on
 * the 2-core machine of docs/benchmarks.md) while the next round computes, and the fsync then
 * waited for all of it; direct, a GB costs 0.25 s of system time and reaches the disk at its own
 * speed. The stream is also a {@link WritableByteChannel}, so native tensors are copied into the
 * aligned buffer with no array in between.
 *
 * <p>Direct I/O writes whole blocks at block offsets: the tail is padded with zeros to a block,
 * and the file cut back to its length on {@link #close}, which then forces it to disk (data and
 * metadata). Where the file system refuses direct I/O (tmpfs, some network file systems) the same
 * file is written through the page cache instead, with the same result.
 */
final class DirectFileOutput extends OutputStream implements WritableByteChannel {
    /** Bytes handed to the device at a time: large enough that the disk, not the calls, sets the pace. */
    static final int BUFFER_BYTES = 8 << 20;

    /** Aligned buffers of closed streams, for the next ones: a fresh 8 MiB costs its page faults. */
    private static final ConcurrentLinkedQueue<ByteBuffer> SPARE = new ConcurrentLinkedQueue<>();
    private static final int MAX_SPARE = 4;

    /** Turns direct I/O off, for tests of the page-cache path. */
    static volatile boolean directAllowed = true;

    private final Path file;
    /** The file system's block: direct I/O writes whole ones at their offsets. */
    private final long block;
    private final ByteBuffer buffer;
    private FileChannel channel;
    private boolean direct;
    private long length;
    private boolean closed;

    private DirectFileOutput(Path file, long block, FileChannel channel, boolean direct, ByteBuffer buffer) {
        this.file = file;
        this.block = block;
        this.channel = channel;
        this.direct = direct;
        this.buffer = buffer;
    }

    /** Creates (or truncates) {@code file}, with direct I/O where its file system allows it. */
    static DirectFileOutput create(Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        long block = Files.getFileStore(file.toAbsolutePath().getParent()).getBlockSize();
        ByteBuffer buffer = spareOrNew(block);
        FileChannel channel = null;
        boolean direct = false;
        if (directAllowed && buffer != null) {
            try {
                channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING, ExtendedOpenOption.DIRECT);
                direct = true;
            } catch (IOException | UnsupportedOperationException e) {
                channel = null; // this file system has no direct I/O: the page cache, then
            }
        }
        if (channel == null) {
            channel = buffered(file);
        }
        return new DirectFileOutput(file, block, channel, direct, buffer != null ? buffer : ByteBuffer.allocateDirect(BUFFER_BYTES));
    }

    /** A buffer aligned to {@code block} bytes (a spare one when there is one); null when the block size is not a power of two. */
    private static ByteBuffer spareOrNew(long block) {
        if (block <= 0 || Long.bitCount(block) != 1 || block > BUFFER_BYTES) {
            return null;
        }
        for (ByteBuffer b; (b = SPARE.poll()) != null; ) {
            if (b.alignmentOffset(0, (int) block) == 0) {
                return b.clear();
            }
        }
        return ByteBuffer.allocateDirect(BUFFER_BYTES + (int) block).alignedSlice((int) block).limit(BUFFER_BYTES).slice();
    }

    private static FileChannel buffered(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
    }

    /** Whether the bytes go to the device directly (false: through the page cache). */
    boolean isDirect() {
        return direct;
    }

    @Override
    public void write(int b) throws IOException {
        if (!buffer.hasRemaining()) {
            drain();
        }
        buffer.put((byte) b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        while (len > 0) {
            if (!buffer.hasRemaining()) {
                drain();
            }
            int n = Math.min(len, buffer.remaining());
            buffer.put(b, off, n);
            off += n;
            len -= n;
        }
    }

    /** Writes src's remaining bytes (native memory is copied once, into the aligned buffer). */
    @Override
    public int write(ByteBuffer src) throws IOException {
        int total = src.remaining();
        ByteBuffer from = src.duplicate();
        while (from.hasRemaining()) {
            if (!buffer.hasRemaining()) {
                drain();
            }
            int n = Math.min(from.remaining(), buffer.remaining());
            buffer.put(from.slice(from.position(), n));
            from.position(from.position() + n);
        }
        src.position(src.limit());
        return total;
    }

    @Override
    public boolean isOpen() {
        return !closed;
    }

    /** Writes the full buffer out. */
    private void drain() throws IOException {
        buffer.flip();
        writeFully(buffer);
        buffer.clear();
    }

    private void writeFully(ByteBuffer bytes) throws IOException {
        int n = bytes.remaining();
        try {
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
        } catch (IOException e) {
            if (!direct || length > 0) {
                throw new IOException(file + ": " + e.getMessage(), e);
            }
            // refused at the first block (some file systems open O_DIRECT and refuse its writes): start again through the page cache
            channel.close();
            channel = buffered(file);
            direct = false;
            bytes.rewind();
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
        }
        length += n;
    }

    /** Writes what is buffered (a direct file's tail padded to a block, then cut back), forces the file to disk and closes it. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            int tail = buffer.position();
            if (tail > 0) {
                if (direct) {
                    int padded = (int) ((tail + block - 1) / block * block);
                    while (buffer.position() < padded) {
                        buffer.put((byte) 0);
                    }
                    buffer.flip();
                    writeFully(buffer);
                    length -= padded - tail;
                    channel.truncate(length);
                } else {
                    buffer.flip();
                    writeFully(buffer);
                }
            }
            channel.force(true);
        } finally {
            channel.close();
            if (SPARE.size() < MAX_SPARE) {
                SPARE.offer(buffer.clear());
            }
        }
    }
}
