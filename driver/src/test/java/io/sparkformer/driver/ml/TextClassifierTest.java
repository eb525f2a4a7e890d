package io.sparkformer.driver.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.feature.SQLTransformer;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.Cli;
import io.sparkformer.driver.CliOutput;
import io.sparkformer.driver.SparkTestBase;

/**
 * The classifier stages on SST-2 rows: a Pipeline of a SQL statement and the classifier,
 * fine-tuning all-MiniLM-L6-v2 for a few steps on a DataFrame, saved and loaded; the loaded
 * model's predictions and probabilities equal the fitted one's bit for bit, and the classify
 * command's for the same checkpoint (to float rounding: it scores each row alone, without
 * padding). Every row, its order and its other columns are kept; labels come back as the
 * integers they were. Bad input is named.
 */
class TextClassifierTest extends SparkTestBase {
    @TempDir
    static Path tmp;

    /** The pipeline, fitted once for the class (a fit takes some 15 s). */
    private static PipelineModel fittedPipeline;

    private PipelineModel fittedPipeline() throws Exception {
        if (fittedPipeline == null) {
            Pipeline pipeline = new Pipeline().setStages(new PipelineStage[] {
                new SQLTransformer().setStatement("SELECT id, sentence AS text, label FROM __THIS__"), classifier()});
            fittedPipeline = pipeline.fit(sst2("train.tsv", 0, 192));
        }
        return fittedPipeline;
    }

    private SparkSession spark() {
        return SparkSession.builder().sparkContext(sc.sc()).getOrCreate();
    }

    /** SST-2 rows (sentence, label as an integer) with an id, from {@code file}'s lines [from, to). */
    private Dataset<Row> sst2(String file, int from, int to) throws Exception {
        List<String> lines = Files.readAllLines(shared().resolve("datasets/sst2/" + file)).subList(1 + from, 1 + to);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String[] f = lines.get(i).split("\t");
            rows.add(RowFactory.create((long) i, f[0], Integer.parseInt(f[1])));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType).add("sentence", DataTypes.StringType)
                .add("label", DataTypes.IntegerType);
        return spark().createDataFrame(rows, schema);
    }

    private TextClassifier classifier() {
        return new TextClassifier().setInitFrom(shared().resolve("pretrained/all-MiniLM-L6-v2").toString())
                .setSteps(6).setBatchSize(16).setMaxLength(32).setLearningRate(5e-5).setSeed(1)
                .setRunDir(tmp.resolve("run").toString())
                .setOverrides("train.warmup=1", "train.local_steps=3", "train.schedule=linear", "train.min_lr=0",
                        "eval.every=1000", "checkpoint.every=1000");
    }

    @Test
    void pipelineFitsSavesLoadsAndScoresAsTheClassifyCommand() throws Exception {
        PipelineModel fitted = fittedPipeline();
        Dataset<Row> dev = sst2("dev.tsv", 0, 96).repartition(3).sortWithinPartitions("id");
        List<Row> input = dev.collectAsList();
        Dataset<Row> scored = fitted.transform(dev);
        assertEquals(List.of("id", "text", "label", "prediction", "probability"), List.of(scored.schema().fieldNames()));
        assertEquals(DataTypes.IntegerType, scored.schema().apply("prediction").dataType());
        List<Row> first = scored.collectAsList();

        fitted.write().save(tmp.resolve("pipeline").toString());
        List<Row> again = PipelineModel.load(tmp.resolve("pipeline").toString()).transform(dev).collectAsList();

        TextClassificationModel model = (TextClassificationModel) fitted.stages()[1];
        Path texts = tmp.resolve("dev.txt");
        Files.write(texts, input.stream().map(r -> r.getString(1)).toList());
        String[] cli = stdout("classify", "--model", model.checkpoint(), "--input", texts.toString()).split("\n");
        assertEquals(input.size(), cli.length);

        ObjectMapper json = new ObjectMapper();
        double worst = 0;
        int agreeWithGold = 0;
        for (int i = 0; i < input.size(); i++) {
            Row in = input.get(i);
            Row a = first.get(i);
            Row b = again.get(i);
            assertEquals(in.getLong(0), a.getLong(0), "row order kept");
            assertEquals(in.getString(1), a.getString(1));
            assertEquals(in.getInt(2), a.getInt(2));
            assertEquals(a.get(3), b.get(3), "saved and loaded: the same prediction");
            assertArrayEquals(((Vector) a.get(4)).toArray(), ((Vector) b.get(4)).toArray(), 0.0, "the same probabilities");
            JsonNode line = json.readTree(cli[i]);
            assertEquals(String.valueOf(a.getInt(3)), line.get("label").asText(), "the classify command's label, row " + i);
            double[] p = ((Vector) a.get(4)).toArray();
            for (int k = 0; k < p.length; k++) {
                worst = Math.max(worst, Math.abs(p[k] - line.get("probabilities").get(model.labels().get(k)).asDouble()));
            }
            agreeWithGold += a.getInt(3) == in.getInt(2) ? 1 : 0;
        }
        System.out.printf("TextClassifier: %d dev rows, %d right after 6 steps; probabilities within %.1e of classify's%n",
                input.size(), agreeWithGold, worst);
        assertTrue(worst < 1e-5, "probabilities off by " + worst);

        // classify's large-input form: the same path through Spark, part files with the input's columns
        Path table = tmp.resolve("scored");
        stdout("classify", "--model", model.checkpoint(), "--input", texts.toString(), "--output", table.toString(),
                "--output-format", "json");
        List<String> written = new ArrayList<>();
        try (var parts = Files.list(table)) {
            for (Path part : parts.filter(p -> p.getFileName().toString().startsWith("part-")).sorted().toList()) {
                written.addAll(Files.readAllLines(part));
            }
        }
        assertEquals(input.size(), written.size());
        for (int i = 0; i < input.size(); i++) {
            JsonNode row = json.readTree(written.get(i));
            assertEquals(input.get(i).getString(1), row.get("text").asText(), "row order kept");
            assertEquals(String.valueOf(first.get(i).getInt(3)), row.get("prediction").asText());
            // other rows share its batches here (other padding): equal to float rounding
            assertEquals(((Vector) first.get(i).get(4)).apply(1), row.get("probability").get(1).asDouble(), 1e-6);
        }
        assertEquals(2, Cli.run("classify", "--model", model.checkpoint(), "--input", texts.toString(), "--output", table.toString()),
                "an --output that exists is refused");
    }

    @Test
    void nullTextsGetNullOutputsAndBadInputIsNamed() throws Exception {
        Dataset<Row> train = sst2("train.tsv", 0, 64).withColumnRenamed("sentence", "text");
        TextClassifier stage = classifier().setSteps(2).setRunDir(tmp.resolve("bad-input-run").toString());

        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> stage.copy(new org.apache.spark.ml.param.ParamMap()).setInputCol("review").fit(train));
        assertTrue(missing.getMessage().contains("'review'") && missing.getMessage().contains("[id, text, label]"), missing.getMessage());
        IllegalArgumentException wrongType = assertThrows(IllegalArgumentException.class,
                () -> stage.fit(train.withColumn("label", org.apache.spark.sql.functions.array(train.col("label")))));
        assertTrue(wrongType.getMessage().contains("'label' holds array<int>"), wrongType.getMessage());
        StructType doubles = stage.transformSchema(train.withColumn("label", train.col("label").cast("double")).schema());
        assertEquals(DataTypes.DoubleType, doubles.apply("label").dataType(), "Spark ML's double labels are taken");
        assertArrayEquals(new Object[] {0.0, 1.0, 2.5}, TextClassifier.labelValues(List.of("0.0", "1.0", "2.5"), DataTypes.DoubleType),
                "a double label's text (Spark's cast) parses back to the same value");
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class, () -> stage.fit(train.limit(0)));
        assertTrue(empty.getMessage().contains("no rows"), empty.getMessage());
        assertThrows(IllegalArgumentException.class, () -> stage.setBatchSize(0), "a bad param value fails at set time");
        RuntimeException wrongKey = assertThrows(RuntimeException.class,
                () -> stage.copy(new org.apache.spark.ml.param.ParamMap()).setOverrides("train.lrr=1e-4").fit(train));
        assertTrue(wrongKey.getMessage().contains("train.lrr") && wrongKey.getMessage().contains("'lr'"), wrongKey.getMessage());
        assertTrue(Files.notExists(tmp.resolve("bad-input-run")), "nothing written before the input is checked");

        TextClassificationModel model = (TextClassificationModel) fittedPipeline().stages()[1];
        List<Row> rows = List.of(RowFactory.create(1L, null, 0), RowFactory.create(2L, "", 1), RowFactory.create(3L, "a gem", 1));
        List<Row> out = model.transform(spark().createDataFrame(rows, train.schema())).collectAsList();
        assertEquals(3, out.size());
        assertNull(out.get(0).get(3));
        assertNull(out.get(0).get(4));
        assertNull(out.get(1).get(3));
        assertTrue(out.get(2).get(3) instanceof Integer);
        IllegalArgumentException notAGenerator = assertThrows(IllegalArgumentException.class,
                () -> new TextGenerator().setModelPath(model.checkpoint()).transform(train));
        assertTrue(notAGenerator.getMessage().contains("is a classifier"), notAGenerator.getMessage());

        Path saved = tmp.resolve("model");
        model.write().save(saved.toString());
        Path stageFile = saved.resolve("sparkformer-stage.json");
        Files.writeString(stageFile, Files.readString(stageFile).replace("\"format\":1", "\"format\":99"));
        IllegalArgumentException version = assertThrows(IllegalArgumentException.class, () -> TextClassificationModel.load(saved.toString()));
        assertTrue(version.getMessage().contains("format 99") && version.getMessage().contains(stageFile.getFileName().toString()),
                version.getMessage());
    }

    @Test
    void theGeneratorsParamsSaveLoadAndRefuseBadValues() throws Exception {
        spark(); // a session for Spark ML's writer
        TextGenerator stage = new TextGenerator().setModelPath("runs/m").setMethod("beam").setBeamWidth(6).setMaxTokens(30);
        stage.write().save(tmp.resolve("generator").toString());
        TextGenerator loaded = TextGenerator.load(tmp.resolve("generator").toString());
        assertEquals(stage.uid(), loaded.uid());
        assertEquals("beam", loaded.getOrDefault(loaded.method()));
        assertEquals(6, (int) loaded.getOrDefault(loaded.beamWidth()));
        assertEquals(30, (int) loaded.getOrDefault(loaded.maxTokens()));
        assertEquals("runs/m", loaded.getOrDefault(loaded.modelPath()));
        assertThrows(IllegalArgumentException.class, () -> stage.setMethod("nucleus"), "a bad param value fails at set time");
        assertThrows(IllegalArgumentException.class, () -> stage.setTopP(0));
    }

    private static String stdout(String... args) {
        return CliOutput.stdout(args).strip();
    }
}
