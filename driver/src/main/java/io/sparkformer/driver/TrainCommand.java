package io.sparkformer.driver;

import java.nio.charset.StandardCharsets;
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
import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.CorpusBuilder;
import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.models.PretrainedStart;
import io.sparkformer.driver.models.Promotion;
import io.sparkformer.driver.models.TrainedModel;
import io.sparkformer.driver.training.RunDirectory;
import io.sparkformer.driver.training.RunLock;
import io.sparkformer.driver.training.Trainer;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Nd4jRuntime;
import io.sparkformer.model.text.Tokenizer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Trains a model from a job config into a run directory, or resumes one. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a model from a job config (default conf/default.yaml: the embedded grammar corpus).")
final class TrainCommand implements Callable<Integer> {
    @Mixin
    JobOptions job;

    @Option(names = "--output", description = "run directory, any Hadoop FS path; default runs/<name>-<time>")
    String output;

    @Option(names = "--resume", description = "continue the run in --output from its latest checkpoint")
    boolean resume;

    @Option(names = "--init-from", description = "checkpoint, run directory (its latest), a run's best pointer, or a Hugging Face"
            + " checkpoint directory, whose weights (and tokenizer; a Hugging Face one's model settings too) start the run")
    String initFrom;

    @Option(names = "--warm-start", paramLabel = "MODELS_DIR",
            description = "start from the model MODELS_DIR/current points to (see promote); from scratch if none yet")
    String warmStart;

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
        if (resume && new RunDirectory(HadoopFiles.absolute(output), hadoop).finished()) {
            // idempotent reruns: a finished run is left as it is
            System.out.println("sparkformer: " + HadoopFiles.absolute(output) + " already finished (_SUCCESS); nothing to do");
            System.out.println(new String(new RunDirectory(HadoopFiles.absolute(output), hadoop).summaryBytes(), StandardCharsets.UTF_8));
            return Cli.OK;
        }
        String init = startingWeights(hadoop);
        PretrainedStart pretrained = init != null ? PretrainedStart.openIfHuggingFace(init, hadoop) : null;
        if (pretrained != null) {
            init = pretrained.checkpoint().location(); // a Hub id's snapshot in the local cache
        }
        JobConfig cfg = pretrained != null ? job.load(pretrained.withTokenizer(job.overrides), hadoop, pretrained.preset())
                : job.load(settings(init, hadoop), hadoop);
        if (pretrained != null) {
            String tokenizer = cfg.data().tokenizer();
            pretrained.requireTokenizerFits(Tokenizer.fromJson(HadoopFiles.read(tokenizer, hadoop), tokenizer), tokenizer);
        }
        String runDir = output != null ? HadoopFiles.absolute(output) : Cli.home().resolve("runs").resolve(cfg.name() + "-"
                + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))).toString();
        SparkConf sparkConf = Cli.sparkConf("sparkformer-" + cfg.name(), job.master, cfg.train().workers());
        int taskThreads = ExecutorSettings.threadsPerTask(sparkConf, cfg.train().workers());
        List<String> envDefaults = ExecutorSettings.applyDefaults(sparkConf, taskThreads);
        envDefaults.addAll(ExecutorSettings.applyMemoryDefaults(sparkConf, cfg.parameterEstimate()));
        logNativeSettings(sparkConf, envDefaults, taskThreads);
        try (JavaSparkContext sc = new JavaSparkContext(sparkConf);
             RunLock lock = RunLock.acquire(runDir, sc.hadoopConfiguration())) {
            sc.setLogLevel("WARN");
            train(sc, cfg, new RunDirectory(runDir, sc.hadoopConfiguration()), init, taskThreads);
        }
        return Cli.OK;
    }

    /** The checkpoint whose weights start the run: --init-from, the model --warm-start's current names, or none. */
    private String startingWeights(Configuration hadoop) throws java.io.IOException {
        String init = initFrom == null ? null : PretrainedStart.isHuggingFace(HadoopFiles.absolute(initFrom), hadoop)
                ? HadoopFiles.absolute(initFrom) : TrainedModel.resolve(HadoopFiles.absolute(initFrom), hadoop, "--init-from");
        if (warmStart != null) {
            Promotion.Current current = new Promotion(hadoop).current(HadoopFiles.absolute(warmStart));
            if (current == null) {
                System.out.println("sparkformer: no model promoted in " + HadoopFiles.absolute(warmStart) + " yet; training from scratch");
            } else {
                init = current.checkpoint();
                System.out.printf("sparkformer: warm start from %s (validation loss %.4f)%n", init, current.valLoss());
            }
        }
        return init;
    }

    /**
     * The --set overrides; with starting weights, their tokenizer first: the weights' token ids mean
     * what it says. A resumed warm start keeps the tokenizer its run began with, even if the pointer moved since.
     */
    private List<String> settings(String init, Configuration hadoop) throws java.io.IOException {
        List<String> settings = new ArrayList<>(job.overrides);
        if (init != null && job.overrides.stream().noneMatch(o -> o.startsWith("data.tokenizer="))) {
            String own = resume ? HadoopFiles.absolute(output) + "/" + Tokenizer.FILE_NAME : null;
            String tokenizer = own != null && HadoopFiles.exists(own, hadoop) ? own : init + "/" + Tokenizer.FILE_NAME;
            if (HadoopFiles.exists(tokenizer, hadoop)) {
                settings.add(0, "data.tokenizer=" + tokenizer);
            }
        }
        return settings;
    }

    private void train(JavaSparkContext sc, JobConfig cfg, RunDirectory run, String init, int taskThreads) throws java.io.IOException {
        System.out.println("sparkformer: run directory " + run.path());
        if (!resume) {
            run.requireNoRun(); // before the shards inside it are touched
        }
        // inside the run directory, on its file system: executors on other machines can read it,
        // and no other run (another Airflow date, the same config elsewhere) shares or rebuilds it
        String shards = cfg.data().shards() != null ? cfg.data().shards() : run.file("shards");
        CorpusBuilder.Corpus corpus = new CorpusBuilder(sc, cfg.train().workers()).build(cfg.corpusSpec(shards));
        System.out.println("sparkformer: corpus " + shards + (corpus.reused() ? " (reused)" : "") + ": "
                + corpus.manifest().split("train").tokens() + " train tokens, "
                + corpus.manifest().split("validation").tokens() + " validation tokens, vocabulary "
                + corpus.tokenizer().vocabSize());
        Trainer trainer = new Trainer(cfg, run, Trainer.sparkSyncs(sc, taskThreads));
        Trainer.Summary summary;
        try (ProgressBar pb = job.showProgress() ? new ProgressBarBuilder().setTaskName("train").setInitialMax(cfg.rounds())
                .setStyle(ProgressBarStyle.ASCII).setUnit(" rounds", 1).build() : null) {
            summary = trainer.run(corpus, resume, init, (round, rounds, train, val) -> {
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
        System.out.println("sparkformer: run directory " + run.path() + " (summary.json, metrics.jsonl, loss.png, checkpoints/)");
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
