package io.sparkformer.driver.corpus;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.LongUnaryOperator;

import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import io.sparkformer.worker.batches.Task;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;

import scala.Tuple2;

/**
 * Text in tables: Parquet, ORC or JSON files, or catalog tables, read through Spark SQL. Rows
 * are cut into partitions exactly as the text file made from them (one row a line, a pair's
 * columns joined by a tab) would be cut into Hadoop splits, so both give the same shards.
 */
final class TableSource {
    /** Row index bits in a shuffle key; the split index sits above them. */
    private static final int ROW_BITS = 40;

    private TableSource() {}

    private static Dataset<Row> read(JavaSparkContext sc, CorpusSpec spec, List<String> given) {
        SparkSession spark = SparkSession.builder().sparkContext(sc.sc()).getOrCreate();
        Dataset<Row> ds;
        try {
            if (spec.format() == CorpusSpec.Format.TABLE) {
                ds = null;
                for (String name : given) {
                    Dataset<Row> t = spark.table(name);
                    ds = ds == null ? t : ds.union(t);
                }
            } else {
                ds = spark.read().format(spec.format().key()).load(given.toArray(String[]::new));
            }
        } catch (RuntimeException e) {
            throw new CorpusException("data.inputs: cannot read " + given + " as " + spec.format().key() + ": "
                    + e.getMessage().lines().findFirst().orElse(""), e);
        }
        List<String> names = Arrays.asList(ds.columns());
        for (int i = 0; i < spec.columns().size(); i++) {
            String column = spec.columns().get(i);
            String key = i == 0 ? "data.column" : "data.target_column";
            if (!names.contains(column)) {
                throw new CorpusException(key + ": " + given + " has no column '" + column + "' (its columns: " + names + ")");
            }
            StructField field = ds.schema().apply(column);
            // a classifier's labels may be numbers or booleans (SST-2's 0 and 1, Spark ML's 0.0 and 1.0): their text is the label
            boolean label = i == 1 && spec.task() == Task.CLASSIFICATION
                    && List.of(DataTypes.IntegerType, DataTypes.LongType, DataTypes.ShortType, DataTypes.ByteType,
                            DataTypes.BooleanType, DataTypes.DoubleType, DataTypes.FloatType).contains(field.dataType());
            if (!label && !field.dataType().equals(DataTypes.StringType)) {
                throw new CorpusException(key + ": column '" + column + "' of " + given + " holds " + field.dataType().simpleString()
                        + ", not text (string)");
            }
        }
        return ds.select(spec.columns().stream().map(c -> org.apache.spark.sql.functions.col(c).cast(DataTypes.StringType))
                .toArray(org.apache.spark.sql.Column[]::new));
    }

    /**
     * The files behind the inputs (for the manifest's key: rewritten data, rebuilt shards). A view
     * of rows with no files behind them (a DataFrame fitted by a Spark ML stage) stands for itself:
     * a path naming its plan's hash, as long as its row count.
     */
    static List<FileStatus> files(JavaSparkContext sc, CorpusSpec spec, List<String> given) {
        if (given.isEmpty()) {
            return List.of();
        }
        List<FileStatus> out = new ArrayList<>();
        try {
            Dataset<Row> ds = read(sc, spec, given);
            String[] inputFiles = ds.inputFiles();
            if (inputFiles.length == 0) {
                long rows = ds.count();
                out.add(new FileStatus(rows, false, 0, 0, 0, new Path("view:/" + Integer.toHexString(ds.semanticHash()))));
                return out;
            }
            for (String f : inputFiles) {
                Path p = new Path(f);
                out.add(p.getFileSystem(sc.hadoopConfiguration()).getFileStatus(p));
            }
        } catch (IOException e) {
            throw new CorpusException("data.inputs: cannot list the files of " + given + ": " + e.getMessage(), e);
        }
        out.sort((a, b) -> a.getPath().toString().compareTo(b.getPath().toString()));
        return out;
    }

    /** The bytes a record's line takes in the text file it stands for: its columns, tab-joined, and a newline. */
    private static long lineBytes(String[] r) {
        long n = r.length; // the tab between two columns and the newline
        for (String c : r) {
            n += utf8Length(c);
        }
        return n;
    }

    private static long utf8Length(String s) {
        long n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                n++;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else {
                n += 3;
            }
        }
        return n;
    }

    /**
     * The rows of the inputs' columns as records in their order, one partition per split of the
     * text file they stand for. {@code splitSize} gives the split size for that file's length.
     */
    static JavaRDD<String[]> records(JavaSparkContext sc, CorpusSpec spec, List<String> given, LongUnaryOperator splitSize) {
        String names = given.toString();
        JavaRDD<String[]> rows = read(sc, spec, given).javaRDD().map(r -> {
            String[] out = new String[r.length()];
            for (int i = 0; i < out.length; i++) {
                if (r.isNullAt(i)) {
                    throw new CorpusException(names + ": a row has no value (null) in column " + r.schema().fields()[i].name()
                            + "; filter such rows out (a view) first");
                }
                out[i] = r.getString(i);
            }
            return out;
        });
        // rows and text bytes per partition, then where each partition's first row starts in the text
        List<long[]> sizes = rows.mapPartitions(it -> {
            long n = 0;
            long bytes = 0;
            while (it.hasNext()) {
                bytes += lineBytes(it.next());
                n++;
            }
            return List.of(new long[] {n, bytes}).iterator();
        }).collect();
        long[] firstRow = new long[sizes.size()];
        long[] firstByte = new long[sizes.size()];
        for (int p = 1; p < sizes.size(); p++) {
            firstRow[p] = firstRow[p - 1] + sizes.get(p - 1)[0];
            firstByte[p] = firstByte[p - 1] + sizes.get(p - 1)[1];
        }
        long total = sizes.isEmpty() ? 0 : firstByte[sizes.size() - 1] + sizes.get(sizes.size() - 1)[1];
        long size = splitSize.applyAsLong(total);
        int splits = splitCount(total, size);
        if (firstRow.length > 0 && firstRow[firstRow.length - 1] + sizes.get(sizes.size() - 1)[0] >= 1L << ROW_BITS) {
            throw new CorpusException(names + ": more than 2^" + ROW_BITS + " rows");
        }
        return rows.mapPartitionsWithIndex((p, it) -> new java.util.Iterator<Tuple2<Long, String[]>>() {
            private long row = firstRow[p];
            private long offset = firstByte[p];

            @Override
            public boolean hasNext() {
                return it.hasNext();
            }

            @Override
            public Tuple2<Long, String[]> next() {
                String[] r = it.next();
                Tuple2<Long, String[]> keyed = new Tuple2<>(((long) split(offset, size, splits) << ROW_BITS) | row, r);
                offset += lineBytes(r);
                row++;
                return keyed;
            }
        }, true).mapToPair(t -> t).repartitionAndSortWithinPartitions(new BySplit(Math.max(1, splits))).values();
    }

    /** Hadoop's split count for a file of {@code length} bytes (the last split may be 10% longer). */
    static int splitCount(long length, long size) {
        int n = 0;
        long remaining = length;
        while ((double) remaining / size > 1.1) {
            n++;
            remaining -= size;
        }
        return remaining > 0 ? n + 1 : n;
    }

    /**
     * The split whose reader returns the line starting at {@code offset}: a reader skips the line
     * its split starts inside of and reads on past its end to finish the last one, so split k
     * holds the lines starting in (k·size, (k+1)·size], split 0 the one at 0 too.
     */
    static int split(long offset, long size, int splits) {
        return offset == 0 ? 0 : (int) Math.min((offset - 1) / size, splits - 1);
    }

    /** Partitions shuffle keys (split, row) by their split; keys sort by row within one. */
    private static final class BySplit extends Partitioner {
        private final int splits;

        BySplit(int splits) {
            this.splits = splits;
        }

        @Override
        public int numPartitions() {
            return splits;
        }

        @Override
        public int getPartition(Object key) {
            return (int) ((Long) key >>> ROW_BITS);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof BySplit b && b.splits == splits;
        }

        @Override
        public int hashCode() {
            return splits;
        }
    }
}
