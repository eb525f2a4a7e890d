package io.sparkformer.driver;

import java.io.FileNotFoundException;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.CorpusBuilder;
import io.sparkformer.driver.corpus.CorpusException;
import io.sparkformer.driver.training.Trainer;
import io.sparkformer.driver.training.TrainingDivergedException;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.io.SafeTensorsException;
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
 * 1 anything else.
 */
@Command(name = "sparkformer", mixinStandardHelpOptions = true, version = "sparkformer 0.1.0",
        description = "Train transformers on Apache Spark.", subcommands = {Cli.Train.class})
public final class Cli implements Callable<Integer> {
    public static final int OK = 0;
    public static final int FAILED = 1;
    public static final int BAD_INPUT = 2;
    public static final int DIVERGED = 3;

    @Override
    public Integer call() {
        CommandLine.usage(this, System.out);
        return BAD_INPUT;
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Cli());
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            int code = exitCode(e);
            System.err.println("sparkformer: " + (code == FAILED ? e.toString() : e.getMessage()));
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
        return cl.execute(args);
    }

    /** Input errors a Spark task raised reach the driver as text inside a SparkException. */
    private static final List<Class<?>> INPUT_ERRORS = List.of(ConfigException.class, CorpusException.class,
            SafeTensorsException.class, TokenizerException.class, ShardException.class, FileNotFoundException.class);

    static int exitCode(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof TrainingDivergedException) {
                return DIVERGED;
            }
            for (Class<?> input : INPUT_ERRORS) {
                if (input.isInstance(c) || (c.getMessage() != null && c.getMessage().contains(input.getName() + ": "))) {
                    return BAD_INPUT;
                }
            }
        }
        return FAILED;
    }

    static Path home() {
        return Path.of(System.getProperty("sparkformer.home", ".")).toAbsolutePath().normalize();
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Train a model from a job config (default conf/default.yaml: the embedded grammar corpus).")
    static final class Train implements Callable<Integer> {
        @Option(names = "--config", description = "job config (YAML); default conf/default.yaml")
        Path config;

        @Option(names = "--output", description = "run directory, any Hadoop FS path; default runs/<name>-<time>")
        String output;

        @Option(names = "--set", description = "override a config key, e.g. --set train.lr=2e-3 (repeatable)")
        List<String> overrides = new ArrayList<>();

        @Option(names = "--resume", description = "continue the run in --output from its latest checkpoint")
        boolean resume;

        @Option(names = "--init-from", description = "checkpoint directory whose weights start the run (warm start)")
        String initFrom;

        @Option(names = "--master", description = "Spark master; default: spark-submit's, else local[workers]")
        String master;

        @Option(names = "--no-progress", description = "no progress bar; one line per validation instead")
        boolean noProgress;

        @Override
        public Integer call() throws Exception {
            Nd4jRuntime.init();
            Path configFile = config != null ? config : home().resolve("conf/default.yaml");
            if (!configFile.isAbsolute() && !configFile.toFile().exists()) {
                configFile = home().resolve(configFile);
            }
            JobConfig cfg = JobConfig.parse(JobConfig.read(configFile), configFile.toString(), overrides).resolvePaths(home());
            if (resume && output == null) {
                throw new ConfigException("--resume", "needs --output: the run directory to continue");
            }
            String runDir = output != null ? absolute(output)
                    : home().resolve("runs").resolve(cfg.name() + "-"
                            + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))).toString();
            String shards = cfg.data().shards() != null ? cfg.data().shards()
                    : home().resolve("runs/shards").resolve(cfg.name()).toString();
            SparkConf sparkConf = new SparkConf().setAppName("sparkformer-" + cfg.name());
            if (master != null) {
                sparkConf.setMaster(master);
            } else if (!sparkConf.contains("spark.master")) {
                sparkConf.setMaster("local[" + cfg.train().workers() + "]");
                sparkConf.set("spark.ui.enabled", "false");
                sparkConf.set("spark.driver.host", "127.0.0.1");
            }
            logNativeSettings(sparkConf);
            try (JavaSparkContext sc = new JavaSparkContext(sparkConf)) {
                sc.setLogLevel("WARN");
                System.out.println("sparkformer: run directory " + runDir);
                CorpusBuilder.Corpus corpus = new CorpusBuilder(sc, cfg.train().workers()).build(cfg.corpusSpec(shards));
                System.out.println("sparkformer: corpus " + shards + (corpus.reused() ? " (reused)" : "") + ": "
                        + corpus.manifest().split("train").tokens() + " train tokens, "
                        + corpus.manifest().split("validation").tokens() + " validation tokens, vocabulary "
                        + corpus.tokenizer().vocabSize());
                Trainer.Summary summary;
                boolean bar = !noProgress && System.console() != null;
                try (ProgressBar pb = bar ? new ProgressBarBuilder().setTaskName("train").setInitialMax(cfg.rounds())
                        .setStyle(ProgressBarStyle.ASCII).setUnit(" rounds", 1).build() : null) {
                    summary = new Trainer(sc, cfg, runDir).run(corpus, resume, initFrom == null ? null : absolute(initFrom),
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

        private static String absolute(String path) {
            return io.sparkformer.driver.corpus.HadoopFiles.resolve(path, Path.of("").toAbsolutePath());
        }

        /** Logs the native memory and thread settings, so a user sees what ND4J got. */
        private static void logNativeSettings(SparkConf conf) {
            System.out.printf("sparkformer: ND4J %s build, BLAS %s, OMP_NUM_THREADS=%s, OMP_WAIT_POLICY=%s, javacpp.maxbytes=%s,"
                            + " spark.executor.memoryOverhead=%s%n",
                    System.getProperty(Nd4jRuntime.EXTENSION_PROPERTY, "?"), Nd4jRuntime.blas(),
                    System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"), System.getenv().getOrDefault("OMP_WAIT_POLICY", "unset"),
                    System.getProperty("org.bytedeco.javacpp.maxbytes", "default"), conf.get("spark.executor.memoryOverhead", "default"));
        }
    }
}
