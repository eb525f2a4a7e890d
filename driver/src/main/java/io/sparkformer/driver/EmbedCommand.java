package io.sparkformer.driver;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import org.apache.hadoop.conf.Configuration;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.ml.TextEmbedder;
import io.sparkformer.driver.models.TextEncoder;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.inference.SentenceEmbedder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Sentence embeddings of text, one JSON line per input: the mean of the model's top hidden states over the text's tokens. */
@Command(name = "embed", mixinStandardHelpOptions = true,
        description = {"Sentence embeddings, one input per line (--text, --input FILE, or standard input): the mean of",
                "the model's top hidden states over the input's tokens, as sentence-transformers computes them.",
                "--model: a Hugging Face checkpoint directory (with its tokenizer.json) or one of this project's.",
                "With --output: any size of input, read and embedded by Spark, written as part files."})
final class EmbedCommand implements Callable<Integer> {
    @Mixin
    ModelOptions.Model modelOption;

    @Mixin
    ModelOptions.Inputs inputs;

    @Option(names = "--normalize", description = "L2-normalise each embedding (how sentence-transformers' models are compared)")
    boolean normalize;

    @Option(names = "--batch-size", description = "inputs per forward pass (default ${DEFAULT-VALUE})")
    int batchSize = 32;

    @Mixin
    TableInference table;

    @Option(names = "--format", description = "with --output: as --input-format")
    void format(String value) {
        table.format = value;
    }

    @Override
    public Integer call() throws Exception {
        Nd4jRuntime.init();
        if (batchSize < 1) {
            throw new ConfigException("--batch-size", "must be at least 1, got " + batchSize);
        }
        if (table.requested()) {
            TextEmbedder stage = new TextEmbedder().setModelPath(HadoopFiles.absolute(modelOption.path)).setInputCol(table.column)
                    .setNormalize(normalize).setBatchSize(batchSize);
            return table.run("embed", inputs.input, inputs.texts, stage::transform);
        }
        Configuration conf = new Configuration();
        TextEncoder e = TextEncoder.load(HadoopFiles.absolute(modelOption.path), conf);
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
}
