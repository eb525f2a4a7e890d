package io.sparkformer.model.text;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Learns byte-level BPE merges from word counts. The counting (pre-tokenizing a corpus into
 * pieces and counting them) is the part that scales with the corpus and runs anywhere, on Spark
 * executors for instance; the merges need only the distinct pieces and run here.
 *
 * <p>Each round merges the most frequent adjacent pair; ties go to the pair of lower symbol ids,
 * so the same counts always give the same merges. Pair counts are kept incrementally: a merge
 * touches only the words that hold the pair.
 */
public final class BpeTrainer {
    private BpeTrainer() {}

    /**
     * @param pieceCounts  counts of pre-tokenized pieces (raw text pieces, as {@link ByteLevel#split})
     * @param vocabSize    target size, special tokens and the 256 bytes included
     * @param minFrequency pairs seen fewer times than this are never merged
     */
    public static BpeTokenizer train(Map<String, Long> pieceCounts, int vocabSize, long minFrequency) {
        int base = Tokenizer.SPECIALS.size() + 256;
        if (vocabSize < base) {
            throw new IllegalArgumentException("vocab_size must be at least " + base
                    + " (special tokens and the 256 bytes), got " + vocabSize);
        }
        // Symbols 0..255 are the bytes; merged symbols follow.
        List<String> symbols = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            symbols.add(String.valueOf(ByteLevel.charOf(b)));
        }
        Map<String, Integer> symbolIds = new HashMap<>();
        for (int i = 0; i < 256; i++) {
            symbolIds.put(symbols.get(i), i);
        }
        // Words in a stable order, so ties and ids never depend on hash order.
        List<String> pieces = new ArrayList<>(pieceCounts.keySet());
        pieces.sort(null);
        int[][] words = new int[pieces.size()][];
        long[] counts = new long[pieces.size()];
        for (int w = 0; w < words.length; w++) {
            String spelled = ByteLevel.toByteChars(pieces.get(w));
            words[w] = new int[spelled.length()];
            for (int i = 0; i < spelled.length(); i++) {
                words[w][i] = symbolIds.get(String.valueOf(spelled.charAt(i)));
            }
            counts[w] = pieceCounts.get(pieces.get(w));
        }
        Map<Long, Long> pairCount = new HashMap<>();
        Map<Long, Set<Integer>> pairWords = new HashMap<>();
        for (int w = 0; w < words.length; w++) {
            addPairs(words[w], w, counts[w], 1, pairCount, pairWords);
        }
        PriorityQueue<long[]> queue = new PriorityQueue<>((x, y) -> x[0] != y[0] ? Long.compare(y[0], x[0]) : Long.compare(x[1], y[1]));
        pairCount.forEach((p, c) -> queue.add(new long[] {c, p}));
        List<String[]> merges = new ArrayList<>();
        while (base + merges.size() < vocabSize && !queue.isEmpty()) {
            long[] top = queue.poll();
            long pair = top[1];
            long current = pairCount.getOrDefault(pair, 0L);
            if (current != top[0]) {
                if (current > 0) {
                    queue.add(new long[] {current, pair}); // stale entry: requeue at its true count
                }
                continue;
            }
            if (current < Math.max(1, minFrequency)) {
                break;
            }
            int a = (int) (pair >>> 32);
            int b = (int) pair;
            int merged = symbols.size();
            symbols.add(symbols.get(a) + symbols.get(b));
            merges.add(new String[] {symbols.get(a), symbols.get(b)});
            Set<Integer> touched = new HashSet<>(pairWords.getOrDefault(pair, Set.of()));
            Set<Long> changed = new HashSet<>();
            for (int w : touched) {
                addPairs(words[w], w, counts[w], -1, pairCount, pairWords, changed);
                words[w] = merge(words[w], a, b, merged);
                addPairs(words[w], w, counts[w], 1, pairCount, pairWords, changed);
            }
            for (long p : changed) {
                long c = pairCount.getOrDefault(p, 0L);
                if (c > 0) {
                    queue.add(new long[] {c, p});
                }
            }
        }
        return BpeTokenizer.of(merges);
    }

    private static int[] merge(int[] word, int a, int b, int merged) {
        int[] out = new int[word.length];
        int n = 0;
        for (int i = 0; i < word.length; i++) {
            if (i + 1 < word.length && word[i] == a && word[i + 1] == b) {
                out[n++] = merged;
                i++;
            } else {
                out[n++] = word[i];
            }
        }
        return java.util.Arrays.copyOf(out, n);
    }

    private static void addPairs(int[] word, int w, long count, int sign, Map<Long, Long> pairCount,
                                 Map<Long, Set<Integer>> pairWords) {
        addPairs(word, w, count, sign, pairCount, pairWords, null);
    }

    private static void addPairs(int[] word, int w, long count, int sign, Map<Long, Long> pairCount,
                                 Map<Long, Set<Integer>> pairWords, Set<Long> changed) {
        for (int i = 0; i + 1 < word.length; i++) {
            long p = ((long) word[i] << 32) | (word[i + 1] & 0xffffffffL);
            long c = pairCount.getOrDefault(p, 0L) + sign * count;
            if (c <= 0) {
                pairCount.remove(p);
            } else {
                pairCount.put(p, c);
            }
            if (sign > 0) {
                pairWords.computeIfAbsent(p, k -> new HashSet<>()).add(w);
            }
            if (changed != null) {
                changed.add(p);
            }
        }
    }
}
