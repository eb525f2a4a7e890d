package io.sparkformer.driver.ml;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.ml.param.BooleanParam;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
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
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import io.sparkformer.driver.cluster.ExecutorSettings;
import io.sparkformer.driver.corpus.SerializableConf;
import io.sparkformer.driver.models.TrainedModel;
import io.sparkformer.model.NativeThreads;
import io.sparkformer.model.RecurrentModel;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.TransformerConfig.Kind;
import io.sparkformer.model.inference.Generator;
import io.sparkformer.model.inference.IncrementalDecoder;
import io.sparkformer.model.inference.RecurrentDecoder;
import io.sparkformer.model.inference.StepDecoder;
import io.sparkformer.worker.batches.Seq2SeqBatches;

/**
 * A Spark ML stage: text generated from a prompt column on the executors, as the generate command
 * makes it (a decoder or LSTM continues each prompt; an encoder-decoder translates each source),
 * greedy, beam search or sampling. The output column holds the new text alone. The model is read
 * once per executor JVM; rows go through the generator in batches in their order, so a
 * partition's rows come out as the command would print them for the same lines. Every input
 * column and row is kept; a null prompt gets a null output (an empty one starts a decoder from
 * nothing). A classifier or an encoder is refused on the driver, before any task runs. Saves and
 * loads its params (the model path, not the model).
 */
public final class TextGenerator extends org.apache.spark.ml.Transformer implements DefaultParamsWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final Param<String> modelPath;
    private final Param<String> inputCol;
    private final Param<String> outputCol;
    private final Param<String> method;
    private final IntParam maxTokens;
    private final IntParam beamWidth;
    private final DoubleParam lengthPenalty;
    private final DoubleParam temperature;
    private final IntParam topK;
    private final DoubleParam topP;
    private final LongParam seed;
    private final BooleanParam stopAtEos;
    private final IntParam batchSize;

    public TextGenerator() {
        this(Identifiable.randomUID("textGenerator"));
    }

    public TextGenerator(String uid) {
        this.uid = uid;
        modelPath = new Param<>(this, "modelPath", "the model: a checkpoint or run directory of this project, a Hugging Face"
                + " GPT-2 checkpoint directory or a Hub id hf:org/name", TrainingEstimator::nonBlank);
        inputCol = new Param<>(this, "inputCol", "the prompt (or source) column", TrainingEstimator::nonBlank);
        outputCol = new Param<>(this, "outputCol", "the generated text's column to add", TrainingEstimator::nonBlank);
        method = new Param<>(this, "method", "greedy, beam or sample", ParamValidators.inArray(new String[] {"greedy", "beam", "sample"}));
        maxTokens = new IntParam(this, "maxTokens", "new tokens at most, at least 1", ParamValidators.gtEq(1));
        beamWidth = new IntParam(this, "beamWidth", "beam search's width, at least 1", ParamValidators.gtEq(1));
        lengthPenalty = new DoubleParam(this, "lengthPenalty", "beam search's GNMT alpha, 0 for none", ParamValidators.gtEq(0));
        temperature = new DoubleParam(this, "temperature", "sampling temperature, above 0", ParamValidators.gt(0));
        topK = new IntParam(this, "topK", "sample among the k likeliest tokens, 0 for all", ParamValidators.gtEq(0));
        topP = new DoubleParam(this, "topP", "sample from the smallest set of this mass, in (0, 1]",
                ParamValidators.inRange(0, 1, false, true));
        seed = new LongParam(this, "seed", "sampling seed");
        stopAtEos = new BooleanParam(this, "stopAtEos", "stop a row at its end-of-sequence token");
        batchSize = new IntParam(this, "batchSize", "prompts decoded together, at least 1", ParamValidators.gtEq(1));
        setDefault(inputCol, "text");
        setDefault(outputCol, "generated");
        setDefault(method, "greedy");
        setDefault(maxTokens, 100);
        setDefault(beamWidth, 4);
        setDefault(lengthPenalty, 0.6);
        setDefault(temperature, 1.0);
        setDefault(topK, 0);
        setDefault(topP, 1.0);
        setDefault(seed, 0L);
        setDefault(stopAtEos, true);
        setDefault(batchSize, 64);
    }

    public Param<String> modelPath() { return modelPath; }
    public Param<String> inputCol() { return inputCol; }
    public Param<String> outputCol() { return outputCol; }
    public Param<String> method() { return method; }
    public IntParam maxTokens() { return maxTokens; }
    public IntParam beamWidth() { return beamWidth; }
    public DoubleParam lengthPenalty() { return lengthPenalty; }
    public DoubleParam temperature() { return temperature; }
    public IntParam topK() { return topK; }
    public DoubleParam topP() { return topP; }
    public LongParam seed() { return seed; }
    public BooleanParam stopAtEos() { return stopAtEos; }
    public IntParam batchSize() { return batchSize; }

    public TextGenerator setModelPath(String value) { set(modelPath, value); return this; }
    public TextGenerator setInputCol(String value) { set(inputCol, value); return this; }
    public TextGenerator setOutputCol(String value) { set(outputCol, value); return this; }
    public TextGenerator setMethod(String value) { set(method, value); return this; }
    public TextGenerator setMaxTokens(int value) { set(maxTokens, value); return this; }
    public TextGenerator setBeamWidth(int value) { set(beamWidth, value); return this; }
    public TextGenerator setLengthPenalty(double value) { set(lengthPenalty, value); return this; }
    public TextGenerator setTemperature(double value) { set(temperature, value); return this; }
    public TextGenerator setTopK(int value) { set(topK, value); return this; }
    public TextGenerator setTopP(double value) { set(topP, value); return this; }
    public TextGenerator setSeed(long value) { set(seed, value); return this; }
    public TextGenerator setStopAtEos(boolean value) { set(stopAtEos, value); return this; }
    public TextGenerator setBatchSize(int value) { set(batchSize, value); return this; }

    @Override
    public String uid() { return uid; }

    @Override
    public StructType transformSchema(StructType schema) {
        if (!isDefined(modelPath)) {
            throw new IllegalArgumentException(uid + ": modelPath is not set");
        }
        TrainingEstimator.requireText(uid, schema, $(inputCol));
        if (Arrays.asList(schema.fieldNames()).contains($(outputCol))) {
            throw new IllegalArgumentException(uid + ": outputCol '" + $(outputCol) + "' is a column already");
        }
        return schema.add(new StructField($(outputCol), DataTypes.StringType, true, Metadata.empty()));
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        var sc = dataset.sparkSession().sparkContext();
        TransformerConfig model;
        try {
            model = TrainedModel.header($(modelPath), sc.hadoopConfiguration()).model();
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException(uid + ": modelPath " + $(modelPath) + ": " + e.getMessage(), e);
        }
        if (model.isClassifier() || model.kind() == Kind.ENCODER) {
            throw new IllegalArgumentException(uid + ": modelPath " + $(modelPath) + " is " + (model.isClassifier() ? "a classifier"
                    : "an encoder") + ": it labels or scores text, it does not generate it");
        }
        int threads = ExecutorSettings.threadsPerTask(sc.getConf(), Math.max(1, dataset.rdd().getNumPartitions()));
        Generator.Settings settings = new Generator.Settings(Generator.Method.valueOf($(method).toUpperCase()), (Integer) $(maxTokens),
                (Integer) $(beamWidth), (Double) $(lengthPenalty), (Double) $(temperature), (Integer) $(topK), (Double) $(topP),
                (Long) $(seed), (Boolean) $(stopAtEos));
        Generation task = new Generation($(modelPath), dataset.schema().fieldIndex($(inputCol)), settings, (Integer) $(batchSize),
                threads, new SerializableConf(sc.hadoopConfiguration()));
        return dataset.toDF().mapPartitions(task, Encoders.row(out));
    }

    @Override
    public TextGenerator copy(ParamMap extra) {
        return (TextGenerator) defaultCopy(extra);
    }

    public static MLReader<TextGenerator> read() {
        return new DefaultParamsReader<>();
    }

    public static TextGenerator load(String path) {
        return read().load(path);
    }

    /** One task's work: chunks of rows out in the order they came, each with its generated text. */
    private record Generation(String model, int column, Generator.Settings settings, int batchSize, int threads,
                              SerializableConf conf) implements MapPartitionsFunction<Row, Row> {
        @Override
        public Iterator<Row> call(Iterator<Row> rows) {
            NativeThreads.apply(threads);
            return new ChunkedRows(rows, this::generate);
        }

        private List<Row> generate(List<Row> chunk) {
            // the model's kind was checked on the driver (transform)
            return ExecutorModels.using("generate:" + model, () -> TrainedModel.load(model, conf.get()), ExecutorModels::copy,
                    m -> generate(m, chunk));
        }

        private List<Row> generate(TrainedModel m, List<Row> chunk) {
            Kind kind = m.model().config().kind();
            StepDecoder decoder = m.model() instanceof RecurrentModel lstm ? new RecurrentDecoder(lstm)
                    : new IncrementalDecoder((Transformer) m.model());
            Generator generator = new Generator(decoder, m.tokenizer().specials().bos(), m.tokenizer().specials().eos());
            List<Integer> at = new ArrayList<>(); // the chunk's rows that have a prompt (an empty one counts)
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < chunk.size(); i++) {
                if (!chunk.get(i).isNullAt(column)) {
                    int[] ids = m.tokenizer().encode(chunk.get(i).getString(column));
                    // sources as training read them: cut to max_len with eos kept
                    prompts.add(kind == Kind.ENCODER_DECODER ? Seq2SeqBatches.withEnd(ids, m.model().config().maxLen()) : ids);
                    at.add(i);
                }
            }
            Object[][] outputs = new Object[chunk.size()][];
            for (int from = 0; from < prompts.size(); from += batchSize) {
                List<int[]> results = generator.generate(prompts.subList(from, Math.min(prompts.size(), from + batchSize)), settings);
                for (int k = 0; k < results.size(); k++) {
                    outputs[at.get(from + k)] = new Object[] {m.tokenizer().decode(results.get(k))};
                }
            }
            return ChunkedRows.withOutputs(chunk, outputs, 1);
        }
    }
}
