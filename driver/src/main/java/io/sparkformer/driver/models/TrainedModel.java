package io.sparkformer.driver.models;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.nd4j.linalg.api.buffer.DataType;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.config.JobConfig;
import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.training.RunDirectory;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Model;
import io.sparkformer.model.io.Checkpoint;
import io.sparkformer.model.io.SafeTensors;
import io.sparkformer.model.text.Tokenizer;

/**
 * A checkpoint ready to use: weights, tokenizer and the job config that trained it. {@code --model}
 * may name a checkpoint directory, a run directory (its latest checkpoint), a run's {@code best}
 * pointer (checkpoint.best) or a models directory (the checkpoint its {@code current} pointer
 * names), on any Hadoop FS. {@code labels}: a
 * classifier's label names in index order (null for a language model).
 */
public record TrainedModel(String checkpoint, Model model, Tokenizer tokenizer, JobConfig config, List<String> labels) {

    public static String resolve(String path, Configuration conf) throws IOException {
        return resolve(path, conf, "--model");
    }

    /** As {@link #resolve(String, Configuration)}, for the option {@code option}; a run's {@code best} pointer also resolves. */
    public static String resolve(String path, Configuration conf, String option) throws IOException {
        if (HadoopFiles.exists(path + "/" + Checkpoint.MODEL_FILE, conf)) {
            RunDirectory.requireCompleteIfCheckpoint(path, option, conf);
            return path;
        }
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
        if (p.getName().equals(RunDirectory.BEST) && p.getParent() != null
                && HadoopFiles.exists(path, conf) && p.getFileSystem(conf).getFileStatus(p).isFile()) {
            return new RunDirectory(p.getParent().toString(), conf).best();
        }
        String latest = new RunDirectory(path, conf).latest();
        if (latest != null) {
            return latest;
        }
        if (HadoopFiles.exists(path + "/" + Promotion.CURRENT, conf)) {
            return new ObjectMapper().readTree(HadoopFiles.read(path + "/" + Promotion.CURRENT, conf)).get("checkpoint").asText();
        }
        throw new ConfigException(option, path + " is not a checkpoint, a run's best pointer, a run directory (no latest)"
                + " or a models directory (no current)");
    }

    /** What a checkpoint is, read without its weights: its directory, model settings and a classifier's labels (else null). */
    public record Header(String checkpoint, io.sparkformer.model.TransformerConfig model, List<String> labels) {}

    /** The header of the model {@code path} names (as {@link #load}): a file's header or a Hugging Face config.json, no weights. */
    public static Header header(String path, Configuration conf) throws IOException {
        PretrainedStart pretrained = PretrainedStart.openIfHuggingFace(path, conf);
        if (pretrained != null) {
            var c = pretrained.checkpoint();
            return new Header(c.location(), c.config(), c.labels());
        }
        String ckpt = resolve(path, conf);
        String file = ckpt + "/" + Checkpoint.MODEL_FILE;
        try (SafeTensors.Reader r = SafeTensors.open(HadoopFiles.source(file, conf))) {
            Header h = new Header(ckpt, Checkpoint.config(r), Checkpoint.labels(r));
            requireLabels(file, h.model(), h.labels());
            return h;
        }
    }

    /** A classifier's file names one label per output. */
    private static void requireLabels(String file, io.sparkformer.model.TransformerConfig model, List<String> labels) {
        if (model.isClassifier() && (labels == null || labels.size() != model.numLabels())) {
            throw new ConfigException("--model", file + ": a classifier of " + model.numLabels()
                    + " labels whose metadata names " + (labels == null ? "none" : labels.size()));
        }
    }

    /** The model {@code path} names: one of this project's (see the class comment) or a Hugging Face checkpoint directory. */
    public static TrainedModel load(String path, Configuration conf) throws IOException {
        PretrainedStart pretrained = PretrainedStart.openIfHuggingFace(path, conf);
        if (pretrained != null) {
            return pretrained.load();
        }
        String ckpt = resolve(path, conf);
        Model model;
        List<String> labels;
        String file = ckpt + "/" + Checkpoint.MODEL_FILE;
        try (SafeTensors.Reader r = SafeTensors.open(HadoopFiles.source(file, conf))) {
            model = Checkpoint.readModel(r, DataType.FLOAT);
            labels = Checkpoint.labels(r);
        }
        requireLabels(file, model.config(), labels);
        Tokenizer tokenizer = Tokenizer.fromJson(HadoopFiles.read(ckpt + "/" + Tokenizer.FILE_NAME, conf),
                ckpt + "/" + Tokenizer.FILE_NAME);
        String yaml = new String(HadoopFiles.read(ckpt + "/" + RunDirectory.CONFIG, conf), StandardCharsets.UTF_8);
        JobConfig cfg = JobConfig.parse(yaml, ckpt + "/" + RunDirectory.CONFIG, List.of());
        return new TrainedModel(ckpt, model, tokenizer, cfg, labels);
    }
}
