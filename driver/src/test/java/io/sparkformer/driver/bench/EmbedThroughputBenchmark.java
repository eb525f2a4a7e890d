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

import io.sparkformer.driver.ml.TextEmbedder;

/**
 * Sentences per second embedding SST-2's first N training phrases with all-MiniLM-L6-v2 through
 * the TextEmbedder stage in local mode on all the cores: by default one partition whose task computes
 * with every core, in batches of 64 sorted by length, as ONNX Runtime's best way in the anchor. A warm-up pass on about 512 phrases
 * a partition makes every task's model copy first (ONNX Runtime's side warms its one session on 512); the timed pass forces every embedding. Prints
 * RESULT sentences_per_s=X.
 * Usage: EmbedThroughputBenchmark SHARED_DIR [N] [PARTITIONS] [OUT]   (the cores are shared among the partitions' tasks;
 *   OUT: the first 64 rows' embeddings, a line of numbers each)
 */
public final class EmbedThroughputBenchmark {
    private EmbedThroughputBenchmark() {}

    public static void main(String[] args) throws Exception {
        Path shared = Path.of(args[0]);
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 20_000;
        List<String> lines = Files.readAllLines(shared.resolve("datasets/sst2/train.tsv"));
        List<Row> rows = new ArrayList<>();
        for (String l : lines.subList(1, n + 1)) {
            rows.add(RowFactory.create(l.split("\t")[0]));
        }
        int partitions = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        int cores = Runtime.getRuntime().availableProcessors();
        SparkSession spark = SparkSession.builder().config(new SparkConf().setMaster("local[" + cores + "]").setAppName("embed-throughput")
                .set("spark.ui.enabled", "false")).getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        Dataset<Row> df = spark.createDataFrame(rows, new StructType().add("text", DataTypes.StringType)).repartition(partitions).cache();
        df.count();
        TextEmbedder stage = new TextEmbedder().setModelPath(shared.resolve("pretrained/all-MiniLM-L6-v2").toString())
                .setNormalize(true).setBatchSize(64);
        // about 512 phrases in every partition: each task's model copy is made and warmed before the clock starts
        stage.transform(df.sample(false, Math.min(1.0, 512.0 * partitions / n), 7)).foreach(r -> { });
        long t0 = System.nanoTime();
        long embedded = stage.transform(df).filter("embedding is not null").count();
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("%d of %d phrases embedded in %.1f s on %d cores (%d partitions)%n", embedded, n, seconds, cores, partitions);
        if (args.length > 3) { // the first rows' embeddings, for the script to compare with ONNX Runtime's
            StringBuilder out = new StringBuilder();
            Dataset<Row> first = spark.createDataFrame(rows.subList(0, Math.min(64, n)), df.schema()).coalesce(1);
            for (Row r : stage.transform(first).collectAsList()) {
                for (double v : ((org.apache.spark.ml.linalg.Vector) r.get(1)).toArray()) {
                    out.append((float) v).append(' ');
                }
                out.append('\n');
            }
            Files.writeString(Path.of(args[3]), out);
        }
        System.out.printf("RESULT sentences_per_s=%.0f%n", n / seconds);
        spark.stop();
    }
}
