package io.sparkformer.driver;

import java.util.ArrayList;
import java.util.List;

import org.apache.hadoop.conf.Configuration;

import io.sparkformer.driver.config.JobConfig;
import picocli.CommandLine.Option;

/** The options of the commands that run a job config: train and prepare (a picocli mixin). */
final class JobOptions {
    @Option(names = "--config", description = "job config (YAML, a local path or any Hadoop FS URI); default conf/default.yaml")
    String config;

    @Option(names = "--set", description = "override a config key, e.g. --set train.lr=2e-3 (repeatable)")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--master", description = "Spark master; default: spark-submit's, else local[workers]")
    String master;

    @Option(names = "--no-progress", description = "no progress bar; one line per validation instead")
    boolean noProgress;

    /** The job config with {@code settings} (the --set overrides, and any the command adds first). */
    JobConfig load(List<String> settings, Configuration hadoop) throws java.io.IOException {
        return load(settings, hadoop, JobConfig.Preset.NONE);
    }

    /** As {@link #load(List, Configuration)}, with the keys a starting checkpoint decides. */
    JobConfig load(List<String> settings, Configuration hadoop, JobConfig.Preset preset) throws java.io.IOException {
        return Cli.loadConfig(config, settings, hadoop, preset);
    }

    /** A progress bar only where someone watches. */
    boolean showProgress() {
        return !noProgress && System.console() != null;
    }
}
