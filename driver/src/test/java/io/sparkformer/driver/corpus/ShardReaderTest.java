package io.sparkformer.driver.corpus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

import io.sparkformer.worker.shards.Manifest;

class ShardReaderTest {
    private static Manifest.Split split(long... tokens) {
        List<Manifest.Shard> shards = new ArrayList<>();
        for (int i = 0; i < tokens.length; i++) {
            shards.add(new Manifest.Shard(String.format("train/part-%05d.tokens", i), 1, tokens[i], "sha" + i));
        }
        return new Manifest.Split(tokens.length, java.util.Arrays.stream(tokens).sum(), shards);
    }

    private static long tokens(List<Manifest.Shard> shards) {
        return shards.stream().mapToLong(Manifest.Shard::tokens).sum();
    }

    @Test
    void shardsAreDealtByTokens() {
        // one large file's 128 MB splits and many small files: by count, worker 0 would hold 4x the tokens
        Manifest.Split s = split(128, 128, 128, 5, 128, 5, 40, 5, 5, 5, 128, 5);
        int workers = 3;
        Set<String> seen = new HashSet<>();
        long min = Long.MAX_VALUE;
        long max = 0;
        for (int w = 0; w < workers; w++) {
            List<Manifest.Shard> mine = ShardReader.owned(s, w, workers);
            for (int i = 1; i < mine.size(); i++) {
                assertTrue(mine.get(i - 1).file().compareTo(mine.get(i).file()) < 0, "in the split's order: " + mine);
            }
            mine.forEach(m -> assertTrue(seen.add(m.file()), "dealt once: " + m.file()));
            min = Math.min(min, tokens(mine));
            max = Math.max(max, tokens(mine));
        }
        assertEquals(s.shards().size(), seen.size(), "every shard dealt");
        assertTrue(max - min <= 128, "shares within one shard: " + min + ".." + max);

        // equal shards go round-robin, as they always have
        Manifest.Split equal = split(7, 7, 7, 7, 7);
        assertEquals(List.of(equal.shards().get(0), equal.shards().get(2), equal.shards().get(4)), ShardReader.owned(equal, 0, 2));
        assertEquals(List.of(equal.shards().get(1), equal.shards().get(3)), ShardReader.owned(equal, 1, 2));
    }
}
