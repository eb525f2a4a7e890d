package io.sparkformer.driver.corpus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.sparkformer.driver.SparkTestBase;
import io.sparkformer.worker.batches.Task;
import io.sparkformer.worker.shards.Manifest;

/** Parquet, JSON and a catalog table give the shards of the text file made from the same rows. */
class TableSourceTest extends SparkTestBase {
    @TempDir
    Path tmp;

    /** Rows of varying length, with empty ones and characters of 2, 3 and 4 UTF-8 bytes. */
    private static List<String> rows(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        String[] words = {"the", "quick", "brown", "fox", "jumps", "über", "naïve", "日本語", "😀", "", "a,b", "lazy"};
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            StringBuilder s = new StringBuilder();
            int len = rnd.nextInt(40);
            for (int j = 0; j < len; j++) {
                s.append(j == 0 ? "" : " ").append(words[rnd.nextInt(words.length)]);
            }
            out.add(s.toString());
        }
        return out;
    }

    private static SparkSession spark() {
        return SparkSession.builder().sparkContext(sc.sc()).getOrCreate();
    }

    private static List<String> shardSums(CorpusBuilder.Corpus c) throws IOException {
        List<String> out = new ArrayList<>();
        for (String split : List.of("train", "validation")) {
            for (Manifest.Shard s : c.manifest().split(split).shards()) {
                out.add(split + " " + s.file() + " " + s.tokens() + " " + s.sha256());
            }
        }
        return out;
    }

    private CorpusSpec spec(Task task, List<String> inputs, String format, List<String> columns, String out) {
        return new CorpusSpec(task, inputs, List.of(), 0.1, "char", 0, false, tmp.resolve(out).toString(),
                CorpusSpec.DEFAULT_SPLIT_BYTES, CorpusSpec.Format.valueOf(format.toUpperCase(java.util.Locale.ROOT)), columns, false);
    }

    @Test
    void parquetJsonAndACatalogTableGiveTheShardsOfTheirTextFile() throws IOException {
        List<String> rows = rows(12_000, 1);
        Path text = tmp.resolve("corpus.txt");
        Files.writeString(text, String.join("\n", rows) + "\n", StandardCharsets.UTF_8);
        StructType schema = new StructType().add("id", DataTypes.IntegerType).add("text", DataTypes.StringType);
        List<Row> data = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            data.add(RowFactory.create(i, rows.get(i)));
        }
        var df = spark().createDataFrame(data, schema).coalesce(1);
        String parquet = tmp.resolve("corpus.parquet").toString();
        String json = tmp.resolve("corpus.json").toString();
        df.write().parquet(parquet);
        df.write().json(json);
        spark().sql("CREATE TABLE corpus_rows USING parquet LOCATION '" + parquet + "'");

        // three splits of the ~700 kB text: shards cut inside rows of multi-byte characters
        CorpusBuilder builder = new CorpusBuilder(sc, 3);
        CorpusBuilder.Corpus fromText = builder.build(spec(Task.CAUSAL_LM, List.of(text.toString()), "text", List.of(), "t"));
        assertEquals(3, fromText.manifest().split("train").shards().size(), shardSums(fromText).toString());
        List<String> expected = shardSums(fromText);
        for (var source : List.of(List.of("parquet", parquet), List.of("json", json), List.of("table", "corpus_rows"))) {
            CorpusBuilder.Corpus c = builder.build(spec(Task.CAUSAL_LM, List.of(source.get(1)), source.get(0), List.of("text"),
                    source.get(0)));
            assertEquals(expected, shardSums(c), source.get(0));
            assertEquals(fromText.tokenizer().fingerprint(), c.tokenizer().fingerprint(), source.get(0));
        }
    }

    @Test
    void pairsFromParquetColumnsAreThePairsOfTheirTsvFile() throws IOException {
        List<String> src = rows(6_000, 2);
        List<String> tgt = rows(6_000, 3);
        StringBuilder tsv = new StringBuilder();
        List<Row> data = new ArrayList<>();
        for (int i = 0; i < src.size(); i++) {
            tsv.append(src.get(i)).append('\t').append(tgt.get(i)).append('\n');
            data.add(RowFactory.create(src.get(i), tgt.get(i)));
        }
        Path text = tmp.resolve("pairs.tsv");
        Files.writeString(text, tsv, StandardCharsets.UTF_8);
        StructType schema = new StructType().add("de", DataTypes.StringType).add("en", DataTypes.StringType);
        String parquet = tmp.resolve("pairs.parquet").toString();
        spark().createDataFrame(data, schema).coalesce(1).write().parquet(parquet);

        CorpusBuilder builder = new CorpusBuilder(sc, 3);
        CorpusBuilder.Corpus fromTsv = builder.build(spec(Task.SEQ2SEQ, List.of(text.toString()), "tsv", List.of(), "tsv"));
        CorpusBuilder.Corpus fromParquet = builder.build(spec(Task.SEQ2SEQ, List.of(parquet), "parquet", List.of("de", "en"), "pq"));
        assertTrue(fromTsv.manifest().split("train").shards().size() >= 2);
        assertEquals(shardSums(fromTsv), shardSums(fromParquet));
        assertEquals(6_000, fromParquet.manifest().split("train").records());
    }

    @Test
    void aClassifierReadsIntegerLabelsFromParquetAsItsTsvFileSpellsThem() throws IOException {
        List<String> texts = rows(3_000, 4);
        StringBuilder tsv = new StringBuilder();
        List<Row> data = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            int label = texts.get(i).length() % 3 == 0 ? 10 : i % 2; // numeric order: 0, 1, 10
            tsv.append(texts.get(i)).append('\t').append(label).append('\n');
            data.add(RowFactory.create(texts.get(i), label));
        }
        Path text = tmp.resolve("labelled.tsv");
        Files.writeString(text, tsv, StandardCharsets.UTF_8);
        StructType schema = new StructType().add("sentence", DataTypes.StringType).add("label", DataTypes.IntegerType);
        String parquet = tmp.resolve("labelled.parquet").toString();
        spark().createDataFrame(data, schema).coalesce(1).write().parquet(parquet);

        CorpusBuilder builder = new CorpusBuilder(sc, 2);
        CorpusBuilder.Corpus fromTsv = builder.build(spec(Task.CLASSIFICATION, List.of(text.toString()), "tsv", List.of(), "ctsv"));
        CorpusBuilder.Corpus fromParquet = builder.build(spec(Task.CLASSIFICATION, List.of(parquet), "parquet",
                List.of("sentence", "label"), "cpq"));
        assertEquals(List.of("0", "1", "10"), fromTsv.manifest().labels());
        assertEquals(fromTsv.manifest().labels(), fromParquet.manifest().labels());
        assertEquals(shardSums(fromTsv), shardSums(fromParquet));
        assertEquals(3_000, fromParquet.manifest().split("train").records());

        // Spark ML's labels are doubles: named as Spark spells them, in the same order, the same shards
        String doubles = tmp.resolve("labelled-double.parquet").toString();
        spark().read().parquet(parquet).withColumn("label", org.apache.spark.sql.functions.col("label").cast("double"))
                .write().parquet(doubles);
        CorpusBuilder.Corpus fromDoubles = builder.build(spec(Task.CLASSIFICATION, List.of(doubles), "parquet",
                List.of("sentence", "label"), "cpqd"));
        assertEquals(List.of("0.0", "1.0", "10.0"), fromDoubles.manifest().labels());
        assertEquals(shardSums(fromTsv), shardSums(fromDoubles));
    }

    @Test
    void aMissingOrNonTextColumnIsNamed() {
        StructType schema = new StructType().add("id", DataTypes.IntegerType).add("body", DataTypes.StringType);
        String parquet = tmp.resolve("bad.parquet").toString();
        spark().createDataFrame(List.of(RowFactory.create(1, "x")), schema).write().parquet(parquet);
        CorpusBuilder builder = new CorpusBuilder(sc, 1);
        CorpusException e = assertThrows(CorpusException.class,
                () -> builder.build(spec(Task.CAUSAL_LM, List.of(parquet), "parquet", List.of("text"), "a")));
        assertTrue(e.getMessage().startsWith("data.column: ") && e.getMessage().contains("[id, body]"), e.getMessage());
        e = assertThrows(CorpusException.class,
                () -> builder.build(spec(Task.CAUSAL_LM, List.of(parquet), "parquet", List.of("id"), "b")));
        assertTrue(e.getMessage().contains("holds int, not text"), e.getMessage());
    }

    @Test
    void splitsFollowHadoopsLineRule() {
        // split k holds the lines starting in (k·size, (k+1)·size]; the last split takes up to 10% more
        assertEquals(0, TableSource.split(0, 100, 3));
        assertEquals(0, TableSource.split(100, 100, 3));
        assertEquals(1, TableSource.split(101, 100, 3));
        assertEquals(2, TableSource.split(305, 100, 3));
        assertEquals(3, TableSource.splitCount(305, 100));
        assertEquals(4, TableSource.splitCount(311, 100));
        assertEquals(1, TableSource.splitCount(110, 100));
    }
}
