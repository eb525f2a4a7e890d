package io.sparkformer.driver.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.sparkformer.driver.SparkTestBase;
import io.sparkformer.driver.models.TextEncoder;
import io.sparkformer.model.inference.SentenceEmbedder;

/**
 * The embedding stage on a DataFrame of SST-2 phrases with all-MiniLM-L6-v2, in 3 partitions: the
 * same row count, order and other columns, each embedding the one embed computes for its text
 * alone, a null text a null embedding; the stage saves and loads; a missing column is named with
 * the ones present.
 */
class TextEmbedderTest extends SparkTestBase {
    @TempDir
    Path tmp;

    @Test
    void embedsEveryRowInPlaceKeepingTheOtherColumns() throws Exception {
        Path model = shared().resolve("pretrained/all-MiniLM-L6-v2");
        List<String> phrases = Files.readAllLines(shared().resolve("datasets/sst2/train.tsv")).subList(1, 121).stream()
                .map(l -> l.split("\t")[0]).toList();
        SparkSession spark = SparkSession.builder().sparkContext(sc.sc()).getOrCreate();
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < phrases.size(); i++) {
            rows.add(RowFactory.create((long) i, i == 7 ? null : phrases.get(i), i % 2 == 0));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType)
                .add("even", DataTypes.BooleanType);
        Dataset<Row> df = spark.createDataFrame(rows, schema).repartition(3).sortWithinPartitions("id");
        List<Row> input = df.collectAsList();
        TextEmbedder stage = new TextEmbedder().setModelPath(model.toString()).setNormalize(true).setBatchSize(16);
        Dataset<Row> out = stage.transform(df);
        List<Row> got = out.collectAsList();
        assertEquals(List.of("id", "text", "even", "embedding"), List.of(out.schema().fieldNames()));
        assertEquals(input.size(), got.size());
        TextEncoder encoder = TextEncoder.load(model.toString(), new Configuration());
        SentenceEmbedder alone = new SentenceEmbedder(encoder.model());
        double worst = 0;
        for (int i = 0; i < got.size(); i++) {
            Row in = input.get(i);
            Row row = got.get(i);
            assertEquals(in.getLong(0), row.getLong(0), "order kept");
            assertEquals(in.get(1), row.get(1));
            assertEquals(in.getBoolean(2), row.getBoolean(2));
            if (in.isNullAt(1)) {
                assertNull(row.get(3), "a null text, a null embedding");
                continue;
            }
            if (i % 10 == 0) { // a sample, each embedded alone (no padding)
                double[] want = alone.embed(List.of(encoder.encode().apply(in.getString(1))), true, 1)[0];
                double[] have = ((Vector) row.get(3)).toArray();
                assertEquals(384, have.length);
                for (int k = 0; k < want.length; k++) {
                    worst = Math.max(worst, Math.abs(want[k] - have[k]));
                }
            }
        }
        System.out.printf("TextEmbedder: %d rows, embeddings within %.1e of each text embedded alone%n", got.size(), worst);
        assertTrue(worst < 1e-5, "off by " + worst);

        String saved = tmp.resolve("stage").toString();
        stage.write().save(saved);
        TextEmbedder loaded = TextEmbedder.load(saved);
        assertEquals(stage.uid(), loaded.uid());
        assertEquals(stage.getOrDefault(stage.modelPath()), loaded.getOrDefault(loaded.modelPath()));
        assertEquals(got.get(3).get(3), loaded.transform(df).collectAsList().get(3).get(3));

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TextEmbedder().setModelPath(model.toString()).setInputCol("sentence").transform(df));
        assertTrue(e.getMessage().contains("sentence") && e.getMessage().contains("[id, text, even]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new TextEmbedder().setBatchSize(0));
    }
}
