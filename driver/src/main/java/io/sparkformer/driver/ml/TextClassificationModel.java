package io.sparkformer.driver.ml;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.ml.Model;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWriter;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.cluster.ExecutorSettings;
import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.corpus.SerializableConf;
import io.sparkformer.driver.models.TrainedModel;
import io.sparkformer.driver.training.RunDirectory;
import io.sparkformer.model.NativeThreads;
import io.sparkformer.model.inference.BatchClassifier;
import io.sparkformer.model.io.Checkpoint;
import io.sparkformer.model.text.Tokenizer;
import io.sparkformer.worker.batches.ClassificationBatches;

/**
 * A fitted text classifier (see {@link TextClassifier}): adds the likeliest label, as a value of
 * the label column it was fitted on (a string, an integer, a boolean or a double), and the vector of every
 * label's probability in label order. Rows are scored on the executors, the model read once per
 * executor JVM, in batches of similar length put back in order; every input column and row is
 * kept, and a null or empty text gets null outputs. Saving writes the params and a copy of the
 * checkpoint (weights, tokenizer, job config), so the saved stage needs nothing else.
 */
public final class TextClassificationModel extends Model<TextClassificationModel> implements MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final String checkpoint;
    private final List<String> labels;
    private final DataType labelType;

    private final Param<String> inputCol;
    private final Param<String> predictionCol;
    private final Param<String> probabilityCol;
    private final IntParam batchSize;

    /**
     * {@code checkpoint}: the classifier's checkpoint directory (any Hadoop FS path the executors
     * can read); {@code labels}: its label names in index order, as the label column held them;
     * {@code labelType}: that column's type.
     */
    public TextClassificationModel(String uid, String checkpoint, List<String> labels, DataType labelType) {
        this.uid = uid;
        this.checkpoint = checkpoint;
        this.labels = List.copyOf(labels);
        this.labelType = labelType;
        inputCol = new Param<>(this, "inputCol", "the text column", TrainingEstimator::nonBlank);
        predictionCol = new Param<>(this, "predictionCol", "the likeliest label's column to add", TrainingEstimator::nonBlank);
        probabilityCol = new Param<>(this, "probabilityCol", "the column of each label's probability to add (a vector)",
                TrainingEstimator::nonBlank);
        batchSize = new IntParam(this, "batchSize", "texts per forward pass, at least 1", ParamValidators.gtEq(1));
        setDefault(inputCol, "text");
        setDefault(predictionCol, "prediction");
        setDefault(probabilityCol, "probability");
        setDefault(batchSize, 64);
        TextClassifier.labelValues(labels, labelType); // every label reads as the column's type
    }

    public Param<String> inputCol() { return inputCol; }
    public Param<String> predictionCol() { return predictionCol; }
    public Param<String> probabilityCol() { return probabilityCol; }
    public IntParam batchSize() { return batchSize; }

    public TextClassificationModel setInputCol(String value) { set(inputCol, value); return this; }
    public TextClassificationModel setPredictionCol(String value) { set(predictionCol, value); return this; }
    public TextClassificationModel setProbabilityCol(String value) { set(probabilityCol, value); return this; }
    public TextClassificationModel setBatchSize(int value) { set(batchSize, value); return this; }

    /** The checkpoint directory this model scores with. */
    public String checkpoint() { return checkpoint; }

    /** The label names in index order (the probability vector's order). */
    public List<String> labels() { return labels; }

    @Override
    public String uid() { return uid; }

    @Override
    public StructType transformSchema(StructType schema) {
        TrainingEstimator.requireText(uid, schema, $(inputCol));
        for (String out : List.of($(predictionCol), $(probabilityCol))) {
            if (Arrays.asList(schema.fieldNames()).contains(out)) {
                throw new IllegalArgumentException(uid + ": output column '" + out + "' is a column already");
            }
        }
        return schema.add(new StructField($(predictionCol), labelType, true, Metadata.empty()))
                .add(new StructField($(probabilityCol), SQLDataTypes.VectorType(), true, Metadata.empty()));
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        var sc = dataset.sparkSession().sparkContext();
        int threads = ExecutorSettings.threadsPerTask(sc.getConf(), Math.max(1, dataset.rdd().getNumPartitions()));
        Scoring task = new Scoring(checkpoint, dataset.schema().fieldIndex($(inputCol)), (Integer) $(batchSize),
                TextClassifier.labelValues(labels, labelType), threads, new SerializableConf(sc.hadoopConfiguration()));
        return dataset.toDF().mapPartitions(task, Encoders.row(out));
    }

    @Override
    public TextClassificationModel copy(ParamMap extra) {
        TextClassificationModel copy = new TextClassificationModel(uid, checkpoint, labels, labelType);
        return copyValues(copy, extra).setParent(parent());
    }

    @Override
    public MLWriter write() {
        return new Writer(this);
    }

    public static MLReader<TextClassificationModel> read() {
        return new Reader();
    }

    public static TextClassificationModel load(String path) {
        return read().load(path);
    }

    /** One task's work: chunks of rows out in the order they came, each with its label and probabilities. */
    private record Scoring(String checkpoint, int column, int batchSize, Object[] labelValues, int threads, SerializableConf conf)
            implements MapPartitionsFunction<Row, Row> {
        @Override
        public Iterator<Row> call(Iterator<Row> rows) {
            NativeThreads.apply(threads);
            return new ChunkedRows(rows, this::score);
        }

        private List<Row> score(List<Row> chunk) {
            return ExecutorModels.using("classify:" + checkpoint, () -> TrainedModel.load(checkpoint, conf.get()), ExecutorModels::copy,
                    m -> score(m, chunk));
        }

        private List<Row> score(TrainedModel m, List<Row> chunk) {
            int maxLen = m.config().train().blockSize();
            List<Integer> at = new ArrayList<>(); // the chunk's rows that have a text
            List<int[]> ids = new ArrayList<>();
            for (String text : ChunkedRows.texts(chunk, column, at)) {
                // framed as the classify command frames a row: bos, the text cut to fit, eos
                ids.add(ClassificationBatches.row(m.tokenizer().encode(text), maxLen, m.tokenizer().specials()).ids());
            }
            double[][] probabilities = new BatchClassifier(m.model(), batchSize).probabilities(ids);
            Object[][] outputs = new Object[chunk.size()][];
            for (int k = 0; k < probabilities.length; k++) {
                int best = 0;
                for (int j = 1; j < probabilities[k].length; j++) {
                    if (probabilities[k][j] > probabilities[k][best]) {
                        best = j;
                    }
                }
                outputs[at.get(k)] = new Object[] {labelValues[best], Vectors.dense(probabilities[k])};
            }
            return ChunkedRows.withOutputs(chunk, outputs, 2);
        }
    }

    /** The params, the checkpoint's files, and the labels and their type (see {@link SavedStage}). */
    private static final class Writer extends MLWriter {
        private final TextClassificationModel model;

        Writer(TextClassificationModel model) {
            this.model = model;
        }

        @Override
        public void saveImpl(String path) {
            SavedStage.save(model, model.checkpoint, Map.of("labels", model.labels, "label_type", model.labelType.json()), path,
                    sparkSession());
        }
    }

    private static final class Reader extends MLReader<TextClassificationModel> {
        @Override
        public TextClassificationModel load(String path) {
            SavedStage.Loaded saved = SavedStage.load(path, sparkSession(), TextClassificationModel.class);
            List<String> labels = new ArrayList<>();
            saved.fields().path("labels").forEach(l -> labels.add(l.asText()));
            TextClassificationModel model = new TextClassificationModel(saved.metadata().uid(), saved.checkpoint(), labels,
                    DataType.fromJson(saved.fields().path("label_type").asText()));
            saved.metadata().getAndSetParams(model, scala.Option.empty());
            return model;
        }
    }
}
