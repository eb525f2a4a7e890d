package io.sparkformer.driver.corpus;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * The Annotated Transformer's copy task as sentence pairs: a source of 10 random symbols and a
 * target equal to it. Ten symbols ({@code a} to {@code j}) as the published vocabulary of 11
 * (ten symbols and padding); our tokenizer adds its own specials (bos, eos, mask, unk) beside them.
 * The published run draws fresh random batches: 10 epochs of 20 batches of 30 sequences, so the
 * training file holds 6000 distinct draws; validation and test are separate draws.
 *
 * <p>Written by {@code main} into datasets/tasks/copy/ (train.tsv, valid.tsv, test.tsv).
 */
public final class CopyTaskCorpus {
    public static final String SYMBOLS = "abcdefghij";
    public static final int LENGTH = 10;

    private CopyTaskCorpus() {}

    static void write(Writer w, int pairs, long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < pairs; i++) {
            StringBuilder s = new StringBuilder(LENGTH);
            for (int j = 0; j < LENGTH; j++) {
                s.append(SYMBOLS.charAt(rnd.nextInt(SYMBOLS.length())));
            }
            w.write(s + "\t" + s + "\n");
        }
    }

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args.length > 0 ? args[0] : "datasets/tasks/copy");
        Files.createDirectories(dir);
        String[][] splits = {{"train.tsv", "6000", "1"}, {"valid.tsv", "150", "2"}, {"test.tsv", "100", "3"}};
        for (String[] s : splits) {
            try (Writer w = Files.newBufferedWriter(dir.resolve(s[0]), StandardCharsets.UTF_8)) {
                write(w, Integer.parseInt(s[1]), Long.parseLong(s[2]));
            }
        }
    }
}
