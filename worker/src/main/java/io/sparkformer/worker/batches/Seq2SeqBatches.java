package io.sparkformer.worker.batches;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import io.sparkformer.model.Batch;
import io.sparkformer.model.text.Tokenizer;

/**
 * Padded encoder-decoder batches from sentence pairs. The source is its tokens then eos; the
 * decoder input is bos then the target's tokens; the decoder's targets are the target's tokens
 * then eos, −1 at padding. Sequences longer than maxLen are cut (keeping eos).
 *
 * <p>Each epoch visits every pair once in an order drawn from (seed, epoch). With bucketing on,
 * pairs are sorted by length within windows of 50 batches before they are cut into batches, and
 * the batches are then shuffled, which cuts padding without making batches predictable.
 */
public final class Seq2SeqBatches extends PairBatches {

    private final List<int[]> sources;
    private final List<int[]> targets;
    private final int maxLen;

    public Seq2SeqBatches(List<int[]> sources, List<int[]> targets, int batchSize, int maxLen, boolean bucketing, long seed) {
        if (sources.size() != targets.size()) {
            throw new IllegalArgumentException(sources.size() + " sources but " + targets.size() + " targets");
        }
        if (sources.isEmpty()) {
            throw new IllegalArgumentException("no sentence pairs");
        }
        if (maxLen < 2) {
            throw new IllegalArgumentException("max length must be at least 2, got " + maxLen);
        }
        this.sources = sources;
        this.targets = targets;
        this.maxLen = maxLen;
        this.order = new EpochOrder(sources.size(), batchSize, seed,
                bucketing ? i -> Math.max(sources.get(i).length, targets.get(i).length) : null);
    }

    public int pairs() { return sources.size(); }

    /** One padded batch of the given pairs. */
    public Batch assemble(int[] pairIndices) {
        int b = pairIndices.length;
        List<int[]> src = new ArrayList<>(b);
        List<int[]> tgt = new ArrayList<>(b);
        int s = 1;
        int t = 1;
        for (int p : pairIndices) {
            int[] source = withEnd(sources.get(p), maxLen);
            int[] target = withEnd(targets.get(p), maxLen);
            src.add(source);
            tgt.add(target);
            s = Math.max(s, source.length);
            t = Math.max(t, target.length);
        }
        int[] srcIds = new int[b * s];
        int[] tgtIn = new int[b * t];
        int[] tgtOut = new int[b * t];
        Arrays.fill(tgtOut, -1);
        for (int r = 0; r < b; r++) {
            int[] source = src.get(r);
            System.arraycopy(source, 0, srcIds, r * s, source.length);
            int[] target = tgt.get(r);
            tgtIn[r * t] = Tokenizer.BOS;
            System.arraycopy(target, 0, tgtIn, r * t + 1, target.length - 1);
            System.arraycopy(target, 0, tgtOut, r * t, target.length);
        }
        return Batch.seq2seq(b, s, srcIds, t, tgtIn, tgtOut);
    }

    /** tokens then eos, cut to at most maxLen with eos kept: a source as the encoder reads it. */
    public static int[] withEnd(int[] tokens, int maxLen) {
        int n = Math.min(tokens.length, maxLen - 1);
        int[] out = Arrays.copyOf(tokens, n + 1);
        out[n] = Tokenizer.EOS;
        return out;
    }
}
