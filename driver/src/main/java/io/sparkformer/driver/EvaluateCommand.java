package io.sparkformer.driver;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.corpus.CorpusBuilder;
import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.corpus.SerializableConf;
import io.sparkformer.driver.eval.Bleu;
import io.sparkformer.driver.models.TrainedModel;
import io.sparkformer.model.Batch;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.inference.Generator;
import io.sparkformer.model.inference.IncrementalDecoder;
import io.sparkformer.model.text.Tokenizer;
import io.sparkformer.worker.batches.MaskedLmBatches;
import io.sparkformer.worker.batches.PairBatches;
import io.sparkformer.worker.batches.Task;
import io.sparkformer.worker.batches.Seq2SeqBatches;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Scores a trained model on held-out text with Spark: each partition of the data is scored in an
 * executor (the model loaded once per executor JVM) and the sums come back to the driver. Loss and
 * perplexity per predicted token, token accuracy and sequence exact match for every kind; for
 * encoder-decoder models also corpus BLEU of decoded translations (sacreBLEU's default).
 */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = {"Loss, perplexity and accuracy of a trained model on held-out data; BLEU for translation.",
                "--data: one text file (decoder, encoder) or a source and a target file, or one TSV file (encoder-decoder)."})
final class EvaluateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions.Model modelOption;

    @Mixin
    ModelOptions.Search search;

    @Option(names = "--header", negatable = true, description = "the data files' first line names the columns (default:"
            + " as the model's training data; a Hugging Face checkpoint's: no header)")
    Boolean header;

    @Option(names = "--data", required = true, description = "held-out data (any Hadoop FS path); repeat for source and target")
    List<String> data;

    @Option(names = "--master", description = "Spark master; default: spark-submit's, else local[--partitions]")
    String master;

    @Option(names = "--partitions", description = "pieces the data is scored in (default ${DEFAULT-VALUE})")
    int partitions = 2;

    @Option(names = "--batch-size", description = "sequences per forward pass (default ${DEFAULT-VALUE})")
    int batchSize = 32;

    @Option(names = "--no-bleu", description = "translation and completion: loss only, no decoding")
    boolean noBleu;

    @Option(names = "--output", description = "also write the figures as JSON to this path")
    String output;

    /** Per-partition sums; {@code confusion} (classifiers only) counts [true label · labels + predicted]. */
    record Sums(double lossSum, long tokens, long correct, long sequences, long exact, Bleu.Stats bleu,
                long decodedExact, List<String[]> examples, long[] confusion) implements Serializable {
        Sums plus(Sums o) {
            List<String[]> ex = new ArrayList<>(examples);
            ex.addAll(o.examples);
            long[] c = confusion == null ? o.confusion : confusion.clone();
            if (confusion != null && o.confusion != null) {
                for (int i = 0; i < c.length; i++) {
                    c[i] += o.confusion[i];
                }
            }
            return new Sums(lossSum + o.lossSum, tokens + o.tokens, correct + o.correct, sequences + o.sequences,
                    exact + o.exact, bleu == null ? o.bleu : o.bleu == null ? bleu : bleu.plus(o.bleu),
                    decodedExact + o.decodedExact, new ArrayList<>(ex.subList(0, Math.min(5, ex.size()))), c);
        }
    }

    private static final Map<String, TrainedModel> LOADED = new ConcurrentHashMap<>();

    @Override
    public Integer call() throws Exception {
        Nd4jRuntime.init();
        Configuration hadoop = new Configuration();
        String ckpt = TrainedModel.resolve(HadoopFiles.absolute(modelOption.path), hadoop);
        TrainedModel m = TrainedModel.load(ckpt, hadoop);
        Kind kind = m.model().config().kind();
        List<String> paths = data.stream().map(HadoopFiles::absolute).toList();
        Task task = m.config().data().task();
        boolean pairs = !task.isStream();
        SparkConf sparkConf = Cli.sparkConf("sparkformer-evaluate", master, partitions);
        int threads = io.sparkformer.driver.cluster.ExecutorSettings.threadsPerTask(sparkConf, partitions);
        io.sparkformer.driver.cluster.ExecutorSettings.applyDefaults(sparkConf, threads);
        // The recurrent model has no incremental decoder: it is scored by its loss and accuracy alone.
        boolean decode = (task == Task.SEQ2SEQ || task == Task.COMPLETION) && !noBleu && kind != Kind.LSTM;
        long t0 = System.nanoTime();
        Sums total;
        try (JavaSparkContext sc = new JavaSparkContext(sparkConf)) {
            sc.setLogLevel("WARN");
            SerializableConf conf = new SerializableConf(sc.hadoopConfiguration());
            Generator.Settings gen = new Generator.Settings(search.method, m.model().config().maxLen(), search.beamWidth, search.lengthPenalty,
                    1, 0, 1, 0, true);
            int b = batchSize;
            // read on the executors, with the corpus reader's checks
            JavaRDD<String[]> records = new CorpusBuilder(sc, partitions).records(paths, pairs, header != null ? header : m.config().data().header());
            total = score(records, ckpt, conf, b, decode, gen, threads);
        }
        if (total.sequences() == 0) {
            throw new ConfigException("--data", paths + " holds no lines to score");
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("model", ckpt);
        r.put("data", paths);
        r.put("sequences", total.sequences());
        if (total.confusion() != null) {
            classifierFigures(r, total, m.labels());
        } else {
            languageModelFigures(r, total, decode);
        }
        r.put("seconds", (System.nanoTime() - t0) / 1e9);
        return report(r);
    }

    /** A classifier's figures: one prediction per text, and the confusion matrix (rows: the true label, columns: the predicted one). */
    private static void classifierFigures(Map<String, Object> r, Sums total, List<String> labels) {
        r.put("loss", total.lossSum() / total.sequences());
        r.put("accuracy", (double) total.correct() / total.sequences());
        int n = labels.size();
        List<List<Long>> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            List<Long> row = new ArrayList<>();
            for (int j = 0; j < n; j++) {
                row.add(total.confusion()[i * n + j]);
            }
            rows.add(row);
        }
        r.put("labels", labels);
        r.put("confusion", rows);
    }

    /** A token model's figures per predicted token, and of its decoded outputs when it decoded. */
    private void languageModelFigures(Map<String, Object> r, Sums total, boolean decode) {
        r.put("tokens", total.tokens());
        r.put("loss", total.lossSum() / total.tokens());
        r.put("perplexity", Math.exp(total.lossSum() / total.tokens()));
        r.put("token_accuracy", (double) total.correct() / total.tokens());
        r.put("exact_match", (double) total.exact() / total.sequences()); // teacher-forced: every target token right
        if (total.bleu() != null) {
            r.put("bleu", total.bleu().score());
        }
        if (decode) {
            r.put("decoded_exact_match", (double) total.decodedExact() / total.sequences());
            r.put("decoding", search.method == Generator.Method.BEAM ? "beam " + search.beamWidth + ", length penalty "
                    + search.lengthPenalty : "greedy");
        }
        for (String[] ex : total.examples()) {
            System.out.println("  " + ex[0] + "\n  -> " + ex[1] + "\n  (reference: " + ex[2] + ")");
        }
    }

    private int report(Map<String, Object> r) throws java.io.IOException {
        Configuration hadoop = new Configuration();
        String text = new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(r);
        System.out.println(text);
        if (output != null) {
            HadoopFiles.writeAtomically(HadoopFiles.absolute(output), text.getBytes(StandardCharsets.UTF_8), hadoop);
        }
        return Cli.OK;
    }

    /** Scores every partition where it lies; a bad record's error names its file and line. */
    private static Sums score(JavaRDD<String[]> records, String ckpt, SerializableConf conf, int b, boolean decode,
                              Generator.Settings gen, int threads) {
        try {
            return records.mapPartitions(it -> io.sparkformer.driver.cluster.OutOfMemory.guard("evaluation", () -> {
                io.sparkformer.model.NativeThreads.apply(threads);
                TrainedModel local = LOADED.computeIfAbsent(ckpt, k -> {
                    try {
                        return TrainedModel.load(k, conf.get());
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                synchronized (local) { // one model replica per executor, used by one task at a time
                    return List.of(score(local, it, b, decode, gen)).iterator();
                }
            })).fold(new Sums(0, 0, 0, 0, 0, null, 0, List.of(), null), Sums::plus);
        } catch (Exception e) {
            throw CorpusBuilder.unwrap(e);
        }
    }

    static Sums score(TrainedModel m, Iterator<String[]> it, int batchSize, boolean decode, Generator.Settings gen) {
        List<String[]> recs = new ArrayList<>();
        it.forEachRemaining(recs::add);
        if (recs.isEmpty()) {
            boolean bleu = decode && m.config().data().task() == Task.SEQ2SEQ;
            return new Sums(0, 0, 0, 0, 0, bleu ? Bleu.Stats.empty() : null, 0, List.of(), null);
        }
        if (m.model().config().isClassifier()) {
            return scoreClassifier(m, recs, batchSize);
        }
        Task task = m.config().data().task();
        List<Batch> batches = task.isStream() ? streamBatches(m, recs, batchSize) : pairBatches(m, recs, batchSize);
        Sums forced = teacherForced(m, batches);
        return decode ? forced.plus(decoded(m, recs, batchSize, gen)) : forced;
    }

    /** The records' pairs in batches of the task's own layout, in order. */
    private static List<Batch> pairBatches(TrainedModel m, List<String[]> recs, int batchSize) {
        List<int[]> src = new ArrayList<>();
        List<int[]> tgt = new ArrayList<>();
        for (String[] r : recs) {
            src.add(m.tokenizer().encode(r[0]));
            tgt.add(m.tokenizer().encode(r[1]));
        }
        PairBatches pairs = PairBatches.forTask(m.config().data().task(), List.of(src, tgt), batchSize,
                m.config().train().blockSize(), false, 0, m.tokenizer().specials());
        List<Batch> batches = new ArrayList<>();
        for (int from = 0; from < src.size(); from += batchSize) {
            int[] idx = new int[Math.min(batchSize, src.size() - from)];
            for (int i = 0; i < idx.length; i++) {
                idx[i] = from + i;
            }
            batches.add(pairs.assemble(idx));
        }
        return batches;
    }

    /**
     * The records' lines as one stream: an encoder's masked batches (fixed masks, seed 0: every run
     * scores the same positions), else non-overlapping windows whose tokens 1..t are predicted from
     * what precedes them.
     */
    private static List<Batch> streamBatches(TrainedModel m, List<String[]> recs, int batchSize) {
        StringBuilder text = new StringBuilder();
        for (String[] r : recs) {
            text.append(r[0]).append('\n');
        }
        int[] stream = m.tokenizer().encode(text.toString());
        var cfg = m.model().config();
        int t = cfg.maxLen();
        List<Batch> batches = new ArrayList<>();
        if (cfg.kind() == Kind.ENCODER) {
            MaskedLmBatches mlm = new MaskedLmBatches(io.sparkformer.worker.shards.TokenStream.of(stream), batchSize, t, cfg.vocabSize(), 0,
                    m.tokenizer().specials());
            long n = Math.max(1, stream.length / ((long) batchSize * t));
            for (long i = 0; i < n && stream.length >= t; i++) {
                batches.add(mlm.batch(i));
            }
            return batches;
        }
        List<int[]> windows = new ArrayList<>();
        for (int at = 0; at + t < stream.length; at += t) {
            windows.add(Arrays.copyOfRange(stream, at, at + t + 1));
        }
        for (int from = 0; from < windows.size(); from += batchSize) {
            int n = Math.min(batchSize, windows.size() - from);
            int[] ids = new int[n * t];
            int[] target = new int[n * t];
            for (int r = 0; r < n; r++) {
                int[] w = windows.get(from + r);
                System.arraycopy(w, 0, ids, r * t, t);
                System.arraycopy(w, 1, target, r * t, t);
            }
            batches.add(Batch.of(n, t, ids, target));
        }
        return batches;
    }

    /** Loss, token accuracy and exact match with the targets given (teacher forcing). */
    private static Sums teacherForced(TrainedModel m, List<Batch> batches) {
        var model = m.model();
        double lossSum = 0;
        long tokens = 0;
        long correct = 0;
        long sequences = 0;
        long exact = 0;
        for (Batch b : batches) {
            int counted = b.countedTargets();
            if (counted == 0) {
                continue;
            }
            lossSum += model.forward(b, false) * counted;
            tokens += counted;
            int[] argmax = Nd4j.argMax(model.logits(), 1).toIntVector();
            int len = b.length();
            for (int r = 0; r < b.size(); r++) {
                int right = 0;
                int scored = 0;
                for (int j = 0; j < len; j++) {
                    int target = b.target()[r * len + j];
                    if (target >= 0) {
                        scored++;
                        right += argmax[r * len + j] == target ? 1 : 0;
                    }
                }
                correct += right;
                if (scored > 0) {
                    sequences++;
                    exact += right == scored ? 1 : 0;
                }
            }
        }
        return new Sums(lossSum, tokens, correct, sequences, exact, null, 0, List.of(), null);
    }

    /** Decoded outputs against the references: exact matches, BLEU for translation, the first examples. */
    private static Sums decoded(TrainedModel m, List<String[]> recs, int batchSize, Generator.Settings gen) {
        Tokenizer tok = m.tokenizer();
        boolean seq2seq = m.config().data().task() == Task.SEQ2SEQ;
        Bleu.Stats stats = seq2seq ? Bleu.Stats.empty() : null;
        List<String[]> examples = new ArrayList<>();
        long decodedExact = 0;
        Generator g = new Generator(new IncrementalDecoder((io.sparkformer.model.Transformer) m.model()), tok.specials().bos(),
                tok.specials().eos());
        for (int from = 0; from < recs.size(); from += batchSize) {
            List<int[]> sources = new ArrayList<>();
            List<String[]> chunk = recs.subList(from, Math.min(recs.size(), from + batchSize));
            for (String[] r : chunk) {
                int[] enc = tok.encode(r[0]);
                sources.add(seq2seq ? Seq2SeqBatches.withEnd(enc, m.model().config().maxLen()) : enc); // as training reads sources
            }
            List<int[]> out = g.generate(sources, gen);
            for (int i = 0; i < chunk.size(); i++) {
                String hyp = tok.decode(out.get(i));
                if (seq2seq) {
                    stats = stats.plus(Bleu.sentence(hyp, chunk.get(i)[1]));
                }
                decodedExact += hyp.equals(chunk.get(i)[1]) ? 1 : 0;
                if (examples.size() < 5) {
                    examples.add(new String[] {chunk.get(i)[0], hyp, chunk.get(i)[1]});
                }
            }
        }
        return new Sums(0, 0, 0, 0, 0, stats, decodedExact, examples, null);
    }

    /** Loss, correct predictions and the confusion counts of text TAB label records. */
    static Sums scoreClassifier(TrainedModel m, List<String[]> recs, int batchSize) {
        List<String> labels = m.labels();
        Map<String, Integer> index = new java.util.HashMap<>();
        for (int i = 0; i < labels.size(); i++) {
            index.put(labels.get(i), i);
        }
        List<int[]> texts = new ArrayList<>();
        List<int[]> truth = new ArrayList<>();
        for (String[] r : recs) {
            Integer label = index.get(r[1].strip());
            if (label == null) {
                throw new ConfigException("--data", "label '" + r[1].strip() + "' (of \"" + r[0] + "\") is not one the model"
                        + " was trained with: " + labels);
            }
            texts.add(m.tokenizer().encode(r[0]));
            truth.add(new int[] {label});
        }
        int n = labels.size();
        long[] confusion = new long[n * n];
        double lossSum = 0;
        long correct = 0;
        PairBatches rows = PairBatches.forTask(Task.CLASSIFICATION, List.of(texts, truth), batchSize,
                m.config().train().blockSize(), false, 0, m.tokenizer().specials());
        for (int from = 0; from < texts.size(); from += batchSize) {
            int[] idx = new int[Math.min(batchSize, texts.size() - from)];
            for (int i = 0; i < idx.length; i++) {
                idx[i] = from + i;
            }
            Batch b = rows.assemble(idx);
            lossSum += m.model().forward(b, false) * b.size();
            int[] predicted = Nd4j.argMax(m.model().logits(), 1).toIntVector();
            for (int r = 0; r < b.size(); r++) {
                confusion[b.labels()[r] * n + predicted[r]]++;
                correct += b.labels()[r] == predicted[r] ? 1 : 0;
            }
        }
        return new Sums(lossSum, recs.size(), correct, recs.size(), correct, null, 0, List.of(), confusion);
    }
}
