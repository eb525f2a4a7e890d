package io.sparkformer.driver.corpus;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The embedded default corpus: sentences from a small probabilistic grammar whose entropy is
 * known exactly, so a model's validation loss can be read against the floor no model can beat.
 *
 * <pre>
 *   S  → NP(subject) VERB NP(object) [PP] "." "\n"
 *   NP → DET [ADJ] NOUN          PP → PREP DET [ADJ] NOUN
 * </pre>
 * The verb depends on the subject noun and the object noun on the verb, so a model has
 * structure to learn beyond word frequencies. Word classes are disjoint and every optional part
 * is announced by its first word, so the text determines every choice: the entropy of the
 * character stream is exactly H(sentence) / E[characters per sentence].
 */
public final class GrammarCorpus {
    static final List<String> DETS = List.of("the", "a", "every");
    static final double[] DET_P = {0.55, 0.30, 0.15};
    static final List<String> ADJS = List.of("big", "small", "red", "old", "quiet", "happy");
    static final double ADJ_P = 0.35;
    static final List<String> SUBJECTS = List.of("dog", "cat", "child", "farmer", "bird", "king", "teacher", "sailor");
    static final List<String> VERBS = List.of("sees", "likes", "finds", "carries", "follows", "watches", "feeds", "paints");
    static final List<String> OBJECTS = List.of("apple", "river", "house", "song", "dog", "cat", "book", "stone", "boat", "flower");
    static final List<String> PREPS = List.of("near", "under", "behind", "with");
    static final double PP_P = 0.3;

    /** A fixed table of the conditional distributions, drawn once from this seed. */
    private static final long TABLE_SEED = 20261123L;
    private static final double[] SUBJECT_P = zipf(SUBJECTS.size(), 1.0);
    private static final double[][] VERB_GIVEN_SUBJECT = table(SUBJECTS.size(), VERBS.size(), TABLE_SEED);
    private static final double[][] OBJECT_GIVEN_VERB = table(VERBS.size(), OBJECTS.size(), TABLE_SEED + 1);

    private GrammarCorpus() {}

    private static double[] zipf(int n, double s) {
        double[] p = new double[n];
        double z = 0;
        for (int i = 0; i < n; i++) {
            p[i] = 1.0 / Math.pow(i + 1, s);
            z += p[i];
        }
        for (int i = 0; i < n; i++) {
            p[i] /= z;
        }
        return p;
    }

    /** Rows of peaked distributions: each row favours a few columns (Dirichlet-like, α < 1). */
    private static double[][] table(int rows, int cols, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[][] t = new double[rows][cols];
        for (int i = 0; i < rows; i++) {
            double z = 0;
            for (int j = 0; j < cols; j++) {
                double u = r.nextDouble();
                t[i][j] = Math.pow(u, 3) + 0.02; // heavy on a few, none impossible
                z += t[i][j];
            }
            for (int j = 0; j < cols; j++) {
                t[i][j] /= z;
            }
        }
        return t;
    }

    private static int draw(double[] p, SplittableRandom r) {
        double u = r.nextDouble();
        double c = 0;
        for (int i = 0; i < p.length; i++) {
            c += p[i];
            if (u < c) {
                return i;
            }
        }
        return p.length - 1;
    }

    /** One sentence and its log-probability (nats). */
    record Sentence(String text, double logProb) {}

    static Sentence sentence(SplittableRandom r) {
        StringBuilder sb = new StringBuilder();
        double[] lp = {0};
        nounPhrase(sb, lp, r, SUBJECT_P, SUBJECTS);
        int subject = SUBJECTS.indexOf(sb.substring(sb.lastIndexOf(" ") + 1));
        int verb = draw(VERB_GIVEN_SUBJECT[subject], r);
        lp[0] += Math.log(VERB_GIVEN_SUBJECT[subject][verb]);
        sb.append(' ').append(VERBS.get(verb)).append(' ');
        nounPhrase(sb, lp, r, OBJECT_GIVEN_VERB[verb], OBJECTS);
        if (r.nextDouble() < PP_P) {
            lp[0] += Math.log(PP_P);
            int prep = r.nextInt(PREPS.size());
            lp[0] += Math.log(1.0 / PREPS.size());
            sb.append(' ').append(PREPS.get(prep)).append(' ');
            nounPhrase(sb, lp, r, uniform(OBJECTS.size()), OBJECTS);
        } else {
            lp[0] += Math.log(1 - PP_P);
        }
        sb.append(".\n");
        return new Sentence(sb.toString(), lp[0]);
    }

    private static void nounPhrase(StringBuilder sb, double[] lp, SplittableRandom r, double[] nounP, List<String> nouns) {
        int det = draw(DET_P, r);
        lp[0] += Math.log(DET_P[det]);
        sb.append(DETS.get(det)).append(' ');
        if (r.nextDouble() < ADJ_P) {
            lp[0] += Math.log(ADJ_P) + Math.log(1.0 / ADJS.size());
            sb.append(ADJS.get(r.nextInt(ADJS.size()))).append(' ');
        } else {
            lp[0] += Math.log(1 - ADJ_P);
        }
        int noun = draw(nounP, r);
        lp[0] += Math.log(nounP[noun]);
        sb.append(nouns.get(noun));
    }

    private static double[] uniform(int n) {
        double[] p = new double[n];
        java.util.Arrays.fill(p, 1.0 / n);
        return p;
    }

    private static double entropy(double[] p) {
        double h = 0;
        for (double x : p) {
            h -= x > 0 ? x * Math.log(x) : 0;
        }
        return h;
    }

    private static double meanLength(double[] p, List<String> words) {
        double m = 0;
        for (int i = 0; i < p.length; i++) {
            m += p[i] * words.get(i).length();
        }
        return m;
    }

    /** Entropy (nats) and expected length (characters) of a noun phrase with the given noun law. */
    private static double[] nounPhraseStats(double[] nounP, List<String> nouns) {
        double h = entropy(DET_P) + entropy(new double[] {ADJ_P, 1 - ADJ_P}) + ADJ_P * Math.log(ADJS.size()) + entropy(nounP);
        double len = meanLength(DET_P, DETS) + 1 + ADJ_P * (ADJS.stream().mapToInt(String::length).average().orElse(0) + 1)
                + meanLength(nounP, nouns);
        return new double[] {h, len};
    }

    /** The exact entropy per sentence (nats), expected characters per sentence, and nats per character. */
    public static Map<String, Double> exactStatistics() {
        double[] subj = nounPhraseStats(SUBJECT_P, SUBJECTS);
        double h = subj[0];
        double len = subj[1];
        double[] verbP = new double[VERBS.size()];
        for (int s = 0; s < SUBJECTS.size(); s++) {
            h += SUBJECT_P[s] * entropy(VERB_GIVEN_SUBJECT[s]);
            for (int v = 0; v < VERBS.size(); v++) {
                verbP[v] += SUBJECT_P[s] * VERB_GIVEN_SUBJECT[s][v];
            }
        }
        len += 1 + meanLength(verbP, VERBS) + 1;
        for (int v = 0; v < VERBS.size(); v++) {
            double[] obj = nounPhraseStats(OBJECT_GIVEN_VERB[v], OBJECTS);
            h += verbP[v] * obj[0];
            len += verbP[v] * obj[1];
        }
        double[] pp = nounPhraseStats(uniform(OBJECTS.size()), OBJECTS);
        h += entropy(new double[] {PP_P, 1 - PP_P}) + PP_P * (Math.log(PREPS.size()) + pp[0]);
        len += PP_P * (1 + PREPS.stream().mapToInt(String::length).average().orElse(0) + 1 + pp[1]);
        len += 2; // ".\n"
        Map<String, Double> stats = new LinkedHashMap<>();
        stats.put("nats_per_sentence", h);
        stats.put("chars_per_sentence", len);
        stats.put("nats_per_char", h / len);
        return stats;
    }

    /** Writes n sentences drawn from seed. */
    public static void write(Writer out, int sentences, long seed) throws IOException {
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < sentences; i++) {
            out.write(sentence(r).text());
        }
    }

    public static final int DEFAULT_SENTENCES = 40_000;
    public static final long DEFAULT_SEED = 1;

    /** Regenerates datasets/grammar/corpus.txt: {@code GrammarCorpus OUT_FILE}. */
    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 ? args[0] : "datasets/grammar/corpus.txt");
        Files.createDirectories(out.toAbsolutePath().getParent());
        try (Writer w = Files.newBufferedWriter(out, StandardCharsets.UTF_8)) {
            write(w, DEFAULT_SENTENCES, DEFAULT_SEED);
        }
        System.out.println(out + ": " + DEFAULT_SENTENCES + " sentences; " + exactStatistics());
    }
}
