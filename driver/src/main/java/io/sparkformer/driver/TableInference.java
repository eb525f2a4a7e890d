package io.sparkformer.driver;

import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructField;

import io.sparkformer.driver.cluster.ExecutorSettings;
import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.model.ConfigException;
import picocli.CommandLine.Option;

/**
 * The large-input form of classify and embed (a picocli mixin): with {@code --output}, the input
 * is read by Spark (text lines, JSON lines, Parquet, ORC or a catalog table), scored on the
 * executors by the commands' Spark ML stage, and written as part files with every input column
 * and the outputs; neither the input nor the output passes through the driver.
 */
final class TableInference {
    @Option(names = "--output", description = "write the input's columns and the outputs here as part files (Spark;"
            + " any Hadoop FS path that does not exist yet), instead of JSON lines on standard output")
    String output;

    // classify and embed also take it as --format; generate's --format is its printed output's
    @Option(names = "--input-format", description = "with --output: the --input's format: text (one input a line), json,"
            + " parquet, orc or table (a catalog table's name); default text")
    String format = "text";

    @Option(names = "--column", description = "with --output: the text column of a json, parquet, orc or table input"
            + " (default ${DEFAULT-VALUE}; a text input's lines are this column)")
    String column = "text";

    @Option(names = "--output-format", description = "with --output: parquet or json (JSON lines); default parquet")
    String outputFormat = "parquet";

    @Option(names = "--master", description = "with --output: Spark master; default: spark-submit's, else local[all cores]")
    String master;

    private static final List<String> FORMATS = List.of("text", "json", "parquet", "orc", "table");

    boolean requested() {
        return output != null;
    }

    /**
     * Reads {@code input}, adds the columns {@code stage} adds, and writes the result to --output;
     * every option is checked, and --output must not exist, before Spark starts.
     */
    int run(String command, String input, List<String> texts, Function<Dataset<Row>, Dataset<Row>> stage) throws Exception {
        if (input == null || !texts.isEmpty()) {
            throw new ConfigException("--output", "takes an --input path or table (not --text or standard input)");
        }
        if (!FORMATS.contains(format)) {
            throw new ConfigException("--input-format", "must be one of " + FORMATS + ", got " + format);
        }
        if (!List.of("parquet", "json").contains(outputFormat)) {
            throw new ConfigException("--output-format", "must be parquet or json, got " + outputFormat);
        }
        String out = HadoopFiles.absolute(output);
        if (HadoopFiles.exists(out, new Configuration())) {
            throw new ConfigException("--output", out + " exists; give a path that does not");
        }
        // a session this JVM already runs (a notebook, a test) is used and left running
        boolean own = SparkSession.getDefaultSession().isEmpty();
        SparkSession spark;
        if (own) {
            int cores = Runtime.getRuntime().availableProcessors();
            var conf = Cli.sparkConf("sparkformer-" + command, master, cores);
            ExecutorSettings.applyDefaults(conf, ExecutorSettings.threadsPerTask(conf, cores));
            spark = SparkSession.builder().config(conf).getOrCreate();
        } else {
            spark = SparkSession.getDefaultSession().get();
        }
        try {
            if (own) {
                spark.sparkContext().setLogLevel("WARN");
            }
            Dataset<Row> in = read(spark, input);
            Dataset<Row> scored;
            try {
                scored = stage.apply(in); // checks the columns before any task runs
            } catch (IllegalArgumentException e) {
                throw new ConfigException("--column", e.getMessage());
            }
            // vectors as arrays of numbers: what any reader of Parquet or JSON takes
            Column[] columns = Arrays.stream(scored.schema().fields()).map(f -> isVector(f)
                    ? org.apache.spark.ml.functions.vector_to_array(scored.col(f.name()), "float64").as(f.name())
                    : scored.col(f.name())).toArray(Column[]::new);
            scored.select(columns).write().mode(SaveMode.ErrorIfExists).format(outputFormat).save(out);
            long rows = spark.read().format(outputFormat).load(out).count();
            System.out.printf("sparkformer: %s wrote %d rows to %s (%s)%n", command, rows, out, outputFormat);
        } finally {
            if (own) {
                spark.stop();
            }
        }
        return Cli.OK;
    }

    private Dataset<Row> read(SparkSession spark, String input) {
        Dataset<Row> in;
        try {
            in = switch (format) {
                case "text" -> spark.read().text(HadoopFiles.absolute(input)).withColumnRenamed("value", column);
                case "table" -> spark.table(input);
                default -> spark.read().format(format).load(HadoopFiles.absolute(input));
            };
        } catch (Exception e) { // Spark's AnalysisException (a missing path, a bad table) is a checked one
            throw new ConfigException("--input", "cannot read " + input + " as " + format + ": "
                    + String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
        }
        return in;
    }

    private static boolean isVector(StructField f) {
        return f.dataType() instanceof org.apache.spark.ml.linalg.VectorUDT;
    }
}
