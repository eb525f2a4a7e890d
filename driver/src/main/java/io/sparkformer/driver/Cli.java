package io.sparkformer.driver;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkConf;

import io.sparkformer.driver.cluster.OutOfMemory;
import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.FailureKind;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The command line, and the class spark-submit runs. Exit codes: 0 done, 2 bad config or input
 * (the message names the key or file), 3 training diverged (the last good checkpoint stays),
 * 4 out of memory (the message names the setting to raise), 5 the run directory is locked by
 * another live job, 1 anything else. Each command is a class of its own.
 */
@Command(name = "sparkformer", mixinStandardHelpOptions = true, version = "sparkformer 0.1.0",
        description = "Train transformers on Apache Spark.", subcommands = {TrainCommand.class, PrepareCommand.class, PromoteCommand.class, GenerateCommand.class, ClassifyCommand.class, EvaluateCommand.class, AttentionCommand.class, EmbedCommand.class, ExportCommand.class})
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
            String message = code == FAILED ? e.toString() : Failures.of(e).message();
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

    /** The exit code of a failure: only the command line maps failures to codes. */
    public static int exitCode(Throwable e) {
        FailureKind kind = Failures.of(e).kind();
        if (kind == null) {
            return FAILED;
        }
        return switch (kind) {
            case BAD_INPUT -> BAD_INPUT;
            case DIVERGED -> DIVERGED;
            case OUT_OF_MEMORY -> OUT_OF_MEMORY;
            case RUN_LOCKED -> RUN_LOCKED;
            case LOST_WORKER_STATE -> FAILED; // the trainer's recoveries were used up
        };
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
        requireProjectSettings(conf);
        return conf;
    }

    /** The project's own Spark settings, each read on the executors: true or false. */
    private static final List<String> SWITCHES = List.of("spark.sparkformer.blockTransport", "spark.sparkformer.sharedMemory");

    /**
     * Refuses a spark.sparkformer.* setting that is not one of the project's switches, or a
     * switch that is neither true nor false, naming the key: on the executors it would fail every
     * task (a bad value) or do nothing (a misspelt key).
     */
    public static void requireProjectSettings(SparkConf conf) {
        for (scala.Tuple2<String, String> setting : conf.getAllWithPrefix("spark.sparkformer.")) {
            String key = "spark.sparkformer." + setting._1();
            if (!SWITCHES.contains(key)) {
                throw new ConfigException(key, "unknown setting; the project's are " + String.join(", ", SWITCHES));
            }
            String value = setting._2().trim();
            if (!value.equalsIgnoreCase("true") && !value.equalsIgnoreCase("false")) {
                throw new ConfigException(key, "must be true or false, got \"" + setting._2() + "\"");
            }
        }
    }

    /** The job config a command names (default conf/default.yaml), with --set overrides, paths resolved. */
    static JobConfig loadConfig(String config, List<String> settings, Configuration hadoop) throws java.io.IOException {
        return loadConfig(config, settings, hadoop, JobConfig.Preset.NONE);
    }

    /** The job config {@code config} names (default conf/default.yaml) with the overrides, paths resolved against {@link #home()}. */
    public static JobConfig loadConfig(String config, List<String> settings, Configuration hadoop, JobConfig.Preset preset)
            throws java.io.IOException {
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
        return JobConfig.parse(configText, configName, settings, preset).resolvePaths(home());
    }

    public static Path home() {
        return Path.of(System.getProperty("sparkformer.home", ".")).toAbsolutePath().normalize();
    }
}
