package io.sparkformer.model.io;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Bytes read at positions: a local file, an in-memory array, or (in the driver) a Hadoop stream,
 * whose {@code readFully(position, buffer, offset, length)} has this very shape.
 */
public interface RandomAccessSource extends Closeable {
    long size() throws IOException;

    void readFully(long position, byte[] buffer, int offset, int length) throws IOException;

    /** A name for error messages. */
    String name();

    static RandomAccessSource of(Path path) throws IOException {
        FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
        return new RandomAccessSource() {
            @Override
            public long size() throws IOException { return channel.size(); }

            @Override
            public void readFully(long position, byte[] buffer, int offset, int length) throws IOException {
                ByteBuffer bb = ByteBuffer.wrap(buffer, offset, length);
                while (bb.hasRemaining()) {
                    int n = channel.read(bb, position + bb.position() - offset);
                    if (n < 0) {
                        throw new java.io.EOFException(path + ": ends before byte " + (position + length));
                    }
                }
            }

            @Override
            public String name() { return path.toString(); }

            @Override
            public void close() throws IOException { channel.close(); }
        };
    }

    static RandomAccessSource of(byte[] bytes, String name) {
        return new RandomAccessSource() {
            @Override
            public long size() { return bytes.length; }

            @Override
            public void readFully(long position, byte[] buffer, int offset, int length) throws IOException {
                if (position < 0 || position + length > bytes.length) {
                    throw new java.io.EOFException(name + ": ends before byte " + (position + length));
                }
                System.arraycopy(bytes, (int) position, buffer, offset, length);
            }

            @Override
            public String name() { return name; }

            @Override
            public void close() {}
        };
    }
}
