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
    private final IncrementalDecoder decoder;
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

    public Generator(IncrementalDecoder decoder, int bos, int eos) {
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
        int maxLen = decoder.config().maxLen();
        List<int[]> inputs = new ArrayList<>();
        for (int[] in : given) {
            if (in.length > maxLen && !seq2seq()) {
                in = Arrays.copyOfRange(in, in.length - maxLen, in.length); // the model sees max_len tokens back
            } else if (in.length > maxLen) {
                throw new IllegalArgumentException("a source of " + in.length + " tokens is longer than max_len " + maxLen);
            }
            inputs.add(in);
        }
        if (s.method() == Method.BEAM) {
            List<int[]> out = new ArrayList<>();
            for (int[] in : inputs) {
                out.add(beam(in, s));
            }
            return out;
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
        int n = rows.size();
        int[][] first = new int[n][];
        IncrementalDecoder.State state;
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
            if (state.length() + 1 > decoder.config().maxLen()) {
                if (seq2seq()) {
                    break; // the target cannot outgrow the positions the model was trained with
                }
                // a decoder slides its window: re-read the last three quarters of it, then go on
                int keep = Math.max(1, decoder.config().maxLen() * 3 / 4);
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

    private int[] beam(int[] input, Settings s) {
        int width = Math.max(1, s.beamWidth());
        IncrementalDecoder.State state;
        int[][] first = new int[width][];
        if (seq2seq()) {
            int[][] sources = new int[width][];
            Arrays.fill(sources, input);
            Arrays.fill(first, new int[] {bos});
            state = decoder.start(sources);
        } else {
            Arrays.fill(first, input.length == 0 ? new int[] {bos} : input);
            state = decoder.start(width);
        }
        int room = decoder.config().maxLen() - first[0].length;
        int steps = Math.min(s.maxNewTokens(), room + 1);
        INDArray logits = decoder.step(state, first);
        List<Hypothesis> beams = List.of(new Hypothesis(new int[0], 0, false));
        List<Hypothesis> finished = new ArrayList<>();
        for (int t = 0; t < steps; t++) {
            double[][] logp = IncrementalDecoder.logSoftmax(logits);
            List<double[]> candidates = new ArrayList<>(); // {beam, token, logp}
            for (int b = 0; b < beams.size(); b++) {
                double[] row = logp[b];
                Integer[] order = new Integer[row.length];
                for (int i = 0; i < row.length; i++) {
                    order[i] = i;
                }
                Arrays.sort(order, Comparator.comparingDouble(i -> -row[i]));
                for (int j = 0; j < Math.min(2 * width, row.length); j++) {
                    candidates.add(new double[] {b, order[j], beams.get(b).logp() + row[order[j]]});
                }
            }
            candidates.sort(Comparator.comparingDouble(c -> -c[2]));
            List<Hypothesis> next = new ArrayList<>();
            List<Integer> from = new ArrayList<>();
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
            // stop when no open beam can beat the best finished one (scores only fall as beams grow
            // without a length penalty; with one, keep going until the open beams are worse)
            if (!finished.isEmpty()) {
                double bestDone = finished.stream().mapToDouble(h -> score(h, s.lengthPenalty())).max().getAsDouble();
                double bestOpen = next.stream().mapToDouble(h -> score(h, s.lengthPenalty())).max().orElse(Double.NEGATIVE_INFINITY);
                if (finished.size() >= width && bestOpen < bestDone) {
                    break;
                }
            }
            if (next.isEmpty() || t + 1 == steps || state.length() + 1 > decoder.config().maxLen()) {
                beams = next;
                break;
            }
            int[] origin = new int[width];
            int[][] feed = new int[width][1];
            for (int b = 0; b < width; b++) {
                int k = Math.min(b, next.size() - 1);
                origin[b] = from.get(k);
                int[] toks = next.get(k).tokens();
                feed[b][0] = toks[toks.length - 1];
            }
            state.reorder(origin);
            // pad the beam list to the row count with copies, so rows and beams stay aligned
            List<Hypothesis> padded = new ArrayList<>(next);
            while (padded.size() < width) {
                padded.add(new Hypothesis(next.get(next.size() - 1).tokens(), Double.NEGATIVE_INFINITY, false));
            }
            beams = padded;
            logits = decoder.step(state, feed);
        }
        // hypotheses still open when the length ran out compete with the finished ones
        List<Hypothesis> pool = new ArrayList<>(finished);
        for (Hypothesis h : beams) {
            if (h.logp() > Double.NEGATIVE_INFINITY) {
                pool.add(h);
            }
        }
        return pool.stream().max(Comparator.comparingDouble(h -> score(h, s.lengthPenalty()))).orElseThrow().tokens();
    }
}
