package io.sparkformer.model.inference;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;

import org.nd4j.linalg.api.ndarray.INDArray;

import io.sparkformer.model.TransformerConfig.Kind;

/**
 * Greedy decoding, sampling (temperature, top-k, top-p) and beam search over an
 * {@link IncrementalDecoder}. Inputs are token ids: a prompt to continue (decoder kind) or a source
 * to translate (encoder-decoder kind, whose output starts after {@code bos}). Greedy decoding and
 * sampling run many inputs as rows of one batch; beam search runs one input at a time with its
 * beams as rows.
 */
public final class Generator {
    private final StepDecoder decoder;
    private final int bos;
    private final int eos;

    /** What to do; {@code eos} < 0 never stops early. */
    public record Settings(Method method, int maxNewTokens, int beamWidth, double lengthPenalty,
                           double temperature, int topK, double topP, long seed, boolean stopAtEos)
            implements java.io.Serializable {
        public static Settings greedy(int maxNewTokens) {
            return new Settings(Method.GREEDY, maxNewTokens, 1, 0, 1, 0, 1, 0, true);
        }
    }

    public enum Method { GREEDY, SAMPLE, BEAM }

    public Generator(StepDecoder decoder, int bos, int eos) {
        if (decoder.config().kind() == Kind.ENCODER) {
            throw new IllegalArgumentException("an encoder (masked LM) model does not generate text");
        }
        this.decoder = decoder;
        this.bos = bos;
        this.eos = eos;
    }

    private boolean seq2seq() {
        return decoder.config().kind() == Kind.ENCODER_DECODER;
    }

    /** The generated tokens for every input (without the prompt, bos or eos). */
    public List<int[]> generate(List<int[]> given, Settings s) {
        int maxLen = decoder.window();
        List<int[]> inputs = new ArrayList<>();
        for (int[] in : given) {
            if (in.length > maxLen && !seq2seq()) {
                in = Arrays.copyOfRange(in, in.length - maxLen, in.length); // the model sees max_len tokens back
            } else if (in.length > maxLen) {
                throw new IllegalArgumentException("a source of " + in.length + " tokens is longer than max_len " + maxLen);
            }
            inputs.add(in);
        }
        int[][] results = new int[inputs.size()][];
        if (seq2seq()) {
            List<Integer> all = new ArrayList<>();
            for (int i = 0; i < inputs.size(); i++) {
                all.add(i);
            }
            batch(inputs, all, s, results);
        } else {
            // prompts of one length share a batch: their positions line up
            inputs.stream().map(in -> in.length).distinct().forEach(len -> {
                List<Integer> group = new ArrayList<>();
                for (int i = 0; i < inputs.size(); i++) {
                    if (inputs.get(i).length == len) {
                        group.add(i);
                    }
                }
                batch(inputs, group, s, results);
            });
        }
        return Arrays.asList(results);
    }

    private void batch(List<int[]> inputs, List<Integer> rows, Settings s, int[][] results) {
        if (s.method() == Method.BEAM) {
            beams(inputs, rows, s, results);
            return;
        }
        int n = rows.size();
        int[][] first = new int[n][];
        StepDecoder.State state;
        if (seq2seq()) {
            int[][] sources = new int[n][];
            for (int r = 0; r < n; r++) {
                sources[r] = inputs.get(rows.get(r));
                first[r] = new int[] {bos};
            }
            state = decoder.start(sources);
        } else {
            for (int r = 0; r < n; r++) {
                first[r] = inputs.get(rows.get(r)).length == 0 ? new int[] {bos} : inputs.get(rows.get(r));
            }
            state = decoder.start(n);
        }
        Random[] rng = new Random[n];
        List<List<Integer>> out = new ArrayList<>();
        List<List<Integer>> fed = new ArrayList<>(); // every token the decoder has read, per row
        boolean[] done = new boolean[n];
        for (int r = 0; r < n; r++) {
            rng[r] = new Random(s.seed() * 1_000_003L + rows.get(r));
            out.add(new ArrayList<>());
            List<Integer> f = new ArrayList<>();
            for (int tok : first[r]) {
                f.add(tok);
            }
            fed.add(f);
        }
        INDArray logits = decoder.step(state, first);
        for (int t = 0; t < s.maxNewTokens(); t++) {
            double[][] logp = IncrementalDecoder.logSoftmax(logits);
            int[][] next = new int[n][1];
            boolean all = true;
            for (int r = 0; r < n; r++) {
                int tok = s.method() == Method.SAMPLE ? sample(logp[r], s, rng[r]) : argmax(logp[r]);
                next[r][0] = tok;
                fed.get(r).add(tok);
                if (!done[r]) {
                    if (s.stopAtEos() && tok == eos) {
                        done[r] = true;
                    } else {
                        out.get(r).add(tok);
                    }
                }
                all &= done[r];
            }
            if (all || t + 1 == s.maxNewTokens()) {
                break;
            }
            if (state.length() + 1 > decoder.window()) {
                if (seq2seq()) {
                    break; // the target cannot outgrow the positions the model was trained with
                }
                // a decoder slides its window: re-read the last three quarters of it, then go on
                int keep = Math.max(1, decoder.window() * 3 / 4);
                int[][] window = new int[n][];
                for (int r = 0; r < n; r++) {
                    List<Integer> f = fed.get(r);
                    window[r] = f.subList(f.size() - keep, f.size()).stream().mapToInt(Integer::intValue).toArray();
                }
                state = decoder.start(n);
                logits = decoder.step(state, window);
            } else {
                logits = decoder.step(state, next);
            }
        }
        for (int r = 0; r < n; r++) {
            results[rows.get(r)] = out.get(r).stream().mapToInt(Integer::intValue).toArray();
        }
    }

    static int argmax(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    /** Samples from softmax(logp / T) restricted to the top k and to the smallest set of mass ≥ p. */
    static int sample(double[] logp, Settings s, Random rng) {
        int v = logp.length;
        Integer[] order = new Integer[v];
        for (int i = 0; i < v; i++) {
            order[i] = i;
        }
        Arrays.sort(order, Comparator.comparingDouble(i -> -logp[i]));
        double t = Math.max(1e-6, s.temperature());
        double[] w = new double[v];
        double max = logp[order[0]] / t;
        double sum = 0;
        int k = s.topK() > 0 ? Math.min(s.topK(), v) : v;
        for (int j = 0; j < k; j++) {
            w[j] = Math.exp(logp[order[j]] / t - max);
            sum += w[j];
        }
        if (s.topP() < 1.0) {
            double mass = 0;
            int keep = 0;
            while (keep < k && mass < s.topP() * sum) {
                mass += w[keep++];
            }
            k = Math.max(1, keep);
            sum = mass;
        }
        double u = rng.nextDouble() * sum;
        for (int j = 0; j < k; j++) {
            u -= w[j];
            if (u <= 0) {
                return order[j];
            }
        }
        return order[k - 1];
    }

    private record Hypothesis(int[] tokens, double logp, boolean finished) {}

    /** GNMT's length penalty: ((5 + |y|) / 6)^α; α = 0 ranks by total log-probability. */
    static double score(Hypothesis h, double alpha) {
        return h.logp() / Math.pow((5.0 + h.tokens().length) / 6.0, alpha);
    }

    /**
     * Beam search for several inputs at once: input i owns rows i·width ... i·width + width − 1 of
     * one decoding state. Inputs that finish keep their rows (fed a placeholder) until all are done.
     */
    private void beams(List<int[]> inputs, List<Integer> indices, Settings s, int[][] results) {
        int width = Math.max(1, s.beamWidth());
        int n = indices.size();
        int rows = n * width;
        int[][] first = new int[rows][];
        StepDecoder.State state;
        if (seq2seq()) {
            int[][] sources = new int[rows][];
            for (int i = 0; i < n; i++) {
                for (int b = 0; b < width; b++) {
                    sources[i * width + b] = inputs.get(indices.get(i));
                    first[i * width + b] = new int[] {bos};
                }
            }
            state = decoder.start(sources);
        } else {
            for (int i = 0; i < n; i++) {
                int[] in = inputs.get(indices.get(i));
                for (int b = 0; b < width; b++) {
                    first[i * width + b] = in.length == 0 ? new int[] {bos} : in;
                }
            }
            state = decoder.start(rows);
        }
        int room = decoder.window() - first[0].length;
        int steps = Math.min(s.maxNewTokens(), room + 1);
        List<List<Hypothesis>> open = new ArrayList<>();
        List<List<Hypothesis>> finished = new ArrayList<>();
        boolean[] done = new boolean[n];
        for (int i = 0; i < n; i++) {
            open.add(List.of(new Hypothesis(new int[0], 0, false)));
            finished.add(new ArrayList<>());
        }
        INDArray logits = decoder.step(state, first);
        for (int t = 0; t < steps; t++) {
            double[][] logp = IncrementalDecoder.logSoftmax(logits);
            int[] origin = new int[rows];
            int[][] feed = new int[rows][1];
            boolean last = t + 1 == steps || state.length() + 1 > decoder.window();
            boolean allDone = true;
            for (int i = 0; i < n; i++) {
                if (done[i]) {
                    for (int b = 0; b < width; b++) {
                        origin[i * width + b] = i * width + b;
                        feed[i * width + b][0] = eos;
                    }
                    continue;
                }
                List<Hypothesis> next = new ArrayList<>();
                List<Integer> from = new ArrayList<>();
                advance(open.get(i), logp, i * width, width, s, next, from, finished.get(i));
                if (!finished.get(i).isEmpty()) {
                    double bestDone = finished.get(i).stream().mapToDouble(h -> score(h, s.lengthPenalty())).max().getAsDouble();
                    double bestOpen = next.stream().mapToDouble(h -> score(h, s.lengthPenalty())).max().orElse(Double.NEGATIVE_INFINITY);
                    // no open beam can still beat the best finished one
                    done[i] = finished.get(i).size() >= width && bestOpen < bestDone;
                }
                done[i] |= next.isEmpty() || last;
                List<Hypothesis> padded = new ArrayList<>(next);
                for (int b = 0; b < width; b++) {
                    int k = Math.min(b, Math.max(0, next.size() - 1));
                    origin[i * width + b] = next.isEmpty() ? i * width + b : i * width + from.get(k);
                    if (next.isEmpty()) {
                        feed[i * width + b][0] = eos;
                    } else {
                        int[] toks = next.get(k).tokens();
                        feed[i * width + b][0] = toks[toks.length - 1];
                    }
                    if (b >= next.size() && !next.isEmpty()) {
                        // keep rows and beams aligned: a copy that can never win
                        padded.add(new Hypothesis(next.get(k).tokens(), Double.NEGATIVE_INFINITY, false));
                    }
                }
                open.set(i, padded);
                allDone &= done[i];
            }
            if (allDone || last) {
                break;
            }
            state.reorder(origin);
            logits = decoder.step(state, feed);
        }
        for (int i = 0; i < n; i++) {
            // hypotheses still open when the length ran out compete with the finished ones
            List<Hypothesis> pool = new ArrayList<>(finished.get(i));
            for (Hypothesis h : open.get(i)) {
                if (h.logp() > Double.NEGATIVE_INFINITY) {
                    pool.add(h);
                }
            }
            results[indices.get(i)] = pool.stream().max(Comparator.comparingDouble(h -> score(h, s.lengthPenalty())))
                    .orElseThrow().tokens();
        }
    }

    /** The indices of the k largest values, largest first (k is small: a partial insertion sort). */
    static int[] top(double[] v, int k) {
        int[] idx = new int[k];
        int n = 0;
        for (int i = 0; i < v.length; i++) {
            if (n < k || v[i] > v[idx[n - 1]]) {
                int j = n < k ? n++ : k - 1;
                while (j > 0 && v[idx[j - 1]] < v[i]) {
                    idx[j] = idx[j - 1];
                    j--;
                }
                idx[j] = i;
            }
        }
        return idx;
    }

    /** One beam step for one input: the best extensions of its beams (rows base ... base + beams − 1). */
    private void advance(List<Hypothesis> beams, double[][] logp, int base, int width, Settings s,
                         List<Hypothesis> next, List<Integer> from, List<Hypothesis> finished) {
        List<double[]> candidates = new ArrayList<>(); // {beam, token, logp}
        for (int b = 0; b < beams.size(); b++) {
            if (beams.get(b).logp() == Double.NEGATIVE_INFINITY) {
                continue;
            }
            double[] row = logp[base + b];
            for (int v : top(row, Math.min(2 * width, row.length))) {
                candidates.add(new double[] {b, v, beams.get(b).logp() + row[v]});
            }
        }
        candidates.sort(Comparator.comparingDouble(c -> -c[2]));
        for (double[] c : candidates) {
            Hypothesis parent = beams.get((int) c[0]);
            int tok = (int) c[1];
            if (s.stopAtEos() && tok == eos) {
                finished.add(new Hypothesis(parent.tokens(), c[2], true));
            } else if (next.size() < width) {
                int[] toks = Arrays.copyOf(parent.tokens(), parent.tokens().length + 1);
                toks[toks.length - 1] = tok;
                next.add(new Hypothesis(toks, c[2], false));
                from.add((int) c[0]);
            }
            if (next.size() == width && finished.size() >= width) {
                break;
            }
        }
    }
}
