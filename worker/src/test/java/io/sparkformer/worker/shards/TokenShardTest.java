package io.sparkformer.worker.shards;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.sparkformer.worker.batches.CausalLmBatches;

class TokenShardTest {
    @TempDir
    Path tmp;

    private static int[] random(int n, int vocab, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = rnd.nextInt(vocab);
        }
        return t;
    }

    private byte[] streamed(int fields, int vocab, List<int[]> fieldsInOrder, boolean endEachField) throws IOException {
        try (TokenShard.Writer w = new TokenShard.Writer(fields, vocab, tmp.resolve("stage"))) {
            for (int[] f : fieldsInOrder) {
                w.append(f);
                if (endEachField) {
                    w.endField();
                }
            }
            if (!endEachField) {
                w.endField();
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            w.writeTo(out);
            return out.toByteArray();
        }
    }

    @Test
    void theStreamingWriterWritesTheBytesOfTheWholeShard() throws IOException {
        for (int vocab : new int[] {70, 100_000}) { // 2- and 4-byte tokens
            List<int[]> pieces = List.of(random(1000, vocab, 1), new int[0], random(70_000, vocab, 2), random(3, vocab, 3));
            int[] all = pieces.stream().flatMapToInt(java.util.Arrays::stream).toArray();
            ByteArrayOutputStream whole = new ByteArrayOutputStream();
            new TokenShard(1, new long[] {0, all.length}, all).write(whole, vocab);
            assertArrayEquals(whole.toByteArray(), streamed(1, vocab, pieces, false), "one-field stream, vocab " + vocab);

            ByteArrayOutputStream pairs = new ByteArrayOutputStream();
            TokenShard.of(2, pieces).write(pairs, vocab);
            assertArrayEquals(pairs.toByteArray(), streamed(2, vocab, pieces, true), "pairs, vocab " + vocab);
        }
        try (Stream<Path> left = Files.list(tmp.resolve("stage"))) {
            assertEquals(0, left.count(), "staged tokens are deleted");
        }
        try (TokenShard.Writer w = new TokenShard.Writer(1, 10, tmp)) {
            assertThrows(IllegalArgumentException.class, () -> w.append(new int[] {10}));
        }
    }

    private Path shard(String name, int[] tokens, int vocab) throws IOException {
        Path p = tmp.resolve(name);
        try (OutputStream out = Files.newOutputStream(p)) {
            new TokenShard(1, new long[] {0, tokens.length}, tokens).write(out, vocab);
        }
        return p;
    }

    @Test
    void mappedShardsReadAsTheirConcatenatedTokens() throws IOException {
        int[] a = random(5000, 100_000, 4);
        int[] b = random(1, 100_000, 5);
        int[] c = random(7000, 100_000, 6);
        int[] all = new int[a.length + b.length + c.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        System.arraycopy(c, 0, all, a.length + b.length, c.length);
        TokenStream mapped = TokenStream.mapped(List.of(shard("a", a, 100_000), shard("b", b, 100_000), shard("c", c, 100_000)));
        assertEquals(all.length, mapped.length());
        int[] got = new int[all.length];
        mapped.copy(0, got, 0, all.length);
        assertArrayEquals(all, got);
        int[] window = new int[10];
        mapped.copy(a.length - 4, window, 0, 10); // across both boundaries
        assertArrayEquals(java.util.Arrays.copyOfRange(all, a.length - 4, a.length + 6), window);
        TokenStream half = mapped.slice(100, 9000);
        half.copy(8890, window, 0, 10);
        assertArrayEquals(java.util.Arrays.copyOfRange(all, 8990, 9000), window);
        assertThrows(IndexOutOfBoundsException.class, () -> half.copy(8891, new int[10], 0, 10));

        // batches drawn from the mapped stream are the batches of the array (2-byte tokens here)
        int[] small = random(20_000, 70, 7);
        TokenStream two = TokenStream.mapped(List.of(shard("s", small, 70)));
        for (long i = 0; i < 5; i++) {
            assertArrayEquals(new CausalLmBatches(small, 8, 32, 3).batch(i).ids(), new CausalLmBatches(two, 8, 32, 3).batch(i).ids());
        }
    }

    @Test
    void aFileThatIsNotAShardIsNamed() throws IOException {
        Path bad = tmp.resolve("bad.tokens");
        Files.writeString(bad, "not a shard at all, but long enough for a header");
        ShardException e = assertThrows(ShardException.class, () -> TokenStream.mapped(List.of(bad)));
        assertEquals(true, e.getMessage().contains(bad.toString()) && e.getMessage().contains("bad magic"), e.getMessage());
    }
}
