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
import io.sparkformer.driver.ml.TextGenerator;
import io.sparkformer.driver.models.TrainedModel;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.RecurrentModel;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.inference.Generator;
import io.sparkformer.model.inference.IncrementalDecoder;
import io.sparkformer.model.inference.RecurrentDecoder;
import io.sparkformer.model.inference.StepDecoder;
import io.sparkformer.model.text.Tokenizer;
import io.sparkformer.worker.batches.Seq2SeqBatches;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Text from a trained decoder or lstm language model (continuations) or encoder-decoder (translations), line by line. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Continue prompts (decoder and lstm models) or translate sources (encoder-decoder models), one per",
                "input line (--text, --input FILE, or standard input).",
                "With --output: any size of input, read and generated from by Spark, written as part files (the new text in 'generated')."})
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions.Model modelOption;

    @Mixin
    ModelOptions.Search search;

    @Mixin
    ModelOptions.Inputs inputs; // --text "" starts a decoder from nothing

    @Option(names = "--max-tokens", description = "new tokens at most (default ${DEFAULT-VALUE})")
    int maxTokens = 100;

    @Option(names = "--temperature", description = "sampling temperature (default ${DEFAULT-VALUE})")
    double temperature = 1.0;

    @Option(names = "--top-k", description = "sample among the k likeliest tokens, 0 = all (default ${DEFAULT-VALUE})")
    int topK = 0;

    @Option(names = "--top-p", description = "sample from the smallest set of this mass (default ${DEFAULT-VALUE})")
    double topP = 1.0;

    @Option(names = "--seed", description = "sampling seed (default ${DEFAULT-VALUE})")
    long seed = 0;

    @Option(names = "--no-eos-stop", description = "keep generating after the end-of-sequence token")
    boolean noEosStop;

    @Option(names = "--format", description = "text or jsonl (default ${DEFAULT-VALUE})")
    String format = "text";

    @Option(names = "--batch-size", description = "inputs decoded together (default ${DEFAULT-VALUE})")
    int batchSize = 64;

    @Mixin
    TableInference table;

    @Override
    public Integer call() throws Exception {
        Nd4jRuntime.init();
        if (!format.equals("text") && !format.equals("jsonl")) {
            throw new ConfigException("--format", "must be text or jsonl, got " + format);
        }
        Configuration conf = new Configuration();
        // the checks need the model's settings alone: with --output the weights are read on the executors
        TrainedModel.Header h = TrainedModel.header(HadoopFiles.absolute(modelOption.path), conf);
        Kind kind = h.model().kind();
        if (h.model().isClassifier()) {
            throw new ConfigException("--model", h.checkpoint() + " is a classifier: label text with the classify command");
        }
        if (kind == Kind.ENCODER) {
            throw new ConfigException("--model", h.checkpoint() + " is an encoder: it labels or scores text, it does not generate it");
        }
        if (table.requested()) {
            TextGenerator stage = new TextGenerator().setModelPath(h.checkpoint()).setInputCol(table.column)
                    .setMethod(search.method.name().toLowerCase()).setMaxTokens(maxTokens).setBeamWidth(search.beamWidth)
                    .setLengthPenalty(search.lengthPenalty).setTemperature(temperature).setTopK(topK).setTopP(topP).setSeed(seed)
                    .setStopAtEos(!noEosStop).setBatchSize(batchSize);
            return table.run("generate", inputs.input, inputs.texts, stage::transform);
        }
        TrainedModel m = TrainedModel.load(h.checkpoint(), conf);
        List<String> lines = inputs.lines(conf);
        Tokenizer tok = m.tokenizer();
        StepDecoder decoder = m.model() instanceof RecurrentModel lstm ? new RecurrentDecoder(lstm)
                : new IncrementalDecoder((io.sparkformer.model.Transformer) m.model());
        // the tokenizer's own start and end: GPT-2's <|endoftext|> stops an imported GPT-2
        Generator g = new Generator(decoder, tok.specials().bos(), tok.specials().eos());
        Generator.Settings s = new Generator.Settings(search.method, maxTokens, search.beamWidth, search.lengthPenalty, temperature, topK, topP,
                seed, !noEosStop);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        ObjectMapper json = new ObjectMapper();
        for (int from = 0; from < lines.size(); from += batchSize) {
            List<String> chunk = lines.subList(from, Math.min(lines.size(), from + batchSize));
            List<int[]> ids = new ArrayList<>();
            for (String line : chunk) {
                int[] enc = tok.encode(line);
                // sources as training read them: cut to max_len with eos kept (was: an error past max_len)
                ids.add(kind == Kind.ENCODER_DECODER ? Seq2SeqBatches.withEnd(enc, m.model().config().maxLen()) : enc);
            }
            List<int[]> results = g.generate(ids, s);
            for (int i = 0; i < chunk.size(); i++) {
                String text = tok.decode(results.get(i));
                if (format.equals("jsonl")) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("input", chunk.get(i));
                    row.put("output", text);
                    row.put("tokens", results.get(i).length);
                    out.println(json.writeValueAsString(row));
                } else {
                    out.println(kind != Kind.ENCODER_DECODER ? chunk.get(i) + text : text);
                }
            }
        }
        return Cli.OK;
    }
}
