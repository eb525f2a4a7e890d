package io.sparkformer.driver.corpus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.sparkformer.driver.SparkTestBase;
import io.sparkformer.worker.batches.Task;
import io.sparkformer.model.Batch;
import io.sparkformer.model.text.CharTokenizer;
import io.sparkformer.model.text.Tokenizer;
import io.sparkformer.worker.batches.MaskedLmBatches;
import io.sparkformer.worker.batches.Seq2SeqBatches;
import io.sparkformer.worker.shards.Manifest;

class CorpusBuilderTest extends SparkTestBase {
    @TempDir
    Path tmp;

    private static CorpusSpec stream(Task task, String input, String tokenizer, String out) {
        return new CorpusSpec(task, List.of(input), List.of(), 0.1, tokenizer, 0, false, out);
    }

    @Test
    void tinyShakespeareAtCharacterLevelSplitsAsNanoGpt() throws IOException {
        Path text = shared().resolve("datasets/tinyshakespeare.txt");
        String out = tmp.resolve("shakespeare").toString();
        long t0 = System.nanoTime();
        CorpusBuilder.Corpus c = new CorpusBuilder(sc, 2).build(stream(Task.CAUSAL_LM, text.toString(), "char", out));
        double s = (System.nanoTime() - t0) / 1e9;
        assertEquals(65, ((CharTokenizer) c.tokenizer()).characters().length());
        assertEquals(1_003_854, c.manifest().split("train").tokens());
        assertEquals(111_540, c.manifest().split("validation").tokens());
        assertTrue(c.manifest().split("train").shards().size() >= 2, "one shard per worker at least");
        int[] train = ShardReader.stream(out, c.manifest().split("train").shards(), sc.hadoopConfiguration());
        int[] val = ShardReader.stream(out, c.manifest().split("validation").shards(), sc.hadoopConfiguration());
        String original = Files.readString(text, StandardCharsets.UTF_8);
        assertEquals(original.substring(0, 1_003_854), c.tokenizer().decode(train));
        assertEquals(original.substring(1_003_854), c.tokenizer().decode(val));
        System.out.printf("shakespeare char: %d + %d tokens in %d + %d shards, %.1f s%n", train.length, val.length,
                c.manifest().split("train").shards().size(), c.manifest().split("validation").shards().size(), s);

        long t1 = System.nanoTime();
        CorpusBuilder.Corpus again = new CorpusBuilder(sc, 2).build(stream(Task.CAUSAL_LM, text.toString(), "char", out));
        assertTrue(again.reused(), "a rerun with the same inputs and settings reuses the shards");
        assertEquals(c.manifest().key(), again.manifest().key());
        System.out.printf("shakespeare rerun: reused in %.2f s%n", (System.nanoTime() - t1) / 1e9);
    }

    @Test
    void multi30kWithBpeTrainedOnSparkGivesSeq2SeqBatches() throws IOException {
        Path m30k = shared().resolve("datasets/multi30k");
        String out = tmp.resolve("m30k").toString();
        CorpusSpec spec = new CorpusSpec(Task.SEQ2SEQ,
                List.of(m30k.resolve("train.de").toString(), m30k.resolve("train.en").toString()),
                List.of(m30k.resolve("val.de").toString(), m30k.resolve("val.en").toString()),
                0, "bpe", 8000, false, out);
        long t0 = System.nanoTime();
        CorpusBuilder.Corpus c = new CorpusBuilder(sc, 2).build(spec);
        double s = (System.nanoTime() - t0) / 1e9;
        assertEquals(29_000, c.manifest().split("train").records());
        assertEquals(1_014, c.manifest().split("validation").records());
        assertTrue(c.tokenizer().vocabSize() <= 8000);
        List<List<int[]>> pairs = ShardReader.pairs(out, c.manifest().split("train").shards(), sc.hadoopConfiguration());
        List<String> de = Files.readAllLines(m30k.resolve("train.de"), StandardCharsets.UTF_8);
        List<String> en = Files.readAllLines(m30k.resolve("train.en"), StandardCharsets.UTF_8);
        for (int i : new int[] {0, 1, 14_500, 28_999}) {
            assertEquals(de.get(i), c.tokenizer().decode(pairs.get(0).get(i)), "pair " + i + " source");
            assertEquals(en.get(i), c.tokenizer().decode(pairs.get(1).get(i)), "pair " + i + " target");
        }
        Seq2SeqBatches batches = new Seq2SeqBatches(pairs.get(0), pairs.get(1), 64, 128, true, 1);
        Batch b = batches.batch(0);
        assertEquals(64, b.size());
        assertEquals(Tokenizer.BOS, b.ids()[0]);
        System.out.printf("multi30k bpe: vocab %d, train %d tokens in %d shards, validation %d tokens, %.1f s%n",
                c.tokenizer().vocabSize(), c.manifest().split("train").tokens(), c.manifest().split("train").shards().size(),
                c.manifest().split("validation").tokens(), s);
    }

    @Test
    void streamWithValidationFilesTrainsOnEveryInputToken() throws IOException {
        Path in = tmp.resolve("day.txt");
        Files.writeString(in, "the cat sees the dog.\n".repeat(300));
        Path fixed = tmp.resolve("fixed-validation.txt");
        Files.writeString(fixed, "a dog sees the cat.\n".repeat(40));
        String out = tmp.resolve("with-validation").toString();
        CorpusSpec spec = new CorpusSpec(Task.CAUSAL_LM, List.of(in.toString()), List.of(fixed.toString()), 0.1, "char",
                0, false, out);
        CorpusBuilder.Corpus c = new CorpusBuilder(sc, 2).build(spec);
        int[] train = ShardReader.stream(out, c.manifest().split("train").shards(), sc.hadoopConfiguration());
        int[] val = ShardReader.stream(out, c.manifest().split("validation").shards(), sc.hadoopConfiguration());
        assertEquals(Files.readString(in), c.tokenizer().decode(train), "every input token trains");
        assertEquals(Files.readString(fixed), c.tokenizer().decode(val), "the files validate, in order");
        // the same inputs with another validation file are another corpus
        Path other = tmp.resolve("other-validation.txt");
        Files.writeString(other, "the dog.\n".repeat(10));
        CorpusBuilder.Corpus c2 = new CorpusBuilder(sc, 2).build(new CorpusSpec(Task.CAUSAL_LM, List.of(in.toString()),
                List.of(other.toString()), 0.1, "char", 0, false, out));
        assertFalse(c2.reused());
        assertEquals(90, c2.manifest().split("validation").tokens());
    }

    @Test
    void maskedLmBatchesFromShards() throws IOException {
        Path in = tmp.resolve("docs.txt");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 2000; i++) {
            sb.append("line ").append(i).append(" of a small document\n");
        }
        Files.writeString(in, sb);
        String out = tmp.resolve("mlm").toString();
        CorpusBuilder.Corpus c = new CorpusBuilder(sc, 2).build(stream(Task.MASKED_LM, in.toString(), "char", out));
        int[] tokens = ShardReader.stream(out, c.manifest().split("train").shards(), sc.hadoopConfiguration());
        Batch b = new MaskedLmBatches(tokens, 8, 32, c.tokenizer().vocabSize(), 1).batch(0);
        long masked = java.util.Arrays.stream(b.ids()).filter(i -> i == Tokenizer.MASK).count();
        long targets = java.util.Arrays.stream(b.target()).filter(t -> t != -1).count();
        assertTrue(targets > 0 && masked > 0 && masked <= targets);
    }

    @Test
    void badInputsGiveClearErrorsAndWriteNothing() throws IOException {
        String out = tmp.resolve("bad").toString();
        CorpusBuilder builder = new CorpusBuilder(sc, 2);
        // a path that matches nothing
        var e = assertThrows(CorpusException.class,
                () -> builder.build(stream(Task.CAUSAL_LM, tmp.resolve("nope-*.txt").toString(), "char", out)));
        assertTrue(e.getMessage().contains("nope-*.txt: no such file"), e.getMessage());
        // a directory with no files
        Path emptyDir = Files.createDirectories(tmp.resolve("emptydir"));
        e = assertThrows(CorpusException.class, () -> builder.build(stream(Task.CAUSAL_LM, emptyDir.toString(), "char", out)));
        assertTrue(e.getMessage().contains("no files"), e.getMessage());
        // an empty file
        Path empty = Files.createFile(tmp.resolve("empty.txt"));
        e = assertThrows(CorpusException.class, () -> builder.build(stream(Task.CAUSAL_LM, empty.toString(), "char", out)));
        assertTrue(e.getMessage().contains("corpus is empty"), e.getMessage());
        // invalid UTF-8: an error naming the file, or skipped and counted
        Path latin1 = tmp.resolve("latin1.txt");
        Files.write(latin1, "good line\ncaf\u00e9 in latin-1\nanother good line\n".getBytes(StandardCharsets.ISO_8859_1));
        e = assertThrows(CorpusException.class, () -> builder.build(stream(Task.CAUSAL_LM, latin1.toString(), "char", out)));
        assertTrue(e.getMessage().contains("latin1.txt") && e.getMessage().contains("not valid UTF-8"), e.getMessage());
        assertFalse(Files.exists(Path.of(out, Manifest.FILE_NAME)), "no manifest after a failed build");
        CorpusBuilder.Corpus skipped = builder.build(new CorpusSpec(Task.CAUSAL_LM, List.of(latin1.toString()), List.of(),
                0.1, "char", 0, true, out));
        assertEquals(1, skipped.manifest().invalidLines());
        assertEquals("good line\nanother good line\n".length(),
                skipped.manifest().split("train").tokens() + skipped.manifest().split("validation").tokens());
        // a TSV line without a tab names file and line
        Path tsv = tmp.resolve("pairs.tsv");
        Files.writeString(tsv, "ein Haus\ta house\nkein Tab hier\nzwei\ttwo\n");
        e = assertThrows(CorpusException.class, () -> builder.build(new CorpusSpec(Task.SEQ2SEQ, List.of(tsv.toString()),
                List.of(), 0, "char", 0, false, tmp.resolve("tsv").toString())));
        assertTrue(e.getMessage().contains("pairs.tsv:2: no tab"), e.getMessage());
        // parallel files of different lengths
        Path a = tmp.resolve("a.txt");
        Path b = tmp.resolve("b.txt");
        Files.writeString(a, "1\n2\n3\n");
        Files.writeString(b, "1\n2\n");
        e = assertThrows(CorpusException.class, () -> builder.build(new CorpusSpec(Task.SEQ2SEQ,
                List.of(a.toString(), b.toString()), List.of(), 0, "char", 0, false, tmp.resolve("par").toString())));
        assertTrue(e.getMessage().contains("a.txt has 3 lines"), e.getMessage());
    }

    @Test
    void aVocabularyLargerThanTheModelsIsRefusedByKey() throws IOException {
        Path in = tmp.resolve("v.txt");
        Files.writeString(in, "abcdefghij\n".repeat(50));
        CorpusBuilder.Corpus c = new CorpusBuilder(sc, 1).build(stream(Task.CAUSAL_LM, in.toString(), "char",
                tmp.resolve("v").toString()));
        assertEquals(16, c.tokenizer().vocabSize());
        c.requireVocabularyFits(16);
        var e = assertThrows(CorpusException.class, () -> c.requireVocabularyFits(12));
        assertTrue(e.getMessage().startsWith("model.vocab_size: 12 is smaller than the tokenizer's 16 tokens"), e.getMessage());
    }

    @Test
    void aFiftyMegabyteLineIsOneLine() throws IOException {
        Path big = tmp.resolve("big.txt");
        byte[] line = new byte[50 * 1024 * 1024];
        java.util.Arrays.fill(line, (byte) 'a');
        for (int i = 0; i < line.length; i += 1000) {
            line[i] = 'b';
        }
        try (var o = Files.newOutputStream(big)) {
            o.write("short\n".getBytes(StandardCharsets.UTF_8));
            o.write(line);
            o.write('\n');
        }
        String out = tmp.resolve("bigout").toString();
        CorpusBuilder.Corpus c = new CorpusBuilder(sc, 2).build(stream(Task.CAUSAL_LM, big.toString(), "char", out));
        assertEquals(6L + line.length + 1, c.manifest().split("train").tokens() + c.manifest().split("validation").tokens());
    }

    @Test
    void aShardWhoseChecksumDiffersIsRejected() throws IOException {
        Path in = tmp.resolve("t.txt");
        Files.writeString(in, "some text for a shard\n".repeat(100));
        String out = tmp.resolve("sum").toString();
        CorpusBuilder.Corpus c = new CorpusBuilder(sc, 1).build(stream(Task.CAUSAL_LM, in.toString(), "char", out));
        Manifest.Shard shard = c.manifest().split("train").shards().get(0);
        Path file = Path.of(out, shard.file());
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length - 1] ^= 1;
        Files.write(file, bytes);
        // Hadoop's local file system keeps a .crc sidecar that would catch this first; the
        // manifest's checksum is what protects file systems without one (s3a, say).
        Files.deleteIfExists(file.resolveSibling("." + file.getFileName() + ".crc"));
        var e = assertThrows(IOException.class, () -> ShardReader.read(out, shard, sc.hadoopConfiguration()));
        assertTrue(e.getMessage().contains("checksum does not match"), e.getMessage());
    }

    /** data.shards naming someone's directory: refused by name, and not a file deleted from it. */
    @Test
    void aDirectoryThatIsNotShardsIsNeverCleared() throws IOException {
        Path in = tmp.resolve("c.txt");
        Files.writeString(in, "a corpus line\n".repeat(100));
        Path theirs = tmp.resolve("their-data");
        Files.createDirectories(theirs.resolve("train"));
        Files.writeString(theirs.resolve("train/keep.csv"), "precious");
        Files.writeString(theirs.resolve("notes.txt"), "also precious");
        var e = assertThrows(CorpusException.class,
                () -> new CorpusBuilder(sc, 1).build(stream(Task.CAUSAL_LM, in.toString(), "char", theirs.toString())));
        assertTrue(e.getMessage().contains("data.shards") && e.getMessage().contains(theirs.toString())
                && e.getMessage().contains("nothing was deleted"), e.getMessage());
        assertEquals("precious", Files.readString(theirs.resolve("train/keep.csv")));
        assertEquals("also precious", Files.readString(theirs.resolve("notes.txt")));

        // a shards directory this project made is rebuilt in place when its inputs change
        Path ours = tmp.resolve("ours");
        new CorpusBuilder(sc, 1).build(stream(Task.CAUSAL_LM, in.toString(), "char", ours.toString()));
        assertTrue(Files.exists(ours.resolve(CorpusBuilder.MARKER)));
        Files.writeString(in, "another corpus line\n".repeat(100));
        var rebuilt = new CorpusBuilder(sc, 1).build(stream(Task.CAUSAL_LM, in.toString(), "char", ours.toString()));
        assertFalse(rebuilt.reused());
    }

    /** A gzip copy of a corpus is the same corpus: every newline kept, not only the first part's. */
    @Test
    void aGzipCorpusGivesTheTokensOfThePlainFile() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 20000; i++) {
            sb.append("line ").append(i % 97).append(" of the corpus\n");
        }
        Path plain = tmp.resolve("plain.txt");
        Files.writeString(plain, sb);
        Path gz = tmp.resolve("copy.txt.gz");
        try (var out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
        }
        assertTrue(Files.size(gz) < Files.size(plain) / 4, "compressed well below the plain size");
        var a = new CorpusBuilder(sc, 1).build(stream(Task.CAUSAL_LM, plain.toString(), "char", tmp.resolve("a").toString()));
        var b = new CorpusBuilder(sc, 1).build(stream(Task.CAUSAL_LM, gz.toString(), "char", tmp.resolve("b").toString()));
        long plainTokens = a.manifest().split("train").tokens() + a.manifest().split("validation").tokens();
        long gzTokens = b.manifest().split("train").tokens() + b.manifest().split("validation").tokens();
        assertEquals(sb.length(), plainTokens, "one token a character");
        assertEquals(plainTokens, gzTokens);
    }

    @Test
    void bpeTrainingTakesTheMostFrequentPiecesWhenThereAreTooMany() {
        var counts = sc.parallelizePairs(List.of(new scala.Tuple2<>("a", 5L), new scala.Tuple2<>("b", 5L),
                new scala.Tuple2<>("c", 3L), new scala.Tuple2<>("d", 1L), new scala.Tuple2<>("e", 1L)), 2);
        assertEquals(1, CorpusBuilder.leastCountKept(counts, 10), "all fit: none dropped");
        assertEquals(1, CorpusBuilder.leastCountKept(counts, 5));
        assertEquals(3, CorpusBuilder.leastCountKept(counts, 4), "the two seen once do not fit");
        assertEquals(3, CorpusBuilder.leastCountKept(counts, 3));
        assertEquals(5, CorpusBuilder.leastCountKept(counts, 2));
        var frequent = sc.parallelizePairs(List.of(new scala.Tuple2<>("x", 7L), new scala.Tuple2<>("y", 9L)), 1);
        assertEquals(1, CorpusBuilder.leastCountKept(frequent, 2), "all fit, however often each was seen");
    }
}
