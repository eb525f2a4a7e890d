package io.sparkformer.driver.bench;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

import io.sparkformer.driver.ml.TextEmbedder;

/**
 * Batch inference at row counts the driver could not hold: for each N, a DataFrame of N rows made
 * on the executors (id, text "review number ID", a flag column), embedded by TextEmbedder with
 * all-MiniLM-L6-v2 in local mode, written to Parquet, then checked from the Parquet files by a
 * Spark job (every row there once, in order within its partition, its other columns unchanged,
 * an embedding of 384 numbers). Meanwhile a sampler forces a full GC every second and keeps the
 * largest live heap: in local mode the driver and the executors share the JVM, so this bounds
 * the driver's own use. Parquet row groups of 16 MB. Prints per N: seconds, rows checked, rows wrong, the largest live heap.
 * Usage: TransformScaleBenchmark SHARED_DIR OUT_DIR N [N ...]
 */
public final class TransformScaleBenchmark {
    private TransformScaleBenchmark() {}

    public static void main(String[] args) throws Exception {
        String model = Path.of(args[0]).resolve("pretrained/all-MiniLM-L6-v2").toString();
        Path out = Path.of(args[1]);
        int cores = Runtime.getRuntime().availableProcessors();
        SparkSession spark = SparkSession.builder().config(new SparkConf().setMaster("local[" + cores + "]")
                .setAppName("transform-scale").set("spark.ui.enabled", "false")
                // Parquet holds a row group in memory per writing task before it writes it (128 MB by
                // default, some 40,000 rows of 384 numbers): smaller ones, so the heap shows what else grows
                .set("spark.hadoop.parquet.block.size", Long.toString(16L << 20))).getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        TextEmbedder stage = new TextEmbedder().setModelPath(model).setNormalize(true);
        System.out.printf("%-8s %9s %9s %7s %14s%n", "rows", "seconds", "checked", "wrong", "max_live_heap");
        for (int a = 2; a < args.length; a++) {
            long n = Long.parseLong(args[a]);
            Dataset<Row> rows = spark.range(0, n, 1, cores)
                    .selectExpr("id", "concat('review number ', id) AS text", "id % 7 = 0 AS flagged");
            AtomicLong maxLive = new AtomicLong();
            Thread sampler = new Thread(() -> {
                var memory = ManagementFactory.getMemoryMXBean();
                while (!Thread.currentThread().isInterrupted()) {
                    System.gc();
                    maxLive.accumulateAndGet(memory.getHeapMemoryUsage().getUsed(), Math::max);
                    try {
                        Thread.sleep(1000);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            sampler.setDaemon(true);
            sampler.start();
            String dir = out.resolve("n" + n).toString();
            long t0 = System.nanoTime();
            stage.transform(rows).write().mode("overwrite").parquet(dir);
            double seconds = (System.nanoTime() - t0) / 1e9;
            sampler.interrupt();
            sampler.join();
            Dataset<Row> written = spark.read().parquet(dir);
            long checked = written.count();
            // in order within each part file (a read partition may hold several)
            long wrong = written.selectExpr("*", "input_file_name() AS file").mapPartitions((MapPartitionsFunction<Row, Long>) it -> {
                long bad = 0;
                long last = -1;
                String file = "";
                while (it.hasNext()) {
                    Row r = it.next();
                    if (!r.getString(4).equals(file)) {
                        file = r.getString(4);
                        last = -1;
                    }
                    long id = r.getLong(0);
                    boolean ok = id > last && r.getString(1).equals("review number " + id) && r.getBoolean(2) == (id % 7 == 0)
                            && ((org.apache.spark.ml.linalg.Vector) r.get(3)).size() == 384;
                    bad += ok ? 0 : 1;
                    last = id;
                }
                return java.util.List.of(bad).iterator();
            }, Encoders.LONG()).reduce((org.apache.spark.api.java.function.ReduceFunction<Long>) Long::sum);
            System.out.printf("%-8d %9.1f %9d %7d %11.0f MB%n", n, seconds, checked, wrong, maxLive.get() / 1e6);
        }
        spark.stop();
    }
}
