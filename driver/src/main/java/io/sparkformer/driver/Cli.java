package io.sparkformer.driver;

import java.io.FileNotFoundException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

import io.sparkformer.driver.cluster.ExecutorSettings;
import io.sparkformer.driver.cluster.OutOfMemory;
import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.CorpusBuilder;
import io.sparkformer.driver.corpus.CorpusException;
import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.models.Promotion;
import io.sparkformer.driver.models.TrainedModel;
import io.sparkformer.driver.training.RunLock;
import io.sparkformer.driver.training.Trainer;
import io.sparkformer.driver.training.TrainingDivergedException;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.io.SafeTensorsException;
import io.sparkformer.model.text.Tokenizer;
import io.sparkformer.model.text.TokenizerException;
import io.sparkformer.worker.shards.ShardException;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The command line, and the class spark-submit runs. Exit codes: 0 done, 2 bad config or input
 * (the message names the key or file), 3 training diverged (the last good checkpoint stays),
 * 4 out of memory (the message names the setting to raise), 1 anything else.
 */
@Command(name = "sparkformer", mixinStandardHelpOptions = true, version = "sparkformer 0.1.0",
        description = "Train transformers on Apache Spark.", subcommands = {Cli.Train.class, PrepareCommand.class, Cli.Promote.class, GenerateCommand.class, ClassifyCommand.class, EvaluateCommand.class, AttentionCommand.class})
public final class Cli implements Callable<Integer> {
    public static final int OK = 0;
    public static final int FAILED = 1;
    public static final int BAD_INPUT = 2;
    public static final int DIVERGED = 3;
    public static final int OUT_OF_MEMORY = 4;
    /** Another live job holds the run directory's lock. */
    public static final int RUN_LOCKED = 5;

    @Override
    public Integer call() {
        CommandLine.usage(this, System.out);
        return BAD_INPUT;
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String... args) {
        // An OutOfMemoryError in one of Spark's own driver threads (task-result-getter, while it
        // deserializes a round's results) kills that thread and leaves the job waiting forever.
        Thread.setDefaultUncaughtExceptionHandler((thread, e) -> {
            if (e instanceof OutOfMemoryError) {
                System.err.println("sparkformer: " + OutOfMemory.describe("thread " + thread.getName(), e));
                System.exit(OUT_OF_MEMORY);
            }
            System.err.print("Exception in thread \"" + thread.getName() + "\" ");
            e.printStackTrace();
        });
        CommandLine cl = new CommandLine(new Cli()).setCaseInsensitiveEnumValuesAllowed(true);
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            int code = exitCode(e);
            String message = code == FAILED ? e.toString() : e.getMessage();
            if (code == OUT_OF_MEMORY && !String.valueOf(message).contains("out of memory in")) {
                message = OutOfMemory.describe("the job", rootCause(e));
            }
            System.err.println("sparkformer: " + message);
            if (code == FAILED) {
                e.printStackTrace();
            }
            return code;
        });
        cl.setParameterExceptionHandler((e, a) -> {
            System.err.println("sparkformer: " + e.getMessage());
            e.getCommandLine().usage(System.err);
            return BAD_INPUT;
        });
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            System.err.println("sparkformer: " + OutOfMemory.describe("the driver", e));
            return OUT_OF_MEMORY;
        }
    }

    private static Throwable rootCause(Throwable e) {
        Throwable c = e;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c;
    }

    /** Input errors a Spark task raised reach the driver as text inside a SparkException. */
    private static final List<Class<?>> INPUT_ERRORS = List.of(ConfigException.class, CorpusException.class,
            SafeTensorsException.class, TokenizerException.class, ShardException.class, FileNotFoundException.class);

    public static int exitCode(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof TrainingDivergedException) {
                return DIVERGED;
            }
            if (c instanceof io.sparkformer.driver.training.RunLock.HeldException) {
                return RUN_LOCKED;
            }
            String text = String.valueOf(c.getMessage());
            if (c instanceof OutOfMemory || c instanceof OutOfMemoryError || text.contains(OutOfMemory.class.getName() + ": ")
                    || text.contains("bigger than spark.driver.maxResultSize")) {
                return OUT_OF_MEMORY;
            }
            for (Class<?> input : INPUT_ERRORS) {
                if (input.isInstance(c) || (c.getMessage() != null && c.getMessage().contains(input.getName() + ": "))) {
                    return BAD_INPUT;
                }
            }
        }
        return FAILED;
    }

    /**
     * The Spark settings of a command: --master if given, else spark-submit's, else local mode with
     * {@code localThreads} threads (no web UI, bound to loopback).
     */
    static SparkConf sparkConf(String appName, String master, int localThreads) {
        SparkConf conf = new SparkConf().setAppName(appName);
        if (master != null) {
            conf.setMaster(master);
        } else if (!conf.contains("spark.master")) {
            conf.setMaster("local[" + localThreads + "]");
            conf.set("spark.ui.enabled", "false");
            conf.set("spark.driver.host", "127.0.0.1");
        }
        return conf;
    }

    /** The job config a command names (default conf/default.yaml), with --set overrides, paths resolved. */
    static JobConfig loadConfig(String config, List<String> settings, Configuration hadoop) throws java.io.IOException {
        String configText;
        String configName;
        if (config != null && config.contains("://")) {
            // on YARN or Kubernetes in cluster mode the driver's disk is not the user's
            configName = config;
            try {
                configText = new String(HadoopFiles.read(config, hadoop), StandardCharsets.UTF_8);
            } catch (java.io.IOException e) {
                throw new ConfigException("--config", config + ": " + e.getMessage());
            }
        } else {
            Path configFile = config != null ? Path.of(config) : home().resolve("conf/default.yaml");
            if (!configFile.isAbsolute() && !configFile.toFile().exists()) {
                configFile = home().resolve(configFile);
            }
            configName = configFile.toString();
            configText = JobConfig.read(configFile);
        }
        return JobConfig.parse(configText, configName, settings).resolvePaths(home());
    }

    static Path home() {
        return Path.of(System.getProperty("sparkformer.home", ".")).toAbsolutePath().normalize();
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Train a model from a job config (default conf/default.yaml: the embedded grammar corpus).")
    static final class Train implements Callable<Integer> {
        @Option(names = "--config", description = "job config (YAML, a local path or any Hadoop FS URI); default conf/default.yaml")
        String config;

        @Option(names = "--output", description = "run directory, any Hadoop FS path; default runs/<name>-<time>")
        String output;

        @Option(names = "--set", description = "override a config key, e.g. --set train.lr=2e-3 (repeatable)")
        List<String> overrides = new ArrayList<>();

        @Option(names = "--resume", description = "continue the run in --output from its latest checkpoint")
        boolean resume;

        @Option(names = "--init-from", description = "checkpoint, run directory (its latest) or a run's best pointer whose weights (and tokenizer) start the run")
        String initFrom;

        @Option(names = "--warm-start", paramLabel = "MODELS_DIR",
                description = "start from the model MODELS_DIR/current points to (see promote); from scratch if none yet")
        String warmStart;

        @Option(names = "--master", description = "Spark master; default: spark-submit's, else local[workers]")
        String master;

        @Option(names = "--no-progress", description = "no progress bar; one line per validation instead")
        boolean noProgress;

        @Override
        public Integer call() throws Exception {
            Nd4jRuntime.init();
            if (resume && output == null) {
                throw new ConfigException("--resume", "needs --output: the run directory to continue");
            }
            if (initFrom != null && warmStart != null) {
                throw new ConfigException("--warm-start", "give --init-from or --warm-start, not both");
            }
            Configuration hadoop = new Configuration();
            if (resume && HadoopFiles.exists(absolute(output) + "/_SUCCESS", hadoop)) {
                // idempotent reruns: a finished run is left as it is
                System.out.println("sparkformer: " + absolute(output) + " already finished (_SUCCESS); nothing to do");
                System.out.println(new String(HadoopFiles.read(absolute(output) + "/summary.json", hadoop), StandardCharsets.UTF_8));
                return OK;
            }
            String init = initFrom == null ? null : TrainedModel.resolve(absolute(initFrom), hadoop, "--init-from");
            if (warmStart != null) {
                Promotion.Current current = new Promotion(hadoop).current(absolute(warmStart));
                if (current == null) {
                    System.out.println("sparkformer: no model promoted in " + absolute(warmStart) + " yet; training from scratch");
                } else {
                    init = current.checkpoint();
                    System.out.printf("sparkformer: warm start from %s (validation loss %.4f)%n", init, current.valLoss());
                }
            }
            List<String> settings = new ArrayList<>(overrides);
            if (init != null && overrides.stream().noneMatch(o -> o.startsWith("data.tokenizer="))) {
                // the weights' token ids mean what the checkpoint's tokenizer says; a resumed warm
                // start keeps the tokenizer its run began with, even if the pointer moved since
                String own = resume ? absolute(output) + "/" + Tokenizer.FILE_NAME : null;
                String tokenizer = own != null && HadoopFiles.exists(own, hadoop) ? own : init + "/" + Tokenizer.FILE_NAME;
                if (HadoopFiles.exists(tokenizer, hadoop)) {
                    settings.add(0, "data.tokenizer=" + tokenizer);
                }
            }
            JobConfig cfg = loadConfig(config, settings, hadoop);
            String runDir = output != null ? absolute(output)
                    : home().resolve("runs").resolve(cfg.name() + "-"
                            + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))).toString();
            // inside the run directory, on its file system: executors on other machines can read it,
            // and no other run (another Airflow date, the same config elsewhere) shares or rebuilds it
            String shards = cfg.data().shards() != null ? cfg.data().shards() : runDir + "/shards";
            SparkConf sparkConf = sparkConf("sparkformer-" + cfg.name(), master, cfg.train().workers());
            int taskThreads = ExecutorSettings.threadsPerTask(sparkConf, cfg.train().workers());
            List<String> envDefaults = ExecutorSettings.applyDefaults(sparkConf, taskThreads);
            envDefaults.addAll(ExecutorSettings.applyMemoryDefaults(sparkConf, cfg.parameterEstimate()));
            logNativeSettings(sparkConf, envDefaults, taskThreads);
            try (JavaSparkContext sc = new JavaSparkContext(sparkConf);
                 RunLock lock = RunLock.acquire(runDir, sc.hadoopConfiguration())) {
                sc.setLogLevel("WARN");
                System.out.println("sparkformer: run directory " + runDir);
                if (!resume) {
                    Trainer.requireNoRun(runDir, sc.hadoopConfiguration()); // before the shards inside it are touched
                }
                CorpusBuilder.Corpus corpus = new CorpusBuilder(sc, cfg.train().workers()).build(cfg.corpusSpec(shards));
                System.out.println("sparkformer: corpus " + shards + (corpus.reused() ? " (reused)" : "") + ": "
                        + corpus.manifest().split("train").tokens() + " train tokens, "
                        + corpus.manifest().split("validation").tokens() + " validation tokens, vocabulary "
                        + corpus.tokenizer().vocabSize());
                Trainer.Summary summary;
                boolean bar = !noProgress && System.console() != null;
                try (ProgressBar pb = bar ? new ProgressBarBuilder().setTaskName("train").setInitialMax(cfg.rounds())
                        .setStyle(ProgressBarStyle.ASCII).setUnit(" rounds", 1).build() : null) {
                    summary = new Trainer(sc, cfg, runDir, taskThreads).run(corpus, resume, init,
                            (round, rounds, train, val) -> {
                                if (pb != null) {
                                    pb.stepTo(round);
                                    pb.setExtraMessage(String.format("train %.4f%s", train, val != null ? String.format(" val %.4f", val) : ""));
                                } else if (val != null) {
                                    System.out.printf("round %d/%d: train loss %.4f, validation loss %.4f%n", round, rounds, train, val);
                                }
                            });
                }
                Map<String, Object> s = summary.values();
                System.out.printf("sparkformer: done. best validation loss %s, %s tokens in %.0f s (%.0f tokens/s)%n",
                        s.get("best_val_loss"), s.get("tokens"), (Double) s.get("wall_seconds"), (Double) s.get("tokens_per_s"));
                System.out.println("sparkformer: run directory " + runDir + " (summary.json, metrics.jsonl, loss.png, checkpoints/)");
            }
            return OK;
        }

        static String absolute(String path) {
            return io.sparkformer.driver.corpus.HadoopFiles.resolve(path, Path.of("").toAbsolutePath());
        }

        /** Logs the native memory and thread settings, so a user sees what ND4J got. */
        private static void logNativeSettings(SparkConf conf, List<String> envDefaults, int taskThreads) {
            System.out.printf("sparkformer: driver ND4J linux-x86_64%s, BLAS %s, %d threads per training task, OMP_NUM_THREADS=%s,"
                            + " OMP_WAIT_POLICY=%s, javacpp.maxbytes=%s, javacpp.maxphysicalbytes=%s%n",
                    System.getProperty(Nd4jRuntime.EXTENSION_PROPERTY, "?"), Nd4jRuntime.blasDescription(), taskThreads,
                    System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"), System.getenv().getOrDefault("OMP_WAIT_POLICY", "unset"),
                    System.getProperty("org.bytedeco.javacpp.maxbytes", "default (= -Xmx)"),
                    System.getProperty("org.bytedeco.javacpp.maxphysicalbytes", "default (2 x -Xmx)"));
            System.out.println("sparkformer: " + ExecutorSettings.describeConf(conf));
            if (!envDefaults.isEmpty()) {
                System.out.println("sparkformer: executor defaults " + String.join(" ", envDefaults));
            }
        }
    }

    @Command(name = "promote", mixinStandardHelpOptions = true,
            description = {"Move MODELS_DIR/current to a finished run's final checkpoint if its validation loss is lower",
                    "than the current model's (on the same validation set). Writes the decision and its reason to",
                    "RUN_DIR/promotion.json and MODELS_DIR/promotions.jsonl. Rerunning it is harmless."})
    static final class Promote implements Callable<Integer> {
        @Option(names = "--run", required = true, description = "the finished run directory (any Hadoop FS path)")
        String run;

        @Option(names = "--models", required = true, description = "the models directory holding the current pointer")
        String models;

        @Override
        public Integer call() throws Exception {
            Nd4jRuntime.init();
            Promotion.Decision d = new Promotion(new Configuration()).promote(Train.absolute(run), Train.absolute(models));
            System.out.println("sparkformer: " + d.outcome().name().toLowerCase().replace('_', ' ') + ": " + d.reason());
            System.out.println("sparkformer: decision written to " + Train.absolute(run) + "/" + Promotion.DECISION_FILE);
            return OK;
        }
    }
}
