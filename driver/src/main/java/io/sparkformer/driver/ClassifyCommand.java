package io.sparkformer.driver;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.ml.TextClassificationModel;
import io.sparkformer.driver.models.TrainedModel;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.sql.types.DataTypes;
import io.sparkformer.model.Batch;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.worker.batches.ClassificationBatches;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Labels text with a trained classifier: one JSON line per input, the label and every label's probability. */
@Command(name = "classify", mixinStandardHelpOptions = true,
        description = {"Label text with a trained classifier, one input per line (--text, --input FILE, or standard",
                "input); prints JSON lines: the input, the likeliest label and each label's probability.",
                "With --output: any size of input, read and scored by Spark, written as part files."})
final class ClassifyCommand implements Callable<Integer> {
    @Mixin
    ModelOptions.Model modelOption;

    @Mixin
    ModelOptions.Inputs inputs;

    @Mixin
    TableInference table;

    @Option(names = "--format", description = "with --output: as --input-format")
    void format(String value) {
        table.format = value;
    }

    @Override
    public Integer call() throws Exception {
        Nd4jRuntime.init();
        Configuration conf = new Configuration();
        // the checks need the model's settings alone: with --output the weights are read on the executors
        TrainedModel.Header h = TrainedModel.header(HadoopFiles.absolute(modelOption.path), conf);
        if (!h.model().isClassifier()) {
            throw new ConfigException("--model", h.checkpoint() + " is a language model, not a classifier (data.task classification)");
        }
        List<String> labels = h.labels();
        if (table.requested()) {
            // the labels as the model names them: the training data's column type is not in the checkpoint
            TextClassificationModel stage = new TextClassificationModel(Identifiable.randomUID("classify"), h.checkpoint(), labels,
                    DataTypes.StringType).setInputCol(table.column);
            return table.run("classify", inputs.input, inputs.texts, stage::transform);
        }
        TrainedModel m = TrainedModel.load(h.checkpoint(), conf);
        int maxLen = m.config().train().blockSize();
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        ObjectMapper json = new ObjectMapper();
        for (String line : inputs.lines(conf)) {
            // one row at a time: no padding, so the figures do not depend on the other inputs
            Batch row = ClassificationBatches.row(m.tokenizer().encode(line), maxLen, m.tokenizer().specials());
            m.model().forward(row, false);
            INDArray p = Transforms.softmax(m.model().logits().castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE), true);
            double[] probs = p.toDoubleVector();
            int best = Nd4j.argMax(p, 1).getInt(0);
            Map<String, Object> rec = new LinkedHashMap<>();
            rec.put("input", line);
            rec.put("label", labels.get(best));
            Map<String, Double> byLabel = new LinkedHashMap<>();
            for (int i = 0; i < labels.size(); i++) {
                byLabel.put(labels.get(i), probs[i]);
            }
            rec.put("probabilities", byLabel);
            out.println(json.writeValueAsString(rec));
        }
        return Cli.OK;
    }
}
