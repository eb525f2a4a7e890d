package io.sparkformer.driver.corpus;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.apache.hadoop.conf.Configuration;

import io.sparkformer.worker.shards.Manifest;
import io.sparkformer.worker.shards.TokenShard;

/** Reads a corpus's shards back, each checked against the manifest's checksum. */
public final class ShardReader {
    private ShardReader() {}

    public static TokenShard read(String directory, Manifest.Shard shard, Configuration conf) throws IOException {
        String path = directory + "/" + shard.file();
        byte[] bytes = HadoopFiles.readVerified(path, shard.sha256(), conf);
        return TokenShard.read(new ByteArrayInputStream(bytes), path);
    }

    /**
     * The shards of a split that worker {@code worker} of {@code workers} owns, in the split's
     * order: dealt by tokens, the largest first to the worker holding fewest tokens so far (the
     * lowest index on ties), so the workers' shares differ by at most one shard's tokens. Shards
     * of equal size in index order go round-robin.
     */
    public static List<Manifest.Shard> owned(Manifest.Split split, int worker, int workers) {
        List<Manifest.Shard> shards = split.shards();
        Integer[] bySize = new Integer[shards.size()];
        for (int i = 0; i < bySize.length; i++) {
            bySize[i] = i;
        }
        java.util.Arrays.sort(bySize, (a, b) -> shards.get(a).tokens() != shards.get(b).tokens()
                ? Long.compare(shards.get(b).tokens(), shards.get(a).tokens()) : Integer.compare(a, b));
        long[] load = new long[workers];
        boolean[] mine = new boolean[shards.size()];
        for (int i : bySize) {
            int least = 0;
            for (int w = 1; w < workers; w++) {
                if (load[w] < load[least]) {
                    least = w;
                }
            }
            load[least] += shards.get(i).tokens();
            mine[i] = least == worker;
        }
        List<Manifest.Shard> out = new ArrayList<>();
        for (int i = 0; i < mine.length; i++) {
            if (mine[i]) {
                out.add(shards.get(i));
            }
        }
        return out;
    }

    /** Where executors keep local copies of shards from HDFS or object stores, to map them. */
    static java.nio.file.Path cacheDir() {
        return java.nio.file.Path.of(System.getProperty("java.io.tmpdir"), "sparkformer-shards");
    }

    /**
     * The token stream of one-field shards, in order, memory-mapped (local copies of remote
     * shards, each checked against the manifest's checksum): a worker's heap stays the same
     * however large its share.
     */
    public static io.sparkformer.worker.shards.TokenStream mapped(String directory, List<Manifest.Shard> shards,
                                                                  Configuration conf) throws IOException {
        List<java.nio.file.Path> files = new ArrayList<>();
        for (Manifest.Shard s : shards) {
            files.add(HadoopFiles.localVerified(directory + "/" + s.file(), s.sha256(), conf, cacheDir()));
        }
        return io.sparkformer.worker.shards.TokenStream.mapped(files);
    }

    /** The concatenated token stream of shards (one-field shards), in order. */
    public static int[] stream(String directory, List<Manifest.Shard> shards, Configuration conf) throws IOException {
        List<int[]> parts = new ArrayList<>();
        long total = 0;
        for (Manifest.Shard s : shards) {
            TokenShard shard = read(directory, s, conf);
            if (shard.fields() != 1) {
                throw new IOException(directory + "/" + s.file() + ": holds pairs, not a token stream");
            }
            parts.add(shard.tokens());
            total += shard.tokenCount();
        }
        int[] out = new int[Math.toIntExact(total)];
        int n = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, n, p.length);
            n += p.length;
        }
        return out;
    }

    /** Sources and targets of two-field shards, in order. */
    public static List<List<int[]>> pairs(String directory, List<Manifest.Shard> shards, Configuration conf) throws IOException {
        List<int[]> src = new ArrayList<>();
        List<int[]> tgt = new ArrayList<>();
        for (Manifest.Shard s : shards) {
            TokenShard shard = read(directory, s, conf);
            if (shard.fields() != 2) {
                throw new IOException(directory + "/" + s.file() + ": holds a token stream, not pairs");
            }
            for (long r = 0; r < shard.records(); r++) {
                src.add(shard.field(r, 0));
                tgt.add(shard.field(r, 1));
            }
        }
        return List.of(src, tgt);
    }
}
