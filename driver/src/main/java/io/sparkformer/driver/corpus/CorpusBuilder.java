package io.sparkformer.driver.corpus;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.LongWritable;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.mapreduce.lib.input.FileInputFormat;
import org.apache.hadoop.mapreduce.lib.input.FileSplit;
import org.apache.hadoop.mapreduce.lib.input.TextInputFormat;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaNewHadoopRDD;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.LongAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.worker.batches.Task;
import io.sparkformer.model.text.BpeTrainer;
import io.sparkformer.model.text.ByteLevel;
import io.sparkformer.model.text.CharTokenizer;
import io.sparkformer.model.text.HuggingFaceTokenizer;
import io.sparkformer.model.text.Tokenizer;
import io.sparkformer.worker.shards.Manifest;
import io.sparkformer.worker.shards.TokenShard;
import scala.Tuple2;

/**
 * Raw text on any Hadoop FileSystem to token shards, on Spark. The tokenizer is built on the
 * executors' counts (distinct characters, or BPE piece counts merged on the driver), each
 * partition tokenizes and writes its own shard, and the manifest is written last by an atomic
 * rename: without it the shards do not exist. A rerun whose inputs, tokenizer and settings
 * digest to the manifest's key reuses the shards and tokenizes nothing.
 */
public final class CorpusBuilder {
    private static final Logger LOG = LoggerFactory.getLogger(CorpusBuilder.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String TRAIN = "train";
    public static final String VALIDATION = "validation";
    private static final long BPE_MIN_FREQUENCY = 2;

    private final JavaSparkContext sc;
    private final int shards;

    /** @param shards how many pieces to cut the inputs into (at least); 0 for Spark's default parallelism */
    public CorpusBuilder(JavaSparkContext sc, int shards) {
        this.sc = sc;
        this.shards = shards > 0 ? shards : sc.defaultParallelism();
    }

    /** The shards, tokenizer and manifest of a built corpus. */
    public record Corpus(String directory, Manifest manifest, Tokenizer tokenizer, boolean reused) {
        public String shardPath(Manifest.Shard shard) {
            return directory + "/" + shard.file();
        }

        /** Fails, naming the config key, when the model's vocabulary cannot hold every token id. */
        public void requireVocabularyFits(int modelVocabSize) {
            if (tokenizer.vocabSize() > modelVocabSize) {
                throw new CorpusException("model.vocab_size: " + modelVocabSize + " is smaller than the tokenizer's "
                        + tokenizer.vocabSize() + " tokens (" + directory + "/" + Tokenizer.FILE_NAME
                        + "); set it to at least " + tokenizer.vocabSize());
            }
        }
    }

    public Corpus build(CorpusSpec spec) {
        Configuration conf = sc.hadoopConfiguration();
        List<FileStatus> inputs;
        List<FileStatus> validation;
        try {
            // a table's files stand for it in the manifest's key: rewritten files, rebuilt shards
            inputs = spec.isTable() ? TableSource.files(sc, spec, spec.inputs()) : listAll(spec.inputs(), conf);
            validation = spec.isTable() ? TableSource.files(sc, spec, spec.validation()) : listAll(spec.validation(), conf);
        } catch (RuntimeException e) {
            throw unwrap(e);
        }
        List<Manifest.Source> sources = new ArrayList<>();
        for (FileStatus f : concat(inputs, validation)) {
            sources.add(new Manifest.Source(f.getPath().toString(), f.getLen(), f.getModificationTime()));
        }
        String key = key(spec, sources, conf);
        String manifestPath = spec.output() + "/" + Manifest.FILE_NAME;
        try {
            Corpus existing = reuse(spec.output(), manifestPath, key, conf);
            if (existing != null) {
                LOG.info("Reusing token shards in {} (inputs and settings unchanged)", spec.output());
                return existing;
            }
            if (inputs.stream().allMatch(f -> f.getLen() == 0)) {
                throw new CorpusException("corpus is empty: every input file has 0 bytes: " + HadoopFiles.describe(inputs));
            }
            clearOutput(spec.output(), conf);
            return spec.task().isStream() ? buildStream(spec, inputs, validation, sources, key)
                    : buildPairs(spec, inputs, validation, sources, key);
        } catch (SparkException e) {
            throw unwrap(e);
        } catch (IOException e) {
            throw new CorpusException(spec.output() + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw unwrap(e);
        }
    }

    private static List<FileStatus> listAll(List<String> paths, Configuration conf) {
        List<FileStatus> files = new ArrayList<>();
        for (String in : paths) {
            files.addAll(HadoopFiles.list(in, conf));
        }
        return files;
    }

    /** A stream task's text, line by line: text files' lines, or a table's rows as lines. */
    private JavaRDD<String> streamLines(CorpusSpec spec, List<String> given, List<FileStatus> files, LongAccumulator invalid) {
        if (spec.isTable()) {
            return TableSource.records(sc, spec, given, splitSize(spec)).map(r -> r[0] + "\n");
        }
        return readLines(files, spec.skipInvalidUtf8(), true, invalid, spec.splitBytes());
    }

    /**
     * The split size for an input of {@code bytes}: at most {@code splitBytes}, and small enough
     * that a small input is cut into one split per shard (so every worker gets data).
     */
    long splitSize(long bytes, long splitBytes) {
        return Math.max(1 << 16, Math.min(splitBytes, (bytes + shards - 1) / shards));
    }

    private java.util.function.LongUnaryOperator splitSize(CorpusSpec spec) {
        return bytes -> splitSize(bytes, spec.splitBytes());
    }

    // ------------------------------------------------------------------ documents: one token stream

    private Corpus buildStream(CorpusSpec spec, List<FileStatus> inputs, List<FileStatus> validation,
                               List<Manifest.Source> sources, String key) throws IOException, SparkException {
        LongAccumulator invalid = sc.sc().longAccumulator("invalid lines");
        // read twice (the tokenizer's counts, then the tokens), never held: memory stays flat in the corpus's size
        JavaRDD<String> lines = streamLines(spec, spec.inputs(), inputs, invalid);
        Tokenizer tokenizer = tokenizer(spec, lines);
        invalid.reset(); // counted again by the pass that writes
        Broadcast<byte[]> tokJson = sc.broadcast(tokenizer.toJson());
        String out = spec.output();
        int vocab = tokenizer.vocabSize();
        SerializableConf sconf = new SerializableConf(sc.hadoopConfiguration());
        List<Written> parts = new ArrayList<>(writeStreams(lines, tokJson, out, TRAIN, vocab, sconf).collect());
        parts.sort(java.util.Comparator.comparingInt(Written::partition));
        long total = parts.stream().mapToLong(w -> w.shard().tokens()).sum();
        if (total == 0) {
            throw new CorpusException("corpus is empty after decoding: no tokens in " + HadoopFiles.describe(inputs)
                    + (invalid.value() > 0 ? " (" + invalid.value() + " lines were not valid UTF-8)" : ""));
        }
        List<Tuple2<String, Manifest.Shard>> written = new ArrayList<>();
        if (validation.isEmpty()) {
            // As nanoGPT: train is the first int(n·(1 − f)) tokens, validation the rest
            long cut = (long) (total * (1.0 - spec.validationFraction()));
            long start = 0;
            for (Written w : parts) {
                long end = start + w.shard().tokens();
                if (end <= cut) {
                    written.add(new Tuple2<>(TRAIN, w.shard()));
                } else if (start >= cut) {
                    written.add(new Tuple2<>(VALIDATION, moveTo(out, w.shard(), VALIDATION)));
                } else {
                    written.addAll(splitAt(out, w.shard(), cut - start, sconf));
                }
                start = end;
            }
        } else {
            // every input token trains and the files validate (a fixed set across retrainings)
            parts.forEach(w -> written.add(new Tuple2<>(TRAIN, w.shard())));
            JavaRDD<String> valLines = streamLines(spec, spec.validation(), validation, invalid);
            writeStreams(valLines, tokJson, out, VALIDATION, vocab, sconf).collect()
                    .forEach(w -> written.add(new Tuple2<>(VALIDATION, w.shard())));
        }
        return commit(spec, tokenizer, sources, key, written, invalid.value());
    }

    /** A shard a partition wrote. */
    record Written(int partition, Manifest.Shard shard) implements java.io.Serializable {}

    /** Lines per native batch call: the HF tokenizer's throughput needs batches; memory stays a few MB. */
    private static final int ENCODE_BATCH = 4096;

    /** Each partition's lines, tokenized as they are read, to one one-field shard split/part-NNNNN (none when empty). */
    private static JavaRDD<Written> writeStreams(JavaRDD<String> lines, Broadcast<byte[]> tokJson, String out, String split,
                                                 int vocab, SerializableConf conf) {
        return lines.mapPartitionsWithIndex((p, it) -> {
            Tokenizer t = Tokenizer.fromJson(tokJson.value(), "tokenizer");
            try (TokenShard.Writer shard = new TokenShard.Writer(1, vocab, buildDir())) {
                List<String> batch = new ArrayList<>(ENCODE_BATCH);
                while (it.hasNext()) {
                    batch.add(it.next());
                    if (batch.size() == ENCODE_BATCH || !it.hasNext()) {
                        for (int[] ids : encodeAll(t, batch)) {
                            shard.append(ids);
                        }
                        batch.clear();
                    }
                }
                if (shard.tokenCount() == 0) {
                    return Collections.emptyIterator();
                }
                shard.endField();
                String file = String.format("%s/part-%05d.tokens", split, p);
                String sha = HadoopFiles.writeAtomicallyHashed(out + "/" + file, shard::writeTo, conf.get());
                return List.of(new Written(p, new Manifest.Shard(file, 1, shard.tokenCount(), sha))).iterator();
            }
        }, true);
    }

    /** Where executors stage a shard's tokens before writing it whole. */
    private static java.nio.file.Path buildDir() {
        return java.nio.file.Path.of(System.getProperty("java.io.tmpdir"), "sparkformer-build");
    }

    /** The same shard under the other split's directory (a rename: no bytes copied on file systems that rename). */
    private Manifest.Shard moveTo(String out, Manifest.Shard shard, String split) throws IOException {
        String file = split + "/" + new Path(shard.file()).getName();
        Path from = new Path(out, shard.file());
        Path to = new Path(out, file);
        var fs = to.getFileSystem(sc.hadoopConfiguration());
        fs.mkdirs(to.getParent());
        if (!fs.rename(from, to)) {
            throw new IOException("cannot move " + from + " to " + to);
        }
        return new Manifest.Shard(file, shard.records(), shard.tokens(), shard.sha256());
    }

    /**
     * Splits the shard that straddles the train/validation cut into its first {@code keep} tokens
     * (train) and the rest (validation), on an executor, by copying token bytes: nothing is decoded.
     */
    private List<Tuple2<String, Manifest.Shard>> splitAt(String out, Manifest.Shard shard, long keep, SerializableConf conf) {
        String name = new Path(shard.file()).getName();
        return sc.parallelize(List.of(shard), 1).flatMap(s -> {
            Configuration c = conf.get();
            Path src = new Path(out, s.file());
            var fs = src.getFileSystem(c);
            TokenShard.Header h;
            try (var in = fs.open(src)) {
                h = TokenShard.Header.read(in, src.toString());
            }
            List<Tuple2<String, Manifest.Shard>> result = new ArrayList<>();
            // validation first: the train part replaces the file both are cut from
            for (String split : List.of(VALIDATION, TRAIN)) {
                long from = split.equals(TRAIN) ? 0 : keep;
                long count = split.equals(TRAIN) ? keep : h.tokens() - keep;
                String file = split + "/" + name;
                String sha = HadoopFiles.writeAtomicallyHashed(out + "/" + file, o -> {
                    TokenShard.writeStreamHead(o, h.width(), count);
                    try (var in = fs.open(src)) {
                        in.seek(h.tokensAt() + from * h.width());
                        org.apache.hadoop.io.IOUtils.copyBytes(in, o, count * h.width(), false);
                    }
                }, c);
                result.add(0, new Tuple2<>(split, new Manifest.Shard(file, 1, count, sha)));
            }
            return result.iterator();
        }).collect();
    }

    // ------------------------------------------------------------------ sentence pairs

    private Corpus buildPairs(CorpusSpec spec, List<FileStatus> inputs, List<FileStatus> validation,
                              List<Manifest.Source> sources, String key) throws IOException, SparkException {
        LongAccumulator invalid = sc.sc().longAccumulator("invalid lines");
        JavaRDD<String[]> train = spec.isTable() ? TableSource.records(sc, spec, spec.inputs(), splitSize(spec))
                : readPairs(spec.inputs(), inputs, spec.skipInvalidUtf8(), invalid, spec.splitBytes(), spec.header());
        train.persist(StorageLevel.MEMORY_AND_DISK());
        JavaRDD<String[]> val = validation.isEmpty() ? null : spec.isTable() ? TableSource.records(sc, spec, spec.validation(), splitSize(spec))
                : readPairs(spec.validation(), validation, spec.skipInvalidUtf8(), invalid, spec.splitBytes(), spec.header());
        if (train.isEmpty()) {
            throw new CorpusException("corpus is empty: no sentence pairs in " + HadoopFiles.describe(inputs));
        }
        boolean classification = spec.task() == Task.CLASSIFICATION;
        List<String> labels = classification ? labels(train, val, spec) : null;
        Tokenizer tokenizer = tokenizer(spec, classification ? train.map(p -> p[0])
                : train.flatMap(p -> List.of(p[0], p[1]).iterator()));
        Broadcast<byte[]> tokJson = sc.broadcast(tokenizer.toJson());
        int vocab = tokenizer.vocabSize();
        String out = spec.output();
        SerializableConf sconf = new SerializableConf(sc.hadoopConfiguration());
        List<Tuple2<String, Manifest.Shard>> written = new ArrayList<>();
        for (var part : List.of(new Tuple2<>(TRAIN, train), new Tuple2<>(VALIDATION, val))) {
            if (part._2() == null) {
                continue;
            }
            String split = part._1();
            written.addAll(part._2().mapPartitionsWithIndex((p, it) -> pairShard(split, p, it,
                    Tokenizer.fromJson(tokJson.value(), "tokenizer"), vocab, labels, out, sconf).iterator(), true).collect());
        }
        train.unpersist(false);
        return commit(spec, tokenizer, sources, key, written, invalid.value(), labels);
    }

    /**
     * Partition {@code p} of a pair split as one shard of two fields a record: source and target
     * tokens, or (classification, {@code labels} given) a text's tokens and its label's index.
     * Empty partitions write nothing.
     */
    private static List<Tuple2<String, Manifest.Shard>> pairShard(String split, int p, Iterator<String[]> it, Tokenizer t,
            int vocab, List<String> labels, String out, SerializableConf sconf) throws IOException {
        boolean classification = labels != null;
        // a classifier's second field is its label's index (shards' widths fit any label count)
        int width = classification ? Math.max(vocab, labels.size()) : vocab;
        Map<String, Integer> labelIndex = new HashMap<>();
        for (int i = 0; classification && i < labels.size(); i++) {
            labelIndex.put(labels.get(i), i);
        }
        try (TokenShard.Writer shard = new TokenShard.Writer(2, width, buildDir())) {
            List<String> texts = new ArrayList<>(ENCODE_BATCH);
            List<int[]> labelRows = new ArrayList<>(ENCODE_BATCH);
            while (it.hasNext()) {
                String[] pair = it.next();
                texts.add(pair[0]);
                if (classification) {
                    labelRows.add(new int[] {labelIndex.get(pair[1].strip())});
                } else {
                    texts.add(pair[1]);
                }
                if (texts.size() >= ENCODE_BATCH || !it.hasNext()) {
                    int i = 0;
                    for (int[] ids : encodeAll(t, texts)) {
                        shard.append(ids);
                        shard.endField();
                        if (classification) {
                            shard.append(labelRows.get(i++));
                            shard.endField();
                        }
                    }
                    texts.clear();
                    labelRows.clear();
                }
            }
            if (shard.records() == 0) {
                return List.of();
            }
            String file = String.format("%s/part-%05d.tokens", split, p);
            String sha = HadoopFiles.writeAtomicallyHashed(out + "/" + file, shard::writeTo, sconf.get());
            return List.of(new Tuple2<>(split, new Manifest.Shard(file, shard.records(), shard.tokenCount(), sha)));
        }
    }

    /**
     * A classification corpus's label names, in index order: numeric order when every label is a
     * number (SST-2's 0 and 1), else text order. A validation label the training data lacks is an
     * error naming it: the classifier could never predict it.
     */
    private static List<String> labels(JavaRDD<String[]> train, JavaRDD<String[]> val, CorpusSpec spec) {
        List<String> names = new ArrayList<>(train.map(p -> p[1].strip()).distinct().collect());
        if (names.contains("")) {
            throw new CorpusException("data.inputs: " + spec.inputs() + " has an empty label (text TAB label expected)");
        }
        if (names.size() < 2) {
            throw new CorpusException("data.inputs: " + spec.inputs() + " has one label only (" + names
                    + "); classification needs at least two");
        }
        boolean numeric = names.stream().allMatch(n -> n.matches("-?[0-9]{1,18}"));
        names.sort(numeric ? java.util.Comparator.comparingLong(Long::parseLong) : java.util.Comparator.naturalOrder());
        if (val != null) {
            Set<String> known = new HashSet<>(names);
            List<String> unseen = val.map(p -> p[1].strip()).filter(l -> !known.contains(l)).distinct().take(5);
            if (!unseen.isEmpty()) {
                throw new CorpusException("data.validation: " + spec.validation() + " has labels the training data lacks: " + unseen);
            }
        }
        return names;
    }

    /**
     * Held-out text as the executors read it, with the corpus's checks (strict UTF-8, errors naming
     * file and line): {text} per line, or {source, target} pairs from two files or one TSV file.
     */
    public JavaRDD<String[]> records(List<String> paths, boolean pairs) {
        return records(paths, pairs, false);
    }

    /** As above; with {@code header}, each file's first line is skipped. */
    public JavaRDD<String[]> records(List<String> paths, boolean pairs, boolean header) {
        try {
            List<FileStatus> files = new ArrayList<>();
            for (String p : paths) {
                files.addAll(HadoopFiles.list(p, sc.hadoopConfiguration()));
            }
            LongAccumulator invalid = sc.sc().longAccumulator("invalid lines");
            if (pairs) {
                if (paths.size() > 2) {
                    throw new CorpusException("--data: pairs come as a source and a target file, or one TSV file");
                }
                return readPairs(paths, files, false, invalid, CorpusSpec.DEFAULT_SPLIT_BYTES, header);
            }
            return readLines(files, false, false, invalid, CorpusSpec.DEFAULT_SPLIT_BYTES, header).map(l -> new String[] {l});
        } catch (RuntimeException e) {
            throw unwrap(e);
        }
    }

    /** Pairs from a source and a target file (line i with line i), or from one TSV file. */
    private JavaRDD<String[]> readPairs(List<String> given, List<FileStatus> files, boolean skipInvalid, LongAccumulator invalid,
                                        long splitBytes, boolean header) {
        if (given.size() == 2) {
            List<FileStatus> src = HadoopFiles.list(given.get(0), sc.hadoopConfiguration());
            List<FileStatus> tgt = HadoopFiles.list(given.get(1), sc.hadoopConfiguration());
            JavaPairRDD<Long, String> s = readLines(src, skipInvalid, false, invalid, splitBytes, header).zipWithIndex().mapToPair(Tuple2::swap);
            JavaPairRDD<Long, String> t = readLines(tgt, skipInvalid, false, invalid, splitBytes, header).zipWithIndex().mapToPair(Tuple2::swap);
            long ns = s.count();
            long nt = t.count();
            if (ns != nt) {
                throw new CorpusException("parallel files differ in length: " + given.get(0) + " has " + ns + " lines, "
                        + given.get(1) + " has " + nt);
            }
            return s.join(t, shards).sortByKey(true, shards).values().map(p -> new String[] {p._1(), p._2()});
        }
        String name = given.get(0);
        return readLines(files, skipInvalid, false, invalid, splitBytes, header).zipWithIndex().map(li -> {
            String line = li._1();
            int tab = line.indexOf('\t');
            if (tab < 0) {
                throw new CorpusException(name + ":" + (li._2() + 1 + (header ? 1 : 0)) + ": no tab between source and target");
            }
            return new String[] {line.substring(0, tab), line.substring(tab + 1)};
        });
    }

    // ------------------------------------------------------------------ reading and tokenizing

    /**
     * The lines of files in order, decoded as strict UTF-8, read lazily (a partition never holds
     * its lines). With keepNewlines each line keeps the newline that ended it (so the stream is
     * the file's text, line endings normalised to \n). Splits are at most {@code splitBytes}, and
     * small inputs are cut into at least as many splits as shards, so every worker gets data.
     */
    private JavaRDD<String> readLines(List<FileStatus> files, boolean skipInvalid, boolean keepNewlines, LongAccumulator invalid,
                                      long splitBytes) {
        return readLines(files, skipInvalid, keepNewlines, invalid, splitBytes, false);
    }

    /** As above; with {@code header}, each file's first line (at byte 0) is skipped. */
    private JavaRDD<String> readLines(List<FileStatus> files, boolean skipInvalid, boolean keepNewlines, LongAccumulator invalid,
                                      long splitBytes, boolean header) {
        Map<String, Long> lengths = new HashMap<>();
        long bytes = 0;
        List<String> paths = new ArrayList<>();
        var codecs = new org.apache.hadoop.io.compress.CompressionCodecFactory(sc.hadoopConfiguration());
        for (FileStatus f : files) {
            // a compressed file's offsets count uncompressed bytes: its length says nothing of where
            // its last line ends, so every line of it is taken as ended by a newline (as text files are)
            lengths.put(f.getPath().toString(), codecs.getCodec(f.getPath()) != null ? Long.MAX_VALUE : f.getLen());
            paths.add(f.getPath().toString());
            bytes += f.getLen();
        }
        Configuration conf = new Configuration(sc.hadoopConfiguration());
        // min = max: splits of exactly this size whatever the file system's block size (TableSource cuts the same way)
        long size = splitSize(bytes, splitBytes);
        conf.setLong(FileInputFormat.SPLIT_MAXSIZE, size);
        conf.setLong(FileInputFormat.SPLIT_MINSIZE, size);
        JavaPairRDD<LongWritable, Text> raw = sc.newAPIHadoopFile(String.join(",", paths), TextInputFormat.class,
                LongWritable.class, Text.class, conf);
        @SuppressWarnings("unchecked")
        JavaNewHadoopRDD<LongWritable, Text> hadoop = (JavaNewHadoopRDD<LongWritable, Text>) raw;
        return hadoop.mapPartitionsWithInputSplit((split, it) -> {
            String file = ((FileSplit) split).getPath().toString();
            long fileLen = lengths.getOrDefault(file, Long.MAX_VALUE);
            return new DecodedLines(it, file, fileLen, skipInvalid, keepNewlines, header, invalid);
        }, true);
    }

    /** A split's records decoded as strict UTF-8, one at a time (static: a task must not capture the builder). */
    private static final class DecodedLines implements Iterator<String> {
        private final Iterator<Tuple2<LongWritable, Text>> records;
        private final String file;
        private final long fileLen;
        private final boolean skipInvalid;
        private final boolean keepNewlines;
        private final boolean header;
        private final LongAccumulator invalid;
        private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        private String next;

        DecodedLines(Iterator<Tuple2<LongWritable, Text>> records, String file, long fileLen, boolean skipInvalid,
                     boolean keepNewlines, boolean header, LongAccumulator invalid) {
            this.records = records;
            this.header = header;
            this.file = file;
            this.fileLen = fileLen;
            this.skipInvalid = skipInvalid;
            this.keepNewlines = keepNewlines;
            this.invalid = invalid;
        }

        @Override
        public boolean hasNext() {
            while (next == null && records.hasNext()) {
                Tuple2<LongWritable, Text> rec = records.next();
                long offset = rec._1().get();
                if (header && offset == 0) {
                    continue;
                }
                Text text = rec._2();
                String line;
                try {
                    line = decoder.decode(ByteBuffer.wrap(text.getBytes(), 0, text.getLength())).toString();
                } catch (CharacterCodingException e) {
                    if (skipInvalid) {
                        invalid.add(1);
                        continue;
                    }
                    throw new CorpusException(file + ": the line at byte " + offset
                            + " is not valid UTF-8 (set data.invalid_utf8: skip to skip such lines)");
                }
                boolean endedByNewline = offset + text.getLength() < fileLen;
                next = keepNewlines && endedByNewline ? line + "\n" : line;
            }
            return next != null;
        }

        @Override
        public String next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            String line = next;
            next = null;
            return line;
        }
    }

    private Tokenizer tokenizer(CorpusSpec spec, JavaRDD<String> texts) throws IOException {
        String kind = spec.tokenizer();
        if (kind.equals("char")) {
            Set<Integer> cps = texts.mapPartitions(it -> {
                Set<Integer> s = new HashSet<>();
                it.forEachRemaining(l -> l.codePoints().forEach(s::add));
                return List.of(s).iterator();
            }).fold(new HashSet<>(), (a, b) -> {
                Set<Integer> u = new HashSet<>(a);
                u.addAll(b);
                return u;
            });
            return CharTokenizer.of(cps);
        }
        if (kind.equals("bpe")) {
            // counted and combined on the executors (Spark spills what does not fit); the driver gets
            // at most BPE_MAX_PIECES of them, the most frequent
            JavaPairRDD<String, Long> all = texts.mapPartitionsToPair(PieceCounts::new).reduceByKey(Long::sum);
            all.persist(StorageLevel.MEMORY_AND_DISK());
            long least = leastCountKept(all, BPE_MAX_PIECES);
            Map<String, Long> counts = (least <= 1 ? all : all.filter(e -> e._2() >= least)).collectAsMap();
            all.unpersist(false);
            if (least > 1) {
                LOG.info("BPE: trained on the {} pieces seen at least {} times (at most {})", counts.size(), least, BPE_MAX_PIECES);
            }
            long t0 = System.nanoTime();
            var bpe = BpeTrainer.train(new HashMap<>(counts), spec.bpeVocabSize(), BPE_MIN_FREQUENCY);
            LOG.info("BPE: {} distinct pieces, {} merges in {} s", counts.size(), bpe.mergeCount(),
                    String.format("%.1f", (System.nanoTime() - t0) / 1e9));
            return bpe;
        }
        String path = kind;
        byte[] json;
        try {
            json = HadoopFiles.read(path, sc.hadoopConfiguration());
        } catch (IOException e) {
            throw new CorpusException("data.tokenizer: cannot read " + path + ": " + e.getMessage(), e);
        }
        return Tokenizer.fromJson(json, path);
    }

    /**
     * A partition's BPE piece counts, counted in a plain map of mutable counters (Spark's
     * combiner boxes every increment) and handed on whenever the map reaches its bound.
     */
    private static final class PieceCounts implements Iterator<Tuple2<String, Long>> {
        private static final int BOUND = 1 << 20;
        private final Iterator<String> lines;
        private final Map<String, long[]> counts = new HashMap<>();
        private Iterator<Map.Entry<String, long[]>> out = Collections.emptyIterator();

        PieceCounts(Iterator<String> lines) {
            this.lines = lines;
        }

        @Override
        public boolean hasNext() {
            if (out.hasNext()) {
                return true;
            }
            counts.clear();
            while (counts.size() < BOUND && lines.hasNext()) {
                for (String piece : ByteLevel.split(lines.next())) {
                    if (piece.length() <= BPE_MAX_PIECE_CHARS) {
                        counts.computeIfAbsent(piece, k -> new long[1])[0]++;
                    }
                }
            }
            out = counts.entrySet().iterator();
            return out.hasNext();
        }

        @Override
        public Tuple2<String, Long> next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            Map.Entry<String, long[]> e = out.next();
            return new Tuple2<>(e.getKey(), e.getValue()[0]);
        }
    }

    /** Pieces longer than this are left out of BPE training (their bytes still encode): runs of symbols, not words. */
    static final int BPE_MAX_PIECE_CHARS = 64;
    /** The most distinct pieces BPE training takes to the driver (about 200 MB of its heap at worst). */
    static final long BPE_MAX_PIECES = 1L << 20;

    /**
     * The smallest count c such that at most {@code max} pieces occur c times or more (1 when all
     * fit). Only the histogram of counts comes to the driver.
     */
    static long leastCountKept(JavaPairRDD<String, Long> counts, long max) {
        Map<Long, Long> histogram = counts.values().map(c -> Math.min(c, 1L << 20)).countByValue();
        java.util.TreeMap<Long, Long> byCount = new java.util.TreeMap<>(java.util.Comparator.reverseOrder());
        byCount.putAll(histogram);
        long kept = 0;
        long least = 1L << 20; // even the most frequent bucket is too many: keep only those
        for (Map.Entry<Long, Long> e : byCount.entrySet()) {
            if (kept + e.getValue() > max) {
                return least;
            }
            kept += e.getValue();
            least = e.getKey();
        }
        return 1; // all fit
    }

    /** Encodes texts, with the native library's batch call when the tokenizer is a native one. */
    static List<int[]> encodeAll(Tokenizer t, List<String> texts) {
        List<int[]> out = new ArrayList<>(texts.size());
        if (t instanceof HuggingFaceTokenizer hf) {
            for (int from = 0; from < texts.size(); from += 4096) {
                for (int[] ids : hf.encodeAll(texts.subList(from, Math.min(texts.size(), from + 4096)))) {
                    out.add(ids);
                }
            }
        } else {
            for (String s : texts) {
                out.add(t.encode(s));
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ manifest

    private Corpus commit(CorpusSpec spec, Tokenizer tokenizer, List<Manifest.Source> sources, String key,
                          List<Tuple2<String, Manifest.Shard>> written, long invalid) throws IOException {
        return commit(spec, tokenizer, sources, key, written, invalid, null);
    }

    private Corpus commit(CorpusSpec spec, Tokenizer tokenizer, List<Manifest.Source> sources, String key,
                          List<Tuple2<String, Manifest.Shard>> written, long invalid, List<String> labels) throws IOException {
        Map<String, List<Manifest.Shard>> bySplit = new LinkedHashMap<>();
        bySplit.put(TRAIN, new ArrayList<>());
        bySplit.put(VALIDATION, new ArrayList<>());
        for (Tuple2<String, Manifest.Shard> w : written) {
            bySplit.get(w._1()).add(w._2());
        }
        Map<String, Manifest.Split> splits = new LinkedHashMap<>();
        bySplit.forEach((name, list) -> {
            list.sort((a, b) -> a.file().compareTo(b.file()));
            splits.put(name, new Manifest.Split(list.stream().mapToLong(Manifest.Shard::records).sum(),
                    list.stream().mapToLong(Manifest.Shard::tokens).sum(), list));
        });
        Configuration conf = sc.hadoopConfiguration();
        HadoopFiles.writeAtomically(spec.output() + "/" + Tokenizer.FILE_NAME, tokenizer.toJson(), conf);
        Manifest m = new Manifest(Manifest.FORMAT, key, spec.task().name().toLowerCase(java.util.Locale.ROOT),
                new Manifest.Tokenizer(tokenizer.type(), tokenizer.vocabSize(), tokenizer.fingerprint(), Tokenizer.FILE_NAME),
                sources, splits, invalid, Instant.now().toString(), labels);
        HadoopFiles.writeAtomically(spec.output() + "/" + Manifest.FILE_NAME, m.toJson(), conf);
        LOG.info("Token shards in {}: train {} tokens in {} shards, validation {} tokens{}", spec.output(),
                splits.get(TRAIN).tokens(), splits.get(TRAIN).shards().size(), splits.get(VALIDATION).tokens(),
                invalid > 0 ? ", " + invalid + " invalid lines skipped" : "");
        return new Corpus(spec.output(), m, tokenizer, false);
    }

    /** The existing corpus when its manifest's key matches, else null. */
    private static Corpus reuse(String dir, String manifestPath, String key, Configuration conf) throws IOException {
        if (!HadoopFiles.exists(manifestPath, conf)) {
            return null;
        }
        Manifest m = Manifest.fromJson(HadoopFiles.read(manifestPath, conf), manifestPath);
        if (!key.equals(m.key())) {
            return null;
        }
        String tokPath = dir + "/" + m.tokenizer().file();
        byte[] tok = HadoopFiles.read(tokPath, conf);
        Tokenizer t = Tokenizer.fromJson(tok, tokPath);
        if (!t.fingerprint().equals(m.tokenizer().fingerprint())) {
            throw new CorpusException(tokPath + ": does not match the manifest's tokenizer fingerprint; delete " + dir
                    + " to rebuild the shards");
        }
        return new Corpus(dir, m, t, true);
    }

    /** Removes the manifest first, so a crash part-way leaves no manifest and the next run rebuilds. */
    /** Marks a directory as shards this project writes: the only kind {@link #clearOutput} deletes from. */
    static final String MARKER = "_SPARKFORMER_SHARDS";

    /**
     * Empties the shards directory for a new build. Only a directory this project made (its
     * marker or manifest is there) or an empty one is touched: data.shards pointed at anything
     * else is refused by name, with nothing deleted.
     */
    private static void clearOutput(String dir, Configuration conf) throws IOException {
        Path d = new Path(dir);
        var fs = d.getFileSystem(conf);
        if (fs.exists(d)) {
            if (!fs.getFileStatus(d).isDirectory()) {
                throw new CorpusException("data.shards: " + dir + " is a file, not a directory of token shards");
            }
            boolean ours = fs.exists(new Path(d, MARKER)) || fs.exists(new Path(d, Manifest.FILE_NAME));
            // a temporary file of this project's atomic writes, left by a killed build, is not someone's data
            var entries = fs.listStatus(d, p -> !(p.getName().startsWith(".") && p.getName().endsWith(".tmp")));
            if (!ours && entries.length > 0) {
                throw new CorpusException("data.shards: " + dir + " holds " + entries.length + " entries ("
                        + entries[0].getPath().getName() + (entries.length > 1 ? ", ..." : "")
                        + ") and is not a shards directory (no " + MARKER + " or " + Manifest.FILE_NAME
                        + "); nothing was deleted: name an empty or new directory");
            }
        }
        fs.mkdirs(d);
        fs.create(new Path(d, MARKER), true).close(); // empty: there or not, never half-written
        fs.delete(new Path(d, Manifest.FILE_NAME), false);
        fs.delete(new Path(d, TRAIN), true);
        fs.delete(new Path(d, VALIDATION), true);
    }

    private static String key(CorpusSpec spec, List<Manifest.Source> sources, Configuration conf) {
        Map<String, Object> k = new LinkedHashMap<>();
        k.put("format", Manifest.FORMAT);
        k.put("task", spec.task().name());
        k.put("tokenizer", spec.tokenizer());
        k.put("bpe_vocab_size", spec.tokenizer().equals("bpe") ? spec.bpeVocabSize() : 0);
        k.put("validation_fraction", spec.task().isStream() && spec.validation().isEmpty() ? spec.validationFraction() : 0);
        k.put("validation", spec.validation());
        k.put("skip_invalid_utf8", spec.skipInvalidUtf8());
        k.put("sources", sources);
        // only when set, so corpora built before these settings existed keep their keys (and shards)
        if (spec.format() != CorpusSpec.Format.TEXT) {
            k.put("input_format", spec.format().key());
            k.put("columns", spec.columns());
        }
        if (spec.splitBytes() != CorpusSpec.DEFAULT_SPLIT_BYTES) {
            k.put("split_bytes", spec.splitBytes());
        }
        if (spec.header()) {
            k.put("header", true);
        }
        if (!spec.tokenizer().equals("char") && !spec.tokenizer().equals("bpe")) {
            try {
                k.put("tokenizer_sha256", HadoopFiles.sha256(HadoopFiles.read(spec.tokenizer(), conf)));
            } catch (IOException e) {
                throw new CorpusException("data.tokenizer: cannot read " + spec.tokenizer() + ": " + e.getMessage(), e);
            }
        }
        try {
            return HadoopFiles.sha256(JSON.writeValueAsBytes(k));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Finds the CorpusException a Spark task threw, so the message names the file. */
    public static RuntimeException unwrap(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof CorpusException ce) {
                return ce;
            }
        }
        io.sparkformer.driver.Failures failure = io.sparkformer.driver.Failures.of(e);
        if (failure.is(io.sparkformer.model.FailureKind.BAD_INPUT)) {
            return new CorpusException(failure.message(), e);
        }
        return e instanceof RuntimeException re ? re : new RuntimeException(e);
    }

    private static <T> List<T> concat(List<T> a, List<T> b) {
        List<T> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }
}
