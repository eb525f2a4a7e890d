package io.sparkformer.driver.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.apache.hadoop.conf.Configuration;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.plots.Charts;
import io.sparkformer.model.Batch;
import io.sparkformer.model.Model;
import io.sparkformer.model.NativeThreads;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.ParameterLayout;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.optim.AdamW;
import io.sparkformer.model.optim.GradientClipping;

/**
 * The recurrent baseline against the decoder on the claims the Transformer was introduced with,
 * each at matched parameter counts (the LSTM's width chosen so its parameters come closest to the
 * decoder's) and equal tokens:
 * <ul>
 *   <li><b>recall</b>: the first symbol of a row (one of 8) must be named at its end, after N
 *       random distractors; accuracy on fresh rows after the same training for both;</li>
 *   <li><b>step time</b>: forward and backward of a batch of 8 as the length grows 64 to 1024;</li>
 *   <li><b>gradient reach</b>: with the loss at the last position only, the gradient reaching the
 *       first token's embedding over the one reaching the last token's (both tokens occur nowhere
 *       else in a row), at initialisation and after the recall training.</li>
 * </ul>
 * Writes {@code recall.tsv}, {@code steptime.tsv}, {@code gradient.tsv} and
 * {@code rnn-vs-transformer.png} (with the language-model runs' validation curves when their run
 * directories are given) into OUT, and prints RESULT lines.
 *
 * <p>Arguments: OUT [--quick] [--lm TRANSFORMER_RUN LSTM_RUN].
 */
public final class RecurrentVsTransformerBenchmark {
    private static final int SYMBOLS = 8;          // ids 3..10, the symbol to recall
    private static final int FIRST_SYMBOL = 3;
    private static final int FIRST_DISTRACTOR = FIRST_SYMBOL + SYMBOLS;
    private static final int DISTRACTORS = 16;
    private static final int QUERY = FIRST_DISTRACTOR + DISTRACTORS;
    private static final int VOCAB = QUERY + 1;
    private static final int D_MODEL = 64;
    private static final int LAYERS = 2;

    private record Row(String model, int n, double value, double extra) {}

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args[0]);
        boolean quick = Arrays.asList(args).contains("--quick");
        int lmAt = Arrays.asList(args).indexOf("--lm");
        Files.createDirectories(out);
        Nd4jRuntime.init();
        NativeThreads.apply(NativeThreads.blasThreads());
        org.nd4j.linalg.factory.Nd4j.getMemoryManager().togglePeriodicGc(false);

        int[] distances = quick ? new int[] {4, 32} : new int[] {4, 16, 64, 128};
        int steps = quick ? 60 : 250;
        List<Row> recall = new ArrayList<>();
        List<Row> reach = new ArrayList<>();
        for (Kind kind : new Kind[] {Kind.DECODER, Kind.LSTM}) {
            for (int n : distances) {
                Model m = model(kind, n + 2, 11);
                long t0 = System.nanoTime();
                train(m, n, steps, 32, new Random(100 + n));
                double seconds = (System.nanoTime() - t0) / 1e9;
                double accuracy = accuracy(m, n, 512, new Random(7));
                recall.add(new Row(name(m), n, accuracy, seconds));
                reach.add(new Row(name(m) + " trained", n, reach(m, n, new Random(9)), Double.NaN));
                System.out.printf(Locale.ROOT, "recall %s N=%d: accuracy %.3f after %d steps (%.0f s)%n", name(m), n, accuracy,
                        steps, seconds);
            }
        }
        int[] reachDistances = quick ? new int[] {4, 32, 128} : new int[] {4, 16, 64, 256, 1024};
        for (Kind kind : new Kind[] {Kind.DECODER, Kind.LSTM}) {
            for (int n : reachDistances) {
                Model m = model(kind, n + 2, 11);
                double r = reach(m, n, new Random(9));
                reach.add(new Row(name(m) + " at init", n, r, Double.NaN));
                System.out.printf(Locale.ROOT, "gradient reach %s at init N=%d: first/last %.3g%n", name(m), n, r);
            }
        }
        int[] lengths = quick ? new int[] {64, 256} : new int[] {64, 128, 256, 512, 1024};
        List<Row> stepTime = new ArrayList<>();
        for (Kind kind : new Kind[] {Kind.DECODER, Kind.LSTM}) {
            for (int t : lengths) {
                Model m = model(kind, t, 11);
                double ms = medianStepMs(m, t, quick ? 2 : 3);
                stepTime.add(new Row(name(m), t, ms, 8.0 * t / (ms / 1e3)));
                System.out.printf(Locale.ROOT, "step time %s T=%d: %.1f ms (%.0f tokens/s)%n", name(m), t, ms, 8.0 * t / (ms / 1e3));
            }
        }
        write(out.resolve("recall.tsv"), "model\tdistractors\taccuracy\ttrain_seconds", recall);
        write(out.resolve("gradient.tsv"), "model\tdistance\tfirst_over_last", reach);
        write(out.resolve("steptime.tsv"), "model\tlength\tms_per_step\ttokens_per_s", stepTime);

        List<XYChart> charts = new ArrayList<>();
        charts.add(chart("Recall the first symbol after N distractors", "N", "accuracy", recall, false, false));
        charts.add(chart("Forward + backward, batch 8", "sequence length", "ms per step", stepTime, true, true));
        charts.add(chart("Gradient reaching the first token / the last", "distance", "ratio", reach, true, true));
        if (lmAt >= 0) {
            charts.add(lmChart(Path.of(args[lmAt + 1]), Path.of(args[lmAt + 2])));
        }
        Charts.writePng(charts, 1, charts.size(), out.resolve("rnn-vs-transformer.png").toString(), new Configuration());
        for (Row r : recall) {
            System.out.printf(Locale.ROOT, "RESULT recall model=%s N=%d accuracy=%.3f%n", r.model().replace(' ', '_'), r.n(), r.value());
        }
        for (Row r : stepTime) {
            System.out.printf(Locale.ROOT, "RESULT steptime model=%s T=%d ms=%.1f%n", r.model().replace(' ', '_'), r.n(), r.value());
        }
        for (Row r : reach) {
            System.out.printf(Locale.ROOT, "RESULT reach model=%s N=%d ratio=%.3g%n", r.model().replace(' ', '_'), r.n(), r.value());
        }
    }

    /** The decoder (4 heads, d_ff 4d, an output layer of its own) or the LSTM whose width brings its parameters closest to it. */
    static Model model(Kind kind, int maxLen, long seed) {
        TransformerConfig decoder = new TransformerConfig(Kind.DECODER, VOCAB, D_MODEL, 4, LAYERS, 4 * D_MODEL, maxLen,
                TransformerConfig.Norm.PRE, TransformerConfig.Positional.LEARNED, TransformerConfig.Activation.GELU, false,
                1e-5, 0, 0.0, false); // untied, as the LSTM's head: the input embedding's gradient is the input's alone
        TransformerConfig cfg = decoder;
        if (kind == Kind.LSTM) {
            long target = ParameterLayout.of(decoder).size();
            cfg = null;
            for (int d = 8; d <= 1024; d++) {
                TransformerConfig c = new TransformerConfig(Kind.LSTM, VOCAB, d, 1, LAYERS, 1, maxLen, decoder.norm(),
                        decoder.positional(), decoder.activation(), false, 1e-5, 0, 0.0);
                if (cfg == null || Math.abs(ParameterLayout.of(c).size() - target) < Math.abs(ParameterLayout.of(cfg).size() - target)) {
                    cfg = c;
                }
            }
        }
        Model m = Model.create(cfg, DataType.FLOAT);
        m.initialize(seed, Transformer.Init.GPT2);
        return m;
    }

    private static String name(Model m) {
        return (m.config().kind() == Kind.LSTM ? "lstm" : "decoder") + " " + m.parameterCount() / 1000 + "k";
    }

    /** Rows of [symbol, N distractors, query]; the only target is the symbol, at the query. */
    static Batch recallBatch(int rows, int n, Random rnd) {
        int t = n + 2;
        int[] ids = new int[rows * t];
        int[] target = new int[rows * t];
        Arrays.fill(target, -1);
        for (int r = 0; r < rows; r++) {
            int symbol = FIRST_SYMBOL + rnd.nextInt(SYMBOLS);
            ids[r * t] = symbol;
            for (int i = 1; i <= n; i++) {
                ids[r * t + i] = FIRST_DISTRACTOR + rnd.nextInt(DISTRACTORS);
            }
            ids[r * t + t - 1] = QUERY;
            target[r * t + t - 1] = symbol;
        }
        return Batch.of(rows, t, ids, target);
    }

    private static void train(Model m, int n, int steps, int rows, Random rnd) {
        AdamW adamw = new AdamW(m.layout(), DataType.FLOAT, new AdamW.Settings(0.9, 0.99, 1e-8, 0.0));
        for (int s = 0; s < steps; s++) {
            m.forwardBackward(recallBatch(rows, n, rnd));
            GradientClipping.clip(m.gradients(), 1.0);
            double warm = Math.min(1.0, (s + 1) / 20.0);
            adamw.apply(m.parameters(), m.gradients(), 3e-3 * warm);
        }
    }

    private static double accuracy(Model m, int n, int rows, Random rnd) {
        int right = 0;
        for (int done = 0; done < rows; done += 64) {
            Batch b = recallBatch(64, n, rnd);
            m.forward(b, false);
            INDArray logits = m.logits();
            int t = b.length();
            for (int r = 0; r < b.size(); r++) {
                int at = r * t + t - 1;
                int best = 0;
                for (int v = 1; v < VOCAB; v++) {
                    best = logits.getDouble(at, v) > logits.getDouble(at, best) ? v : best;
                }
                right += best == b.target()[at] ? 1 : 0;
            }
        }
        return (double) right / rows;
    }

    /**
     * ‖∂loss/∂embedding of the first token‖ over ‖∂loss/∂embedding of the query‖, the loss at the
     * query alone: the symbol and the query each occur once per row, at the first and last positions.
     */
    static double reach(Model m, int n, Random rnd) {
        Batch b = recallBatch(16, n, rnd);
        m.forwardBackward(b);
        double first = 0;
        for (int s = FIRST_SYMBOL; s < FIRST_SYMBOL + SYMBOLS; s++) {
            double norm = embeddingGradient(m, s).norm2Number().doubleValue();
            first += norm * norm;
        }
        return Math.sqrt(first) / embeddingGradient(m, QUERY).norm2Number().doubleValue();
    }

    private static INDArray embeddingGradient(Model m, int token) {
        return m.config().kind() == Kind.LSTM ? m.gradients().tensor(io.sparkformer.model.TensorNames.RECURRENT_EMBEDDING).getColumn(token)
                : m.gradients().tensor("tok_emb").getRow(token);
    }

    private static double medianStepMs(Model m, int t, int repeats) {
        Random rnd = new Random(3);
        int[] ids = rnd.ints(8L * t, 3, VOCAB).toArray();
        int[] target = rnd.ints(8L * t, 3, VOCAB).toArray();
        Batch b = Batch.of(8, t, ids, target);
        m.forwardBackward(b); // warm-up: allocation, workspaces
        double[] ms = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long t0 = System.nanoTime();
            m.forwardBackward(b);
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        return ms[repeats / 2];
    }

    private static void write(Path file, String header, List<Row> rows) throws IOException {
        StringBuilder sb = new StringBuilder(header).append('\n');
        for (Row r : rows) {
            sb.append(r.model()).append('\t').append(r.n()).append('\t').append(String.format(Locale.ROOT, "%.4g", r.value()));
            if (!Double.isNaN(r.extra())) {
                sb.append('\t').append(String.format(Locale.ROOT, "%.4g", r.extra()));
            }
            sb.append('\n');
        }
        Files.writeString(file, sb.toString(), StandardCharsets.UTF_8);
    }

    private static XYChart chart(String title, String x, String y, List<Row> rows, boolean logX, boolean logY) {
        XYChart c = new XYChartBuilder().width(520).height(400).title(title).xAxisTitle(x).yAxisTitle(y).build();
        c.getStyler().setXAxisLogarithmic(logX).setYAxisLogarithmic(logY).setLegendPosition(Styler.LegendPosition.InsideNW);
        // one series per model kind and state; the parameter counts (which grow with max_len) are in the TSV files
        rows.stream().map(r -> series(r.model())).distinct().forEach(series -> {
            List<Row> s = rows.stream().filter(r -> series(r.model()).equals(series)).toList();
            c.addSeries(series, s.stream().mapToDouble(Row::n).toArray(), s.stream().mapToDouble(r -> Math.max(r.value(), 1e-12)).toArray());
        });
        return c;
    }

    private static String series(String model) {
        return model.replaceAll(" [0-9]+k", "");
    }

    private static XYChart lmChart(Path transformerRun, Path lstmRun) throws IOException {
        XYChart c = new XYChartBuilder().width(520).height(400).title("Tiny Shakespeare, characters").xAxisTitle("tokens")
                .yAxisTitle("validation loss").build();
        c.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        ObjectMapper json = new ObjectMapper();
        for (Path run : List.of(transformerRun, lstmRun)) {
            List<Double> tokens = new ArrayList<>();
            List<Double> loss = new ArrayList<>();
            for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
                JsonNode n = json.readTree(line);
                if (n.hasNonNull("val_loss")) {
                    tokens.add(n.get("tokens").asDouble());
                    loss.add(n.get("val_loss").asDouble());
                }
            }
            long params = json.readTree(run.resolve("summary.json").toFile()).get("parameters").asLong();
            String kind = run == lstmRun ? "lstm" : "decoder";
            c.addSeries(kind + " " + params / 1000 + "k", tokens.stream().mapToDouble(Double::doubleValue).toArray(),
                    loss.stream().mapToDouble(Double::doubleValue).toArray());
        }
        return c;
    }
}
