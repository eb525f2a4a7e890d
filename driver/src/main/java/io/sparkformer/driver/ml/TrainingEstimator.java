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
import org.apache.spark.ml.Model;
import org.apache.spark.ml.param.DoubleParam;
import org.apache.spark.ml.param.IntParam;
import org.apache.spark.ml.param.LongParam;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.param.StringArrayParam;
import org.apache.spark.ml.util.DefaultParamsWritable;
import org.apache.spark.sql.Dataset;
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
 * What the estimators that train on a DataFrame share: the params of a training job and the fit
 * itself, which reads the DataFrame as a table (a temporary view of its columns) through the same
 * trainer, rounds and averaging as {@code sparkformer train}, so nothing is written but the run
 * directory (its token shards, checkpoints and metrics, as a {@code train} run's).
 *
 * <p>The job is a config file's ({@code configFile}; none: the defaults), with the keys a starting
 * checkpoint decides ({@code initFrom}: a Hugging Face directory or Hub id, or a checkpoint or run
 * of this project), then the stage's own keys, then the params that are set (workers, steps,
 * batch size, learning rate, seed, max length), then {@code overrides} ("train.warmup=36", as
 * {@code --set} takes them).
 *
 * @param <M> the fitted model
 * @param <S> the estimator itself, so its setters chain
 */
public abstract class TrainingEstimator<M extends Model<M>, S extends TrainingEstimator<M, S>> extends Estimator<M>
        implements DefaultParamsWritable {
    private static final long serialVersionUID = 1L;
    private static final AtomicLong FITS = new AtomicLong();

    private final String uid;
    private final Param<String> inputCol;
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

    protected TrainingEstimator(String uid) {
        this.uid = uid;
        inputCol = new Param<>(this, "inputCol", "the text column", TrainingEstimator::nonBlank);
        initFrom = new Param<>(this, "initFrom", "the starting weights: a Hugging Face checkpoint directory or Hub id"
                + " (hf:org/name), or a checkpoint or run directory of this project", TrainingEstimator::nonBlank);
        configFile = new Param<>(this, "configFile", "a job config (YAML; a local path or any Hadoop FS URI)", TrainingEstimator::nonBlank);
        overrides = new StringArrayParam(this, "overrides", "job config overrides, key=value as --set takes them");
        runDir = new Param<>(this, "runDir", "the run directory (any Hadoop FS path the executors can reach; must hold no run);"
                + " default in local mode: a new directory under java.io.tmpdir", TrainingEstimator::nonBlank);
        workers = new IntParam(this, "workers", "data-parallel replicas (train.workers), at least 1", ParamValidators.gtEq(1));
        steps = new LongParam(this, "steps", "optimizer steps per worker (train.steps), at least 1", ParamValidators.gtEq(1));
        batchSize = new IntParam(this, "batchSize", "rows per step and worker (train.batch_size), at least 1", ParamValidators.gtEq(1));
        maxLength = new IntParam(this, "maxLength", "the longest row in tokens, specials included (train.block_size), at least 3",
                ParamValidators.gtEq(3));
        learningRate = new DoubleParam(this, "learningRate", "peak learning rate (train.lr), above 0", ParamValidators.gt(0));
        seed = new LongParam(this, "seed", "weights of a fresh head, batch order, dropout (seed)");
        setDefault(inputCol, "text");
        setDefault(overrides, new String[0]);
    }

    public Param<String> inputCol() { return inputCol; }
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

    @SuppressWarnings("unchecked")
    protected final S self() { return (S) this; }

    public S setInputCol(String value) { set(inputCol, value); return self(); }
    public S setInitFrom(String value) { set(initFrom, value); return self(); }
    public S setConfigFile(String value) { set(configFile, value); return self(); }
    public S setOverrides(String... value) { set(overrides, value); return self(); }
    public S setRunDir(String value) { set(runDir, value); return self(); }
    public S setWorkers(int value) { set(workers, value); return self(); }
    public S setSteps(long value) { set(steps, value); return self(); }
    public S setBatchSize(int value) { set(batchSize, value); return self(); }
    public S setMaxLength(int value) { set(maxLength, value); return self(); }
    public S setLearningRate(double value) { set(learningRate, value); return self(); }
    public S setSeed(long value) { set(seed, value); return self(); }

    @Override
    public String uid() { return uid; }

    /**
     * Trains on {@code columns} of the dataset (checked by the caller) with the job's keys and
     * {@code stageKeys} (the task and its columns), and returns the finished run's header.
     */
    protected final TrainedModel.Header train(Dataset<?> dataset, List<String> columns, List<String> stageKeys) {
        if (dataset.isEmpty()) {
            throw new IllegalArgumentException(uid + ": the training DataFrame has no rows");
        }
        Nd4jRuntime.init();
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(dataset.sparkSession().sparkContext());
        Configuration hadoop = sc.hadoopConfiguration();
        String view = "sparkformer_fit_" + uid.replaceAll("[^A-Za-z0-9_]", "_") + "_" + FITS.incrementAndGet();
        dataset.select(columns.get(0), columns.subList(1, columns.size()).toArray(String[]::new)).createOrReplaceTempView(view);
        try {
            String init = isDefined(initFrom) ? startingWeights($(initFrom), hadoop) : null;
            PretrainedStart pretrained = init != null ? PretrainedStart.openIfHuggingFace(init, hadoop) : null;
            if (pretrained != null) {
                init = pretrained.checkpoint().location(); // a Hub id's snapshot in the local cache
            }
            List<String> settings = settings(view, init, stageKeys, hadoop);
            JobConfig cfg = config(pretrained != null ? pretrained.withTokenizer(settings) : settings, hadoop,
                    pretrained != null ? pretrained.preset() : JobConfig.Preset.NONE);
            if (pretrained != null) {
                String tokenizer = cfg.data().tokenizer();
                pretrained.requireTokenizerFits(Tokenizer.fromJson(HadoopFiles.read(tokenizer, hadoop), tokenizer), tokenizer);
            }
            io.sparkformer.driver.Cli.requireProjectSettings(sc.getConf());
            String run = runDirectory(sc);
            int taskThreads = ExecutorSettings.threadsPerTask(sc.getConf(), cfg.train().workers());
            try (RunLock lock = RunLock.acquire(run, hadoop)) {
                RunDirectory dir = new RunDirectory(run, hadoop);
                dir.requireNoRun();
                CorpusBuilder.Corpus corpus = new CorpusBuilder(sc, cfg.train().workers()).build(cfg.corpusSpec(dir.file("shards")));
                new Trainer(cfg, dir, Trainer.sparkSyncs(sc, taskThreads)).run(corpus, false, init, (round, rounds, train, val) -> { });
            }
            return TrainedModel.header(run, hadoop);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(uid + ": fit failed: " + e.getMessage(), e);
        } finally {
            dataset.sparkSession().catalog().dropTempView(view);
        }
    }

    /** True when neither a starting checkpoint nor a config file decides the model: the defaults do. */
    protected final boolean fromDefaults() {
        return !isDefined(initFrom) && !isDefined(configFile);
    }

    /** The job's keys from this stage: the table, the stage's keys, the params that are set, then the overrides. */
    private List<String> settings(String view, String init, List<String> stageKeys, Configuration hadoop) throws IOException {
        List<String> s = new ArrayList<>();
        if (init != null && !PretrainedStart.isHuggingFace(init, hadoop) && HadoopFiles.exists(init + "/" + Tokenizer.FILE_NAME, hadoop)) {
            s.add("data.tokenizer=" + init + "/" + Tokenizer.FILE_NAME); // the weights' token ids mean what it says
        }
        s.add("data.format=table");
        s.add("data.inputs=[" + view + "]");
        s.add("data.validation=[]");
        s.addAll(stageKeys);
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
        return PretrainedStart.isHuggingFace(absolute, hadoop) ? absolute : TrainedModel.resolve(absolute, hadoop, "initFrom");
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

    /** An error naming the column (and those there are) unless it is a column of strings. */
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

    static boolean nonBlank(String s) {
        return s != null && !s.isBlank();
    }
}
