package io.sparkformer.driver.ml;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.Estimator;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.param.StringArrayParam;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import io.sparkformer.driver.Cli;
import io.sparkformer.driver.cluster.ExecutorSettings;
import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.CorpusBuilder;
import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.models.PretrainedStart;
import io.sparkformer.driver.models.TrainedModel;
import io.sparkformer.driver.training.RunDirectory;
import io.sparkformer.driver.training.RunLock;
import io.sparkformer.driver.training.Trainer;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.text.Tokenizer;

/**
 * A Spark ML Estimator: fine-tunes (or trains) a text classifier on a DataFrame's text and label
 * columns with the same trainer, rounds and averaging as {@code sparkformer train}, and returns a
 * {@link TextClassificationModel}. The DataFrame is read as a table (a temporary view of it), so
 * nothing is written but the run directory: its token shards, checkpoints and metrics, as a
 * {@code train} run's.
 *
 * <p>The job is a config file's ({@code configFile}; none: the defaults), with the keys a starting
 * checkpoint decides ({@code initFrom}: a Hugging Face directory or Hub id, or a checkpoint or run
 * of this project), then the params that are set (workers, steps, batch size, learning rate, seed,
 * max length), then {@code overrides} ("train.warmup=36", as {@code --set} takes them). Labels may
 * be strings, integers or booleans; the model predicts values of the same type.
 */
public final class TextClassifier extends Estimator<TextClassificationModel> implements DefaultParamsWritable {
    private static final long serialVersionUID = 1L;
    private static final AtomicLong FITS = new AtomicLong();
    private static final List<DataType> LABEL_TYPES = List.of(DataTypes.StringType, DataTypes.IntegerType, DataTypes.LongType,
            DataTypes.ShortType, DataTypes.ByteType, DataTypes.BooleanType, DataTypes.DoubleType, DataTypes.FloatType);

    private final String uid;
    private final Param<String> inputCol;
    private final Param<String> labelCol;
    private final Param<String> predictionCol;
    private final Param<String> probabilityCol;
    private final Param<String> initFrom;
    private final Param<String> configFile;
    private final StringArrayParam overrides;
    private final Param<String> runDir;
    private final IntParam workers;
    private final LongParam steps;
    private final IntParam batchSize;
    private final IntParam maxLength;
    private final DoubleParam learningRate;
    private final LongParam seed;

    public TextClassifier() {
        this(Identifiable.randomUID("textClassifier"));
    }

    public TextClassifier(String uid) {
        this.uid = uid;
        inputCol = new Param<>(this, "inputCol", "the text column", TextClassifier::nonBlank);
        labelCol = new Param<>(this, "labelCol", "the label column: strings, integers or booleans", TextClassifier::nonBlank);
        predictionCol = new Param<>(this, "predictionCol", "the fitted model's likeliest-label column", TextClassifier::nonBlank);
        probabilityCol = new Param<>(this, "probabilityCol", "the fitted model's probability vector column", TextClassifier::nonBlank);
        initFrom = new Param<>(this, "initFrom", "the starting weights: a Hugging Face checkpoint directory or Hub id"
                + " (hf:org/name), or a checkpoint or run directory of this project", TextClassifier::nonBlank);
        configFile = new Param<>(this, "configFile", "a job config (YAML; a local path or any Hadoop FS URI)", TextClassifier::nonBlank);
        overrides = new StringArrayParam(this, "overrides", "job config overrides, key=value as --set takes them");
        runDir = new Param<>(this, "runDir", "the run directory (any Hadoop FS path the executors can reach; must hold no run);"
                + " default in local mode: a new directory under java.io.tmpdir", TextClassifier::nonBlank);
        workers = new IntParam(this, "workers", "data-parallel replicas (train.workers), at least 1", ParamValidators.gtEq(1));
        steps = new LongParam(this, "steps", "optimizer steps per worker (train.steps), at least 1", ParamValidators.gtEq(1));
        batchSize = new IntParam(this, "batchSize", "rows per step and worker (train.batch_size), at least 1", ParamValidators.gtEq(1));
        maxLength = new IntParam(this, "maxLength", "the longest row in tokens, specials included (train.block_size), at least 3",
                ParamValidators.gtEq(3));
        learningRate = new DoubleParam(this, "learningRate", "peak learning rate (train.lr), above 0", ParamValidators.gt(0));
        seed = new LongParam(this, "seed", "weights of a fresh head, batch order, dropout (seed)");
        setDefault(inputCol, "text");
        setDefault(labelCol, "label");
        setDefault(predictionCol, "prediction");
        setDefault(probabilityCol, "probability");
        setDefault(overrides, new String[0]);
    }

    public Param<String> inputCol() { return inputCol; }
    public Param<String> labelCol() { return labelCol; }
    public Param<String> predictionCol() { return predictionCol; }
    public Param<String> probabilityCol() { return probabilityCol; }
    public Param<String> initFrom() { return initFrom; }
    public Param<String> configFile() { return configFile; }
    public StringArrayParam overrides() { return overrides; }
    public Param<String> runDir() { return runDir; }
    public IntParam workers() { return workers; }
    public LongParam steps() { return steps; }
    public IntParam batchSize() { return batchSize; }
    public IntParam maxLength() { return maxLength; }
    public DoubleParam learningRate() { return learningRate; }
    public LongParam seed() { return seed; }

    public TextClassifier setInputCol(String value) { set(inputCol, value); return this; }
    public TextClassifier setLabelCol(String value) { set(labelCol, value); return this; }
    public TextClassifier setPredictionCol(String value) { set(predictionCol, value); return this; }
    public TextClassifier setProbabilityCol(String value) { set(probabilityCol, value); return this; }
    public TextClassifier setInitFrom(String value) { set(initFrom, value); return this; }
    public TextClassifier setConfigFile(String value) { set(configFile, value); return this; }
    public TextClassifier setOverrides(String... value) { set(overrides, value); return this; }
    public TextClassifier setRunDir(String value) { set(runDir, value); return this; }
    public TextClassifier setWorkers(int value) { set(workers, value); return this; }
    public TextClassifier setSteps(long value) { set(steps, value); return this; }
    public TextClassifier setBatchSize(int value) { set(batchSize, value); return this; }
    public TextClassifier setMaxLength(int value) { set(maxLength, value); return this; }
    public TextClassifier setLearningRate(double value) { set(learningRate, value); return this; }
    public TextClassifier setSeed(long value) { set(seed, value); return this; }

    @Override
    public String uid() { return uid; }

    @Override
    public StructType transformSchema(StructType schema) {
        requireText(uid, schema, $(inputCol));
        labelType(schema);
        return schema;
    }

    @Override
    public TextClassificationModel fit(Dataset<?> dataset) {
        StructType schema = dataset.schema();
        transformSchema(schema);
        DataType labelType = labelType(schema);
        if (dataset.isEmpty()) {
            throw new IllegalArgumentException(uid + ": the training DataFrame has no rows");
        }
        Nd4jRuntime.init();
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(dataset.sparkSession().sparkContext());
        Configuration hadoop = sc.hadoopConfiguration();
        String view = "sparkformer_fit_" + uid.replaceAll("[^A-Za-z0-9_]", "_") + "_" + FITS.incrementAndGet();
        dataset.select($(inputCol), $(labelCol)).createOrReplaceTempView(view);
        try {
            String init = isDefined(initFrom) ? startingWeights($(initFrom), hadoop) : null;
            PretrainedStart pretrained = init != null ? PretrainedStart.openIfHuggingFace(init) : null;
            if (pretrained != null) {
                init = pretrained.checkpoint().directory().toString(); // a Hub id's snapshot in the local cache
            }
            List<String> settings = settings(view, init, hadoop);
            JobConfig cfg = config(pretrained != null ? pretrained.withTokenizer(settings) : settings, hadoop,
                    pretrained != null ? pretrained.preset() : JobConfig.Preset.NONE);
            if (pretrained != null) {
                String tokenizer = cfg.data().tokenizer();
                pretrained.requireTokenizerFits(Tokenizer.fromJson(HadoopFiles.read(tokenizer, hadoop), tokenizer), tokenizer);
            }
            String run = runDirectory(sc);
            int taskThreads = ExecutorSettings.threadsPerTask(sc.getConf(), cfg.train().workers());
            try (RunLock lock = RunLock.acquire(run, hadoop)) {
                RunDirectory dir = new RunDirectory(run, hadoop);
                dir.requireNoRun();
                CorpusBuilder.Corpus corpus = new CorpusBuilder(sc, cfg.train().workers()).build(cfg.corpusSpec(dir.file("shards")));
                new Trainer(cfg, dir, Trainer.sparkSyncs(sc, taskThreads)).run(corpus, false, init, (round, rounds, train, val) -> { });
            }
            TrainedModel.Header trained = TrainedModel.header(run, hadoop);
            TextClassificationModel model = new TextClassificationModel(uid, trained.checkpoint(), trained.labels(), labelType);
            model.set(model.inputCol(), $(inputCol)).set(model.predictionCol(), $(predictionCol))
                    .set(model.probabilityCol(), $(probabilityCol));
            return model.setParent(this);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(uid + ": fit failed: " + e.getMessage(), e);
        } finally {
            dataset.sparkSession().catalog().dropTempView(view);
        }
    }

    /** The job's keys from this stage: the table and its columns, the params that are set, then the overrides. */
    private List<String> settings(String view, String init, Configuration hadoop) throws IOException {
        List<String> s = new ArrayList<>();
        if (init != null && !PretrainedStart.isHuggingFace(init) && HadoopFiles.exists(init + "/" + Tokenizer.FILE_NAME, hadoop)) {
            s.add("data.tokenizer=" + init + "/" + Tokenizer.FILE_NAME); // the weights' token ids mean what it says
        }
        s.add("data.task=classification");
        s.add("data.format=table");
        s.add("data.inputs=[" + view + "]");
        s.add("data.validation=[]");
        s.add("data.column=" + $(inputCol));
        s.add("data.target_column=" + $(labelCol));
        List<Param<?>> params = List.of(workers, steps, batchSize, maxLength, learningRate, seed);
        List<String> keys = List.of("train.workers", "train.steps", "train.batch_size", "train.block_size", "train.lr", "seed");
        for (int i = 0; i < params.size(); i++) {
            if (isDefined(params.get(i))) {
                s.add(keys.get(i) + "=" + $(params.get(i)));
            }
        }
        s.addAll(Arrays.asList($(overrides)));
        return s;
    }

    /** The config file's job with {@code settings}, or the defaults' when no file is given. */
    private JobConfig config(List<String> settings, Configuration hadoop, JobConfig.Preset preset) throws IOException {
        if (isDefined(configFile)) {
            return Cli.loadConfig($(configFile), settings, hadoop, preset);
        }
        return JobConfig.parse("", uid + " (defaults)", settings, preset).resolvePaths(Cli.home());
    }

    private static String startingWeights(String path, Configuration hadoop) throws IOException {
        String absolute = path.startsWith("hf:") ? path : HadoopFiles.absolute(path);
        return PretrainedStart.isHuggingFace(absolute) ? absolute : TrainedModel.resolve(absolute, hadoop, "initFrom");
    }

    private String runDirectory(JavaSparkContext sc) throws IOException {
        if (isDefined(runDir)) {
            return HadoopFiles.absolute($(runDir));
        }
        if (!sc.master().startsWith("local")) {
            throw new IllegalArgumentException(uid + ": runDir is not set: on a cluster the run directory must be a path"
                    + " every executor reads (HDFS, S3A, ...)");
        }
        return Files.createTempDirectory("sparkformer-fit-").resolve("run").toString();
    }

    /** The label column's type; an error naming the column and its type when it is none a classifier takes. */
    private DataType labelType(StructType schema) {
        String label = $(labelCol);
        if (!Arrays.asList(schema.fieldNames()).contains(label)) {
            throw new IllegalArgumentException(uid + ": labelCol '" + label + "' is not a column; the columns are "
                    + Arrays.toString(schema.fieldNames()));
        }
        DataType type = schema.apply(label).dataType();
        if (!LABEL_TYPES.contains(type)) {
            throw new IllegalArgumentException(uid + ": labelCol '" + label + "' holds " + type.simpleString()
                    + "; labels are strings, integers, booleans or doubles");
        }
        return type;
    }

    static void requireText(String uid, StructType schema, String column) {
        if (!Arrays.asList(schema.fieldNames()).contains(column)) {
            throw new IllegalArgumentException(uid + ": inputCol '" + column + "' is not a column; the columns are "
                    + Arrays.toString(schema.fieldNames()));
        }
        if (!schema.apply(column).dataType().equals(DataTypes.StringType)) {
            throw new IllegalArgumentException(uid + ": inputCol '" + column + "' holds "
                    + schema.apply(column).dataType().simpleString() + ", not strings");
        }
    }

    /** Each label name as a value of the label column's type (how the corpus wrote it: its text). */
    static Object[] labelValues(List<String> labels, DataType type) {
        Object[] out = new Object[labels.size()];
        for (int i = 0; i < out.length; i++) {
            String l = labels.get(i);
            try {
                out[i] = type.equals(DataTypes.StringType) ? l
                        : type.equals(DataTypes.IntegerType) ? (Object) Integer.valueOf(l)
                        : type.equals(DataTypes.LongType) ? (Object) Long.valueOf(l)
                        : type.equals(DataTypes.ShortType) ? (Object) Short.valueOf(l)
                        : type.equals(DataTypes.ByteType) ? (Object) Byte.valueOf(l)
                        : type.equals(DataTypes.BooleanType) && (l.equals("true") || l.equals("false")) ? (Object) Boolean.valueOf(l)
                        // Spark ML's own labels (StringIndexer's 0.0, 1.0, ...): their text is Spark's cast, which parses back exactly
                        : type.equals(DataTypes.DoubleType) ? (Object) Double.valueOf(l)
                        : type.equals(DataTypes.FloatType) ? (Object) Float.valueOf(l)
                        : null;
            } catch (NumberFormatException e) {
                out[i] = null;
            }
            if (out[i] == null) {
                throw new IllegalArgumentException("label '" + l + "' is not a value of the label column's type " + type.simpleString());
            }
        }
        return out;
    }

    static boolean nonBlank(String s) {
        return s != null && !s.isBlank();
    }

    @Override
    public TextClassifier copy(ParamMap extra) {
        return (TextClassifier) defaultCopy(extra);
    }

    public static MLReader<TextClassifier> read() {
        return new DefaultParamsReader<>();
    }

    public static TextClassifier load(String path) {
        return read().load(path);
    }
}
