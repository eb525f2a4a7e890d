package io.sparkformer.driver.eval;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Corpus BLEU as sacreBLEU computes it by default: 13a tokenization (mteval-v13a's), n-grams up to
 * 4 clipped by one reference, "exp" smoothing of zero counts, and the brevity penalty over the
 * whole corpus. Statistics add up across sentences (and across Spark partitions) before the score.
 */
public final class Bleu {
    private static final int ORDER = 4;
    private static final Pattern[] RULES = {
        Pattern.compile("([\\{-\\~\\[-\\` -\\&\\(-\\+\\:-\\@\\/])"),
        Pattern.compile("([^0-9])([\\.,])"),
        Pattern.compile("([\\.,])([^0-9])"),
        Pattern.compile("([0-9])(-)"),
    };
    private static final String[] REPLACEMENTS = {" $1 ", "$1 $2 ", " $1 $2", "$1 $2 "};
    private static final Pattern SPACES = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);

    private Bleu() {}

    /** sacreBLEU's "13a" tokenizer. */
    public static String tokenize13a(String line) {
        line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ");
        if (line.contains("&")) {
            line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
        }
        line = " " + line + " ";
        for (int i = 0; i < RULES.length; i++) {
            line = RULES[i].matcher(line).replaceAll(REPLACEMENTS[i]);
        }
        return SPACES.matcher(line.strip()).replaceAll(" ");
    }

    /** Sufficient statistics: matches and totals per order, hypothesis and reference lengths. */
    public record Stats(long[] correct, long[] total, long hypLength, long refLength) implements java.io.Serializable {
        public static Stats empty() {
            return new Stats(new long[ORDER], new long[ORDER], 0, 0);
        }

        public Stats plus(Stats o) {
            long[] c = new long[ORDER];
            long[] t = new long[ORDER];
            for (int n = 0; n < ORDER; n++) {
                c[n] = correct[n] + o.correct[n];
                t[n] = total[n] + o.total[n];
            }
            return new Stats(c, t, hypLength + o.hypLength, refLength + o.refLength);
        }

        /** The BLEU score, 0 to 100. */
        public double score() {
            double[] precision = new double[ORDER];
            double smooth = 1;
            for (int n = 0; n < ORDER; n++) {
                if (total[n] == 0) {
                    break;
                }
                if (correct[n] == 0) {
                    smooth *= 2;
                    precision[n] = 100.0 / (smooth * total[n]);
                } else {
                    precision[n] = 100.0 * correct[n] / total[n];
                }
            }
            double bp = hypLength < refLength ? (hypLength > 0 ? Math.exp(1 - (double) refLength / hypLength) : 0) : 1;
            double logSum = 0;
            for (double p : precision) {
                logSum += p == 0 ? -9999999999.0 : Math.log(p);
            }
            return bp * Math.exp(logSum / ORDER);
        }
    }

    /** Statistics of one hypothesis against its reference (both raw text). */
    public static Stats sentence(String hypothesis, String reference) {
        String[] hyp = split(tokenize13a(hypothesis));
        String[] ref = split(tokenize13a(reference));
        long[] correct = new long[ORDER];
        long[] total = new long[ORDER];
        for (int n = 1; n <= ORDER; n++) {
            Map<String, Integer> refCounts = ngrams(ref, n);
            Map<String, Integer> hypCounts = ngrams(hyp, n);
            for (Map.Entry<String, Integer> e : hypCounts.entrySet()) {
                correct[n - 1] += Math.min(e.getValue(), refCounts.getOrDefault(e.getKey(), 0));
            }
            total[n - 1] = Math.max(0, hyp.length - n + 1);
        }
        return new Stats(correct, total, hyp.length, ref.length);
    }

    /** Corpus BLEU of hypotheses against references, line by line. */
    public static double corpus(List<String> hypotheses, List<String> references) {
        if (hypotheses.size() != references.size()) {
            throw new IllegalArgumentException(hypotheses.size() + " hypotheses for " + references.size() + " references");
        }
        Stats s = Stats.empty();
        for (int i = 0; i < hypotheses.size(); i++) {
            s = s.plus(sentence(hypotheses.get(i), references.get(i)));
        }
        return s.score();
    }

    private static String[] split(String tokenized) {
        return tokenized.isEmpty() ? new String[0] : tokenized.split(" ");
    }

    private static Map<String, Integer> ngrams(String[] tokens, int n) {
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i + n <= tokens.length; i++) {
            counts.merge(String.join(" ", java.util.Arrays.copyOfRange(tokens, i, i + n)), 1, Integer::sum);
        }
        return counts;
    }
}
