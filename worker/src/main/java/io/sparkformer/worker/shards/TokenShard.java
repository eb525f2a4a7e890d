package io.sparkformer.worker.shards;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A shard of tokenized records: each record has one field (a document) or two (a source and a
 * target sentence), each field a token sequence. On disk: the magic "SFTOKENS", version, fields,
 * bytes per token (2 when the vocabulary fits 16 bits, else 4), record and token counts, then
 * records·fields + 1 offsets and the tokens, all little-endian.
 */
public final class TokenShard {
    private static final byte[] MAGIC = "SFTOKENS".getBytes(StandardCharsets.US_ASCII);
    private static final int VERSION = 1;

    private final int fields;
    private final long[] offsets;
    private final int[] tokens;

    public TokenShard(int fields, long[] offsets, int[] tokens) {
        if (fields != 1 && fields != 2) {
            throw new IllegalArgumentException("a shard has 1 or 2 fields per record, got " + fields);
        }
        if (offsets.length < 1 || (offsets.length - 1) % fields != 0 || offsets[0] != 0
                || offsets[offsets.length - 1] != tokens.length) {
            throw new IllegalArgumentException("offsets do not describe " + tokens.length + " tokens in records of " + fields);
        }
        this.fields = fields;
        this.offsets = offsets;
        this.tokens = tokens;
    }

    /** One field per record, from sequences. */
    public static TokenShard of(int fields, java.util.List<int[]> sequences) {
        long[] offsets = new long[sequences.size() + 1];
        int total = 0;
        for (int i = 0; i < sequences.size(); i++) {
            total += sequences.get(i).length;
            offsets[i + 1] = total;
        }
        int[] tokens = new int[total];
        int n = 0;
        for (int[] s : sequences) {
            System.arraycopy(s, 0, tokens, n, s.length);
            n += s.length;
        }
        return new TokenShard(fields, offsets, tokens);
    }

    public int fields() { return fields; }

    public long records() { return (offsets.length - 1) / fields; }

    public int tokenCount() { return tokens.length; }

    /** All tokens, records and fields in order (the stream of a one-field shard). */
    public int[] tokens() { return tokens; }

    public int[] field(long record, int field) {
        int i = (int) (record * fields + field);
        return Arrays.copyOfRange(tokens, (int) offsets[i], (int) offsets[i + 1]);
    }

    private static final int HEADER_BYTES = MAGIC.length + 12 + 16;

    private static int width(int vocabSize) {
        return vocabSize <= 65536 ? 2 : 4;
    }

    private static void writeHead(OutputStream out, int fields, int width, long[] offsets, int offsetCount, long tokens)
            throws IOException {
        ByteBuffer head = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        head.put(MAGIC).putInt(VERSION).putInt(fields).putInt(width).putLong((offsetCount - 1) / fields).putLong(tokens);
        out.write(head.array());
        ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < offsetCount; i++) {
            if (buf.remaining() < 8) {
                flush(buf, out);
            }
            buf.putLong(offsets[i]);
        }
        flush(buf, out);
    }

    /** The header and offsets of a one-field shard of {@code tokens} tokens of {@code width} bytes; its tokens follow. */
    public static void writeStreamHead(OutputStream out, int width, long tokens) throws IOException {
        writeHead(out, 1, width, new long[] {0, tokens}, 2, tokens);
    }

    public void write(OutputStream out, int vocabSize) throws IOException {
        int width = width(vocabSize);
        writeHead(out, fields, width, offsets, offsets.length, tokens.length);
        ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (int t : tokens) {
            if (t < 0 || t >= vocabSize) {
                throw new IllegalArgumentException("token " + t + " outside the vocabulary of " + vocabSize);
            }
            if (buf.remaining() < 4) {
                flush(buf, out);
            }
            if (width == 2) {
                buf.putShort((short) t);
            } else {
                buf.putInt(t);
            }
        }
        flush(buf, out);
    }

    private static void flush(ByteBuffer buf, OutputStream out) throws IOException {
        out.write(buf.array(), 0, buf.position());
        buf.clear();
    }

    /** A shard file's header: where its tokens start, how wide and how many. */
    public record Header(int fields, int width, long records, long tokens, long tokensAt) {
        /** Reads and checks the header of a local shard file. */
        public static Header read(java.nio.file.Path file) throws IOException {
            try (InputStream in = java.nio.file.Files.newInputStream(file)) {
                return read(in, file.toString());
            }
        }

        public static Header read(InputStream in, String source) throws IOException {
            byte[] head = new byte[HEADER_BYTES];
            try {
                new DataInputStream(in).readFully(head);
            } catch (EOFException e) {
                throw new ShardException(source, "ends early (truncated)", e);
            }
            ByteBuffer h = ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN);
            byte[] magic = new byte[MAGIC.length];
            h.get(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new ShardException(source, "not a token shard (bad magic)");
            }
            int version = h.getInt();
            int fields = h.getInt();
            int width = h.getInt();
            long records = h.getLong();
            long count = h.getLong();
            if (version != VERSION || (fields != 1 && fields != 2) || (width != 2 && width != 4)
                    || records < 0 || count < 0 || count > Integer.MAX_VALUE - 16 || records * fields + 1 > Integer.MAX_VALUE - 16) {
                throw new ShardException(source, "unsupported or corrupt header (version " + version + ", fields " + fields
                        + ", width " + width + ", records " + records + ", tokens " + count + ")");
            }
            return new Header(fields, width, records, count, HEADER_BYTES + (records * fields + 1) * 8);
        }
    }

    /**
     * Writes a shard as its tokens come, in memory bounded by its record count (the offsets): the
     * tokens go to a local temporary file, and {@link #writeTo} streams the header, offsets and
     * tokens, the same bytes {@link TokenShard#write} writes for the same records.
     */
    public static final class Writer implements AutoCloseable {
        private final int fields;
        private final int vocabSize;
        private final int width;
        private final java.nio.file.Path tmp;
        private final OutputStream tokensOut;
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        private long[] offsets = new long[16];
        private int offsetCount = 1;
        private long tokens;

        public Writer(int fields, int vocabSize, java.nio.file.Path tmpDir) throws IOException {
            if (fields != 1 && fields != 2) {
                throw new IllegalArgumentException("a shard has 1 or 2 fields per record, got " + fields);
            }
            this.fields = fields;
            this.vocabSize = vocabSize;
            this.width = width(vocabSize);
            java.nio.file.Files.createDirectories(tmpDir);
            this.tmp = java.nio.file.Files.createTempFile(tmpDir, "shard-", ".tokens.tmp");
            this.tokensOut = java.nio.file.Files.newOutputStream(tmp);
        }

        /** Appends tokens to the current field. */
        public void append(int[] ids) throws IOException {
            if (tokens + ids.length > Integer.MAX_VALUE - 16) {
                throw new IllegalStateException("a shard holds at most " + (Integer.MAX_VALUE - 16) + " tokens");
            }
            for (int t : ids) {
                if (t < 0 || t >= vocabSize) {
                    throw new IllegalArgumentException("token " + t + " outside the vocabulary of " + vocabSize);
                }
                if (buf.remaining() < 4) {
                    flush(buf, tokensOut);
                }
                if (width == 2) {
                    buf.putShort((short) t);
                } else {
                    buf.putInt(t);
                }
            }
            tokens += ids.length;
        }

        /** Ends the current field (a stream shard has one field, ended once). */
        public void endField() {
            if (offsetCount == offsets.length) {
                offsets = Arrays.copyOf(offsets, offsets.length * 2);
            }
            offsets[offsetCount++] = tokens;
        }

        public long records() { return (offsetCount - 1) / fields; }

        public long tokenCount() { return tokens; }

        /** Writes the shard; no more tokens can be appended. */
        public void writeTo(OutputStream out) throws IOException {
            if ((offsetCount - 1) % fields != 0 || offsets[offsetCount - 1] != tokens) {
                throw new IllegalStateException("the last record is not complete");
            }
            flush(buf, tokensOut);
            tokensOut.close();
            writeHead(out, fields, width, offsets, offsetCount, tokens);
            java.nio.file.Files.copy(tmp, out);
        }

        @Override
        public void close() throws IOException {
            tokensOut.close();
            java.nio.file.Files.deleteIfExists(tmp);
        }
    }

    /** Reads a shard, checking its structure; {@code source} names it in errors. */
    public static TokenShard read(InputStream in, String source) throws IOException {
        DataInputStream data = new DataInputStream(in);
        try {
            Header header = Header.read(data, source);
            int fields = header.fields();
            int width = header.width();
            long records = header.records();
            long count = header.tokens();
            long[] offsets = new long[(int) (records * fields + 1)];
            byte[] ob = new byte[offsets.length * 8];
            data.readFully(ob);
            ByteBuffer.wrap(ob).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(offsets);
            for (int i = 1; i < offsets.length; i++) {
                if (offsets[i] < offsets[i - 1]) {
                    throw new ShardException(source, "offsets decrease at record field " + i);
                }
            }
            if (offsets[0] != 0 || offsets[offsets.length - 1] != count) {
                throw new ShardException(source, "offsets do not cover the " + count + " tokens");
            }
            int[] tokens = new int[(int) count];
            byte[] tb = new byte[(int) count * width];
            data.readFully(tb);
            ByteBuffer t = ByteBuffer.wrap(tb).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = width == 2 ? Short.toUnsignedInt(t.getShort()) : t.getInt();
            }
            if (data.read() != -1) {
                throw new ShardException(source, "has bytes after its last token");
            }
            return new TokenShard(fields, offsets, tokens);
        } catch (EOFException e) {
            throw new ShardException(source, "ends early (truncated)", e);
        }
    }
}
