package io.sparkformer.driver;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkStageInfo;
import org.apache.spark.api.java.JavaSparkContext;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.CorpusBuilder;
import io.sparkformer.worker.shards.Manifest;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Builds a job's token shards (or finds them built), and nothing else: for a corpus prepared once, trained on often. */
@Command(name = "prepare", mixinStandardHelpOptions = true,
        description = {"Tokenize a job's corpus into token shards (reused when inputs and settings are unchanged).",
                "Train on them with --set data.shards=DIR."})
final class PrepareCommand implements Callable<Integer> {
    @Mixin
    JobOptions job;

    @Option(names = "--shards", description = "the shards directory, any Hadoop FS path; default data.shards, else runs/shards/<name>")
    String shards;

    @Override
    public Integer call() throws Exception {
        JobConfig cfg = job.load(job.overrides, new Configuration());
        String dir = shards != null ? HadoopFiles.absolute(shards)
                : cfg.data().shards() != null ? cfg.data().shards() : Cli.home().resolve("runs/shards/" + cfg.name()).toString();
        SparkConf sparkConf = Cli.sparkConf("sparkformer-prepare-" + cfg.name(), job.master, cfg.train().workers());
        try (JavaSparkContext sc = new JavaSparkContext(sparkConf)) {
            sc.setLogLevel("WARN");
            long t0 = System.nanoTime();
            CorpusBuilder.Corpus corpus;
            boolean bar = job.showProgress();
            try (ProgressBar pb = bar ? new ProgressBarBuilder().setTaskName("prepare").setInitialMax(1)
                    .setStyle(ProgressBarStyle.ASCII).setUnit(" tasks", 1).build() : null) {
                Thread poll = pb == null ? null : new Thread(() -> showStages(sc, pb), "prepare-progress");
                if (poll != null) {
                    poll.setDaemon(true);
                    poll.start();
                }
                try {
                    corpus = new CorpusBuilder(sc, cfg.train().workers()).build(cfg.corpusSpec(dir));
                } finally {
                    if (poll != null) {
                        poll.interrupt();
                    }
                }
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            Manifest m = corpus.manifest();
            long bytes = m.sources().stream().mapToLong(Manifest.Source::bytes).sum();
            long tokens = m.split("train").tokens() + m.split("validation").tokens();
            System.out.printf("sparkformer: shards %s%s: %d train and %d validation tokens in %d + %d shards, vocabulary %d%n",
                    dir, corpus.reused() ? " (reused: inputs and settings unchanged)" : "", m.split("train").tokens(),
                    m.split("validation").tokens(), m.split("train").shards().size(), m.split("validation").shards().size(),
                    corpus.tokenizer().vocabSize());
            System.out.printf("sparkformer: %.1f MB in %.1f s: %.2f MB/s, %.0f tokens/s%n", bytes / 1e6, seconds,
                    bytes / 1e6 / seconds, tokens / seconds);
        }
        return Cli.OK;
    }

    /** The running stage's tasks on the bar, twice a second (a build is a few Spark jobs in turn). */
    private static void showStages(JavaSparkContext sc, ProgressBar pb) {
        try {
            while (!Thread.currentThread().isInterrupted()) {
                for (int id : sc.statusTracker().getActiveStageIds()) {
                    SparkStageInfo stage = sc.statusTracker().getStageInfo(id);
                    if (stage != null) {
                        pb.maxHint(stage.numTasks());
                        pb.stepTo(stage.numCompletedTasks());
                        pb.setExtraMessage(stage.name().replaceAll(" at .*", ""));
                    }
                }
                Thread.sleep(500);
            }
        } catch (InterruptedException e) {
            // the build is over
        }
    }
}
