package io.sparkformer.driver.ml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.SparkTestBase;

/**
 * The language-model Estimator on the embedded grammar corpus as a DataFrame: a tiny causal model's
 * training loss falls, the fitted stage continues texts on the executors, saves and loads in a
 * Pipeline with the same outputs, and feeds a classifier; a masked model embeds. Bad input is named.
 */
class LanguageModelTest extends SparkTestBase {
    @TempDir
    static Path tmp;

    private static final String[] TINY = {"model.d_model=32", "model.n_heads=2", "model.n_layers=1", "model.d_ff=64",
        "model.max_len=32", "train.local_steps=10", "train.warmup=0", "eval.every=1000", "checkpoint.every=1000"};

    private Dataset<Row> corpus(int lines) throws Exception {
        Path root = Path.of(System.getProperty("sparkformer.root", ".."));
        List<String> texts = Files.readAllLines(root.resolve("datasets/grammar/corpus.txt")).subList(0, lines);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            rows.add(RowFactory.create((long) i, texts.get(i)));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType).add("text", DataTypes.StringType);
        return SparkSession.builder().sparkContext(sc.sc()).getOrCreate().createDataFrame(rows, schema);
    }

    private LanguageModelTrainer trainer(String run) {
        Path root = Path.of(System.getProperty("sparkformer.root", ".."));
        return new LanguageModelTrainer().setConfigFile(root.resolve("conf/default.yaml").toString())
                .setBatchSize(8).setMaxLength(32).setLearningRate(1e-2).setSeed(3).setRunDir(tmp.resolve(run).toString())
                .setOverrides(TINY);
    }

    @Test
    void aCausalModelLearnsContinuesSavesAndLoadsAndAMaskedOneEmbeds() throws Exception {
        Dataset<Row> train = corpus(2_000);
        PipelineModel fitted = new Pipeline().setStages(new PipelineStage[] {trainer("causal").setSteps(30)}).fit(train);
        List<Double> losses = new ArrayList<>();
        for (String line : Files.readAllLines(tmp.resolve("causal/metrics.jsonl"))) {
            losses.add(new ObjectMapper().readTree(line).get("train_loss").asDouble());
        }
        assertEquals(3, losses.size(), "30 steps in rounds of 10");
        assertTrue(losses.get(2) < losses.get(0) - 0.3, "the training loss falls: " + losses);

        Dataset<Row> prompts = train.limit(4).selectExpr("id", "substring(text, 1, 8) AS text");
        List<Row> first = fitted.transform(prompts).collectAsList();
        assertEquals(List.of("id", "text", "generated"), List.of(fitted.transform(prompts).schema().fieldNames()));
        assertEquals(4, first.size());
        fitted.write().save(tmp.resolve("pipeline").toString());
        List<Row> again = PipelineModel.load(tmp.resolve("pipeline").toString()).transform(prompts).collectAsList();
        for (int i = 0; i < first.size(); i++) {
            assertNotNull(first.get(i).getString(2));
            assertEquals(first.get(i), again.get(i), "saved and loaded: the same continuation, row " + i);
        }
        LanguageModel model = (LanguageModel) fitted.stages()[0];
        TextClassifier classifier = model.classifier();
        assertEquals(model.checkpoint(), classifier.getOrDefault(classifier.initFrom()), "it feeds a classifier");

        LanguageModel masked = trainer("masked").setObjective("masked").setSteps(10)
                .setOverrides(concat(TINY, "model.kind=encoder")).fit(train);
        List<Row> embedded = masked.transform(prompts).collectAsList();
        assertEquals(32, ((Vector) embedded.get(0).get(2)).size(), "a d_model-sized embedding");

        // and a classifier fine-tuned from it: its network, its tokenizer, a fresh head
        Dataset<Row> labelled = train.limit(400).selectExpr("text", "text LIKE '%dog%' AS label");
        TextClassificationModel classified = masked.classifier().setSteps(5).setBatchSize(8)
                .setRunDir(tmp.resolve("from-masked").toString()).setOverrides("train.local_steps=5", "eval.every=1000",
                        "checkpoint.every=1000", "train.warmup=0").fit(labelled);
        assertEquals(List.of("false", "true"), classified.labels());
        assertEquals(400, classified.transform(labelled).filter("prediction IS NOT NULL").count());
    }

    @Test
    void badParamsAndInputAreNamed() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> new LanguageModelTrainer().setObjective("autoregressive"),
                "a bad objective fails at set time");
        Dataset<Row> train = corpus(10);
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> trainer("bad").setInputCol("sentence").fit(train));
        assertTrue(missing.getMessage().contains("'sentence'") && missing.getMessage().contains("[id, text]"), missing.getMessage());
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class, () -> trainer("bad").fit(train.limit(0)));
        assertTrue(empty.getMessage().contains("no rows"), empty.getMessage());
        assertTrue(Files.notExists(tmp.resolve("bad")), "nothing written before the input is checked");
    }

    private static String[] concat(String[] a, String b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + 1);
        out[a.length] = b;
        return out;
    }
}
