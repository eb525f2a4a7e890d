package io.sparkformer.driver;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Function;

import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.models.TrainedModel;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.hf.HuggingFaceCheckpoint;
import io.sparkformer.model.inference.SentenceEmbedder;
import io.sparkformer.model.text.HuggingFaceTokenizer;
import io.sparkformer.model.text.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Sentence embeddings of text, one JSON line per input: the mean of the model's top hidden states over the text's tokens. */
@Command(name = "embed", mixinStandardHelpOptions = true,
        description = {"Sentence embeddings, one input per line (--text, --input FILE, or standard input): the mean of",
                "the model's top hidden states over the input's tokens, as sentence-transformers computes them.",
                "--model: a Hugging Face checkpoint directory (with its tokenizer.json) or one of this project's."})
final class EmbedCommand implements Callable<Integer> {
    @Mixin
    ModelOptions.Model modelOption;

    @Mixin
    ModelOptions.Inputs inputs;

    @Option(names = "--normalize", description = "L2-normalise each embedding (how sentence-transformers' models are compared)")
    boolean normalize;

    @Option(names = "--batch-size", description = "inputs per forward pass (default ${DEFAULT-VALUE})")
    int batchSize = 32;

    /** A model to embed with, and how it turns a text into its token ids. */
    private record Embedder(Transformer model, Function<String, int[]> encode) {}

    @Override
    public Integer call() throws Exception {
        Nd4jRuntime.init();
        if (batchSize < 1) {
            throw new ConfigException("--batch-size", "must be at least 1, got " + batchSize);
        }
        Configuration conf = new Configuration();
        Embedder e = load(HadoopFiles.absolute(modelOption.path), conf);
        List<String> lines = inputs.lines(conf);
        List<int[]> rows = new ArrayList<>();
        for (String line : lines) {
            rows.add(e.encode().apply(line));
        }
        double[][] vectors = new SentenceEmbedder(e.model()).embed(rows, normalize, batchSize);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < lines.size(); i++) {
            Map<String, Object> rec = new LinkedHashMap<>();
            rec.put("input", lines.get(i));
            rec.put("embedding", vectors[i]);
            out.println(json.writeValueAsString(rec));
        }
        return Cli.OK;
    }

    /**
     * A Hugging Face checkpoint (its own tokenizer and special tokens, e.g. [CLS] text [SEP]) or a
     * model trained here (bos, text, eos, as classification reads rows).
     */
    private static Embedder load(String path, Configuration conf) throws java.io.IOException {
        Path local = path.contains("://") ? null : Path.of(path);
        if (local != null && HuggingFaceCheckpoint.isCheckpoint(local)) {
            HuggingFaceCheckpoint ckpt = HuggingFaceCheckpoint.open(local);
            Path tokenizerFile = local.resolve(Tokenizer.FILE_NAME);
            if (!Files.isRegularFile(tokenizerFile)) {
                throw new ConfigException("--model", local + " has no " + Tokenizer.FILE_NAME + ": embed needs the checkpoint's"
                        + " tokenizer");
            }
            HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.fromJson(Files.readAllBytes(tokenizerFile), tokenizerFile.toString());
            int maxLen = ckpt.config().maxLen();
            return new Embedder(ckpt.load(DataType.FLOAT), text -> truncated(tokenizer.encodeWithSpecialTokens(text), maxLen));
        }
        TrainedModel m = TrainedModel.load(path, conf);
        if (!(m.model() instanceof Transformer t)) {
            throw new ConfigException("--model", m.checkpoint() + " is a " + m.model().config().kind().name().toLowerCase()
                    + "; embed reads a transformer's hidden states");
        }
        int maxLen = t.config().maxLen();
        return new Embedder(t, text -> {
            int[] ids = m.tokenizer().encode(text);
            int[] row = new int[ids.length + 2];
            row[0] = Tokenizer.BOS;
            System.arraycopy(ids, 0, row, 1, ids.length);
            row[row.length - 1] = Tokenizer.EOS;
            return truncated(row, maxLen);
        });
    }

    /** At most max_len ids: a longer row keeps its first max_len − 1 and its last (the closing special token). */
    private static int[] truncated(int[] ids, int maxLen) {
        if (ids.length <= maxLen) {
            return ids;
        }
        int[] out = Arrays.copyOf(ids, maxLen);
        out[maxLen - 1] = ids[ids.length - 1];
        return out;
    }
}
