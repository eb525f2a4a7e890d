package io.sparkformer.worker.shards;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * A token stream read by position: a Java array for small streams, or one-field shard files
 * mapped into memory, so a worker's heap does not grow with its share of the corpus (the pages
 * are the OS's file cache, dropped and re-read as needed).
 */
public interface TokenStream {
    long length();

    /** Copies tokens [from, from + n) into dst at off. */
    void copy(long from, int[] dst, int off, int n);

    /** Tokens [from, to) of this stream. */
    default TokenStream slice(long from, long to) {
        if (from < 0 || to < from || to > length()) {
            throw new IndexOutOfBoundsException("[" + from + ", " + to + ") of " + length());
        }
        TokenStream base = this;
        return new TokenStream() {
            public long length() { return to - from; }

            public void copy(long at, int[] dst, int off, int n) {
                if (at < 0 || n < 0 || at + n > to - from) {
                    throw new IndexOutOfBoundsException("[" + at + ", " + (at + n) + ") of " + (to - from));
                }
                base.copy(from + at, dst, off, n);
            }
        };
    }

    static TokenStream of(int[] tokens) {
        return new TokenStream() {
            public long length() { return tokens.length; }

            public void copy(long from, int[] dst, int off, int n) { System.arraycopy(tokens, (int) from, dst, off, n); }
        };
    }

    /** The tokens of one-field shard files, in order, mapped read-only (the files must not change while mapped). */
    static TokenStream mapped(List<Path> shards) throws IOException {
        return new Mapped(shards);
    }

    /** Shard files' token sections, each mapped in chunks (a mapping holds at most 2 GiB). */
    final class Mapped implements TokenStream {
        private static final int CHUNK_TOKENS = 1 << 26;
        private final List<MappedByteBuffer[]> chunks = new ArrayList<>();
        private final int[] widths;
        private final long[] starts; // stream position of each shard's first token; last = length

        private Mapped(List<Path> files) throws IOException {
            widths = new int[files.size()];
            starts = new long[files.size() + 1];
            for (int s = 0; s < files.size(); s++) {
                Path file = files.get(s);
                TokenShard.Header h = TokenShard.Header.read(file);
                if (h.fields() != 1) {
                    throw new ShardException(file.toString(), "holds pairs, not a token stream");
                }
                widths[s] = h.width();
                starts[s + 1] = starts[s] + h.tokens();
                int n = (int) ((h.tokens() + CHUNK_TOKENS - 1) / CHUNK_TOKENS);
                MappedByteBuffer[] maps = new MappedByteBuffer[n];
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                    for (int c = 0; c < n; c++) {
                        long first = (long) c * CHUNK_TOKENS;
                        long count = Math.min(CHUNK_TOKENS, h.tokens() - first);
                        maps[c] = ch.map(FileChannel.MapMode.READ_ONLY, h.tokensAt() + first * h.width(), count * h.width());
                        maps[c].order(ByteOrder.LITTLE_ENDIAN);
                    }
                }
                chunks.add(maps);
            }
        }

        @Override
        public long length() {
            return starts[starts.length - 1];
        }

        @Override
        public void copy(long from, int[] dst, int off, int n) {
            if (from < 0 || n < 0 || from + n > length()) {
                throw new IndexOutOfBoundsException("[" + from + ", " + (from + n) + ") of " + length());
            }
            int s = java.util.Arrays.binarySearch(starts, from);
            s = s >= 0 ? s : -s - 2;
            while (n > 0) {
                while (from >= starts[s + 1]) {
                    s++;
                }
                long inShard = from - starts[s];
                int c = (int) (inShard / CHUNK_TOKENS);
                int at = (int) (inShard % CHUNK_TOKENS);
                MappedByteBuffer map = chunks.get(s)[c];
                int take = (int) Math.min(n, Math.min(CHUNK_TOKENS - at, starts[s + 1] - from));
                if (widths[s] == 2) {
                    for (int i = 0; i < take; i++) {
                        dst[off + i] = Short.toUnsignedInt(map.getShort((at + i) * 2));
                    }
                } else {
                    for (int i = 0; i < take; i++) {
                        dst[off + i] = map.getInt((at + i) * 4);
                    }
                }
                from += take;
                off += take;
                n -= take;
            }
        }
    }
}
