package io.sparkformer.driver;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import org.apache.hadoop.conf.Configuration;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.models.TrainedModel;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.hf.HuggingFaceExport;
import io.sparkformer.model.text.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Writes a trained model as a Hugging Face checkpoint directory. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Write a model as a Hugging Face checkpoint (config.json, model.safetensors, tokenizer.json):",
                "encoders as BERT, decoders as GPT-2. A model with a switch neither has exits 2 naming it."})
final class ExportCommand implements Callable<Integer> {
    @Mixin
    ModelOptions.Model modelOption;

    @Option(names = "--format", required = true, description = "huggingface (the only one so far)")
    String format;

    @Option(names = "--output", required = true, description = "a new local directory")
    String output;

    @Override
    public Integer call() throws Exception {
        if (!format.equals("huggingface")) {
            throw new ConfigException("--format", "must be huggingface, got " + format);
        }
        Nd4jRuntime.init();
        Configuration conf = new Configuration();
        TrainedModel m = TrainedModel.load(HadoopFiles.absolute(modelOption.path), conf);
        if (!(m.model() instanceof Transformer)) {
            throw new ConfigException("--model", m.checkpoint() + " is an lstm, which no Hugging Face family holds");
        }
        HuggingFaceExport.familyOf(m.model().config()); // before anything is written
        if (m.tokenizer().type().equals("char")) {
            throw new ConfigException("--model", m.checkpoint() + " tokenizes characters with this project's own tokenizer,"
                    + " which Hugging Face's tokenizers do not read; train with data.tokenizer bpe or a tokenizer.json");
        }
        Path dir = Path.of(HadoopFiles.absolute(output).replaceFirst("^file:", ""));
        HuggingFaceExport.write(dir, m.model().config(), m.model().parameters(), m.labels(), m.tokenizer().toJson());
        System.out.println("sparkformer: wrote " + dir + " (config.json, model.safetensors, " + Tokenizer.FILE_NAME + ") from "
                + m.checkpoint());
        return Cli.OK;
    }
}
