package io.sparkformer.driver.ml;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.apache.spark.ml.param.Params;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.DefaultParamsWriter;
import org.apache.spark.sql.SparkSession;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.training.RunDirectory;
import io.sparkformer.model.io.Checkpoint;
import io.sparkformer.model.text.Tokenizer;

/**
 * How a fitted stage that carries a model is saved: Spark ML's metadata (uid and params), a copy
 * of the checkpoint (weights, tokenizer, job config) under {@code checkpoint/}, so the saved stage
 * needs nothing else, and a file of ours with the layout's version and what the stage needs
 * besides. A reader refuses any other version, naming the file.
 */
final class SavedStage {
    /** The layout of what {@link #save} writes. */
    static final int FORMAT = 1;
    static final String STAGE_FILE = "sparkformer-stage.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private SavedStage() {}

    /** What {@link #load} read: the params' metadata, the checkpoint's directory and the stage's fields. */
    record Loaded(DefaultParamsReader.Metadata metadata, String checkpoint, JsonNode fields) {}

    static void save(Params stage, String checkpoint, Map<String, Object> fields, String path, SparkSession spark) {
        DefaultParamsWriter.saveMetadata(stage, path, spark);
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        try {
            Path target = new Path(path, "checkpoint");
            FileSystem to = target.getFileSystem(conf);
            for (String file : List.of(Checkpoint.MODEL_FILE, Tokenizer.FILE_NAME, RunDirectory.CONFIG)) {
                Path from = new Path(checkpoint, file);
                FileUtil.copy(from.getFileSystem(conf), from, to, new Path(target, file), false, true, conf);
            }
            Map<String, Object> all = new LinkedHashMap<>();
            all.put("format", FORMAT);
            all.putAll(fields);
            HadoopFiles.writeAtomically(new Path(path, STAGE_FILE).toString(), JSON.writeValueAsBytes(all), conf);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(path + ": cannot save the " + stage.getClass().getSimpleName() + ": "
                    + e.getMessage(), e);
        }
    }

    static Loaded load(String path, SparkSession spark, Class<?> type) {
        DefaultParamsReader.Metadata metadata = DefaultParamsReader.loadMetadata(path, spark, type.getName());
        String stageFile = new Path(path, STAGE_FILE).toString();
        JsonNode fields;
        try {
            fields = JSON.readTree(HadoopFiles.read(stageFile, spark.sparkContext().hadoopConfiguration()));
        } catch (IOException e) {
            throw new IllegalArgumentException(stageFile + ": cannot read the saved " + type.getSimpleName() + ": " + e.getMessage(), e);
        }
        if (fields.path("format").asInt(-1) != FORMAT) {
            throw new IllegalArgumentException(stageFile + ": saved in format " + fields.path("format")
                    + " (another version of this project); this version reads format " + FORMAT);
        }
        return new Loaded(metadata, new Path(path, "checkpoint").toString(), fields);
    }
}
