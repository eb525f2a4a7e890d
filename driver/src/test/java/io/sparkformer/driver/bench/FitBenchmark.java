package io.sparkformer.driver.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.apache.spark.SparkConf;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import io.sparkformer.driver.ml.TextClassificationModel;
import io.sparkformer.driver.ml.TextClassifier;

/**
 * The classifier fitted through the Spark ML stage instead of the train command: TRAIN_TSV's rows
 * (sentence, label; a header line) as a DataFrame, TextClassifier with the job config CONFIG and
 * the starting checkpoint INIT (any further key=value arguments as overrides), then dev accuracy of
 * the fitted model's transform on DEV_TSV. Local mode, one worker, the cores as train gives them.
 * Prints RESULT fit_accuracy=A fit_seconds=S.
 * Usage: FitBenchmark TRAIN_TSV DEV_TSV CONFIG INIT RUN_DIR [key=value ...]
 */
public final class FitBenchmark {
    private FitBenchmark() {}

    public static void main(String[] args) throws Exception {
        int cores = Runtime.getRuntime().availableProcessors();
        SparkSession spark = SparkSession.builder().config(new SparkConf().setMaster("local[" + cores + "]")
                .setAppName("fit-benchmark").set("spark.ui.enabled", "false")).getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        Dataset<Row> train = read(spark, Path.of(args[0]));
        Dataset<Row> dev = read(spark, Path.of(args[1]));
        List<String> overrides = List.of(args).subList(5, args.length);
        TextClassifier stage = new TextClassifier().setInputCol("sentence").setConfigFile(args[2]).setInitFrom(args[3])
                .setRunDir(args[4]).setOverrides(overrides.toArray(String[]::new));
        long t0 = System.nanoTime();
        TextClassificationModel model = stage.fit(train);
        double seconds = (System.nanoTime() - t0) / 1e9;
        long right = model.transform(dev).filter("prediction = label").count();
        double accuracy = (double) right / dev.count();
        System.out.printf("fitted %s in %.0f s; dev accuracy %.4f (%d of %d)%n", model.checkpoint(), seconds, accuracy, right, dev.count());
        System.out.printf("RESULT fit_accuracy=%.4f fit_seconds=%.0f%n", accuracy, seconds);
        spark.stop();
    }

    /** A TSV of sentence and integer label with a header line, as rows in file order. */
    private static Dataset<Row> read(SparkSession spark, Path tsv) throws Exception {
        List<Row> rows = new ArrayList<>();
        List<String> lines = Files.readAllLines(tsv);
        for (String l : lines.subList(1, lines.size())) {
            String[] f = l.split("\t");
            rows.add(RowFactory.create(f[0], Integer.parseInt(f[1])));
        }
        StructType schema = new StructType().add("sentence", DataTypes.StringType).add("label", DataTypes.IntegerType);
        return spark.createDataFrame(rows, schema).coalesce(1);
    }
}
