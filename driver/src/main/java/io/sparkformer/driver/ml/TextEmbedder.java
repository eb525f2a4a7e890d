package io.sparkformer.driver.ml;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import io.sparkformer.driver.cluster.ExecutorSettings;
import io.sparkformer.driver.corpus.SerializableConf;
import io.sparkformer.driver.models.TextEncoder;
import io.sparkformer.model.NativeThreads;
import io.sparkformer.model.inference.SentenceEmbedder;

/**
 * A Spark ML stage: sentence embeddings of a text column as an ml.linalg vector column, computed
 * on the executors (the mean of the model's top hidden states over each text's tokens, optionally
 * L2-normalised, as the embed command and sentence-transformers compute them). The model is read
 * once per executor JVM and copied for each task running at once there; within a partition, rows
 * are embedded a chunk at a time in batches of similar length and put back in order. Every input
 * column and row is kept; a null or empty text gets a null embedding. Saves and loads its params
 * (the model path, not the model) with Spark ML's persistence.
 */
public final class TextEmbedder extends org.apache.spark.ml.Transformer implements DefaultParamsWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;

    // Spark ML finds params by their public no-argument methods, and a param needs its stage's uid
    // when it is made: so they are made in the constructor, after the uid
    private final Param<String> modelPath;
    private final Param<String> inputCol;
    private final Param<String> outputCol;
    private final BooleanParam normalize;
    private final IntParam batchSize;

    public TextEmbedder() {
        this(Identifiable.randomUID("textEmbedder"));
    }

    public TextEmbedder(String uid) {
        this.uid = uid;
        modelPath = new Param<>(this, "modelPath", "the model: a checkpoint or run directory of this project, a Hugging Face"
                + " checkpoint directory or a Hub id hf:org/name", TextEmbedder::nonBlank);
        inputCol = new Param<>(this, "inputCol", "the text column", TextEmbedder::nonBlank);
        outputCol = new Param<>(this, "outputCol", "the embedding column to add", TextEmbedder::nonBlank);
        normalize = new BooleanParam(this, "normalize", "L2-normalise each embedding");
        batchSize = new IntParam(this, "batchSize", "texts per forward pass, at least 1", ParamValidators.gtEq(1));
        setDefault(inputCol, "text");
        setDefault(outputCol, "embedding");
        setDefault(normalize, false);
        setDefault(batchSize, 64);
    }

    public Param<String> modelPath() { return modelPath; }
    public Param<String> inputCol() { return inputCol; }
    public Param<String> outputCol() { return outputCol; }
    public BooleanParam normalize() { return normalize; }
    public IntParam batchSize() { return batchSize; }

    private static boolean nonBlank(String s) {
        return s != null && !s.isBlank();
    }

    @Override
    public String uid() { return uid; }

    public TextEmbedder setModelPath(String value) { set(modelPath, value); return this; }
    public TextEmbedder setInputCol(String value) { set(inputCol, value); return this; }
    public TextEmbedder setOutputCol(String value) { set(outputCol, value); return this; }
    public TextEmbedder setNormalize(boolean value) { set(normalize, value); return this; }
    public TextEmbedder setBatchSize(int value) { set(batchSize, value); return this; }

    @Override
    public StructType transformSchema(StructType schema) {
        if (!isDefined(modelPath)) {
            throw new IllegalArgumentException(uid + ": modelPath is not set");
        }
        String in = $(inputCol);
        if (!Arrays.asList(schema.fieldNames()).contains(in)) {
            throw new IllegalArgumentException(uid + ": inputCol '" + in + "' is not a column; the columns are "
                    + Arrays.toString(schema.fieldNames()));
        }
        if (!schema.apply(in).dataType().equals(DataTypes.StringType)) {
            throw new IllegalArgumentException(uid + ": inputCol '" + in + "' is " + schema.apply(in).dataType().simpleString()
                    + ", not a string");
        }
        if (Arrays.asList(schema.fieldNames()).contains($(outputCol))) {
            throw new IllegalArgumentException(uid + ": outputCol '" + $(outputCol) + "' is a column already");
        }
        return schema.add(new StructField($(outputCol), SQLDataTypes.VectorType(), true, org.apache.spark.sql.types.Metadata.empty()));
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        var spark = dataset.sparkSession().sparkContext();
        // native threads per task as a training task gets them: in local mode the cores over the task slots
        int threads = ExecutorSettings.threadsPerTask(spark.getConf(), Math.max(1, dataset.rdd().getNumPartitions()));
        Partition task = new Partition($(modelPath), dataset.schema().fieldIndex($(inputCol)), (Boolean) $(normalize),
                (Integer) $(batchSize), threads, new SerializableConf(spark.hadoopConfiguration()));
        return dataset.toDF().mapPartitions(task, Encoders.row(out));
    }

    @Override
    public TextEmbedder copy(ParamMap extra) {
        return (TextEmbedder) defaultCopy(extra);
    }

    public static MLReader<TextEmbedder> read() {
        return new DefaultParamsReader<>();
    }

    public static TextEmbedder load(String path) {
        return read().load(path);
    }

    /** One task's work: chunks of rows out in the order they came, each with its embedding appended. */
    private record Partition(String model, int column, boolean normalize, int batchSize, int threads, SerializableConf conf)
            implements MapPartitionsFunction<Row, Row> {
        @Override
        public Iterator<Row> call(Iterator<Row> rows) {
            NativeThreads.apply(threads);
            return new ChunkedRows(rows, this::embed);
        }

        private List<Row> embed(List<Row> chunk) {
            return ExecutorModels.using("embed:" + model, () -> TextEncoder.load(model, conf.get()),
                    read -> new TextEncoder(ExecutorModels.copyWeights(read.model()), read.encode()), encoder -> embed(encoder, chunk));
        }

        private List<Row> embed(TextEncoder encoder, List<Row> chunk) {
            List<Integer> at = new ArrayList<>(); // the chunk's rows that have a text
            List<int[]> ids = new ArrayList<>();
            for (String text : ChunkedRows.texts(chunk, column, at)) {
                ids.add(encoder.encode().apply(text));
            }
            double[][] vectors = new SentenceEmbedder(encoder.model()).embed(ids, normalize, batchSize);
            Object[][] outputs = new Object[chunk.size()][];
            for (int k = 0; k < vectors.length; k++) {
                outputs[at.get(k)] = new Object[] {Vectors.dense(vectors[k])};
            }
            return ChunkedRows.withOutputs(chunk, outputs, 1);
        }
    }
}
