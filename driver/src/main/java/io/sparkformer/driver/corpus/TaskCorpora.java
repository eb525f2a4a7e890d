package io.sparkformer.driver.corpus;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import io.sparkformer.worker.batches.BatchSource;

/**
 * The small known tasks the proof runs of docs/tasks.md train on, as TSV pairs (input TAB output), written
 * by {@code main} into datasets/tasks/:
 * <ul>
 *   <li>copy/ (seq2seq, the Annotated Transformer): 10 symbols a-j, length 10, output = input;
 *       train 6000 draws (its 10 epochs of 20 batches of 30), train-long 32,000 (its later
 *       revision's 20 epochs of 20 batches of 80), valid 150, test 100.</li>
 *   <li>reverse/ (tagging, encoder): 10 symbols, length 16, label at position i = input at 15 - i;
 *       train 50,000, valid 1,000, test 10,000.</li>
 *   <li>sort/ (completion, decoder; minGPT's demo): 6 digits of 0..2, completion = sorted. As minGPT,
 *       a quarter of the 729 possible inputs (chosen by a hash) is held out: train 20,000 draws from
 *       the rest, valid 500 and test 5,000 draws from the held-out inputs.</li>
 * </ul>
 */
public final class TaskCorpora {
    static final String SYMBOLS = "abcdefghij";

    private TaskCorpora() {}

    private static String random(SplittableRandom rnd, String alphabet, int length) {
        StringBuilder s = new StringBuilder(length);
        for (int j = 0; j < length; j++) {
            s.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
        }
        return s.toString();
    }

    static void copy(Writer w, int n, long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            String s = random(rnd, SYMBOLS, 10);
            w.write(s + "\t" + s + "\n");
        }
    }

    static void reverse(Writer w, int n, long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            String s = random(rnd, SYMBOLS, 16);
            w.write(s + "\t" + new StringBuilder(s).reverse() + "\n");
        }
    }

    /** The 729 inputs of the sorting task, split: held out when the hash of the index is 0 mod 4. */
    static List<String> sortInputs(boolean heldOut) {
        List<String> out = new ArrayList<>();
        for (int idx = 0; idx < 729; idx++) {
            StringBuilder s = new StringBuilder();
            for (int j = 0, v = idx; j < 6; j++, v /= 3) {
                s.append((char) ('0' + v % 3));
            }
            if ((Math.floorMod(BatchSource.mix(2026, idx), 4) == 0) == heldOut) {
                out.add(s.toString());
            }
        }
        return out;
    }

    static void sort(Writer w, List<String> inputs, int n, long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            String s = inputs.get(rnd.nextInt(inputs.size()));
            char[] c = s.toCharArray();
            Arrays.sort(c);
            w.write(s + "\t" + new String(c) + "\n");
        }
    }

    private interface Write {
        void to(Writer w) throws IOException;
    }

    private static void file(Path path, Write write) throws IOException {
        Files.createDirectories(path.getParent());
        try (Writer w = Files.newBufferedWriter(path, StandardCharsets.UTF_8)) {
            write.to(w);
        }
    }

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args.length > 0 ? args[0] : "datasets/tasks");
        file(dir.resolve("copy/train.tsv"), w -> copy(w, 6000, 1));
        file(dir.resolve("copy/train-long.tsv"), w -> copy(w, 32_000, 4));
        file(dir.resolve("copy/valid.tsv"), w -> copy(w, 150, 2));
        file(dir.resolve("copy/test.tsv"), w -> copy(w, 100, 3));
        file(dir.resolve("reverse/train.tsv"), w -> reverse(w, 50_000, 11));
        file(dir.resolve("reverse/valid.tsv"), w -> reverse(w, 1_000, 12));
        file(dir.resolve("reverse/test.tsv"), w -> reverse(w, 10_000, 13));
        List<String> train = sortInputs(false);
        List<String> held = sortInputs(true);
        file(dir.resolve("sort/train.tsv"), w -> sort(w, train, 20_000, 21));
        file(dir.resolve("sort/valid.tsv"), w -> sort(w, held, 500, 22));
        file(dir.resolve("sort/test.tsv"), w -> sort(w, held, 5_000, 23));
    }
}
