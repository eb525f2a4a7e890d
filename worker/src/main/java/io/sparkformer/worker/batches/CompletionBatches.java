package io.sparkformer.worker.batches;

import java.util.Arrays;
import java.util.List;

import io.sparkformer.model.Batch;
import io.sparkformer.model.text.Tokenizer;

/**
 * Prompt completion for the decoder kind (as minGPT's sorting demo): the sequence is the prompt,
 * the completion and eos; the model reads it shifted by one and is scored only where it predicts
 * the completion and eos, never the prompt.
 */
public final class CompletionBatches extends PairBatches {
    private final List<int[]> prompts;
    private final List<int[]> completions;
    private final int maxLen;

    public CompletionBatches(List<int[]> prompts, List<int[]> completions, int batchSize, int maxLen, long seed) {
        if (prompts.size() != completions.size() || prompts.isEmpty()) {
            throw new IllegalArgumentException(prompts.size() + " prompts but " + completions.size() + " completions");
        }
        this.prompts = prompts;
        this.completions = completions;
        this.maxLen = maxLen;
        this.order = new EpochOrder(prompts.size(), batchSize, seed, null);
    }

    /** prompt, completion, eos: cut to maxLen + 1 tokens (the last is only predicted). */
    private int[] sequence(int row) {
        int[] p = prompts.get(row);
        int[] c = completions.get(row);
        int[] s = Arrays.copyOf(p, p.length + c.length + 1);
        System.arraycopy(c, 0, s, p.length, c.length);
        s[s.length - 1] = Tokenizer.EOS;
        return s.length > maxLen + 1 ? Arrays.copyOf(s, maxLen + 1) : s;
    }

    @Override
    public Batch assemble(int[] rows) {
        int t = 1;
        for (int r : rows) {
            t = Math.max(t, sequence(r).length - 1);
        }
        int[] ids = new int[rows.length * t];
        int[] target = new int[rows.length * t];
        Arrays.fill(ids, Tokenizer.PAD);
        Arrays.fill(target, -1);
        for (int i = 0; i < rows.length; i++) {
            int[] s = sequence(rows[i]);
            int n = s.length - 1;
            System.arraycopy(s, 0, ids, i * t, n);
            // position j predicts token j + 1: scored from the last prompt token on
            for (int j = Math.max(0, prompts.get(rows[i]).length - 1); j < n; j++) {
                target[i * t + j] = s[j + 1];
            }
        }
        return Batch.of(rows.length, t, ids, target);
    }
}
