package io.sparkformer.driver;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.models.TrainedModel;
import io.sparkformer.model.TransformerConfig;

/**
 * The recurrent baseline through the same driver: an LSTM language model trained by two averaged
 * workers learns a periodic text, its checkpoint loads, evaluates and generates that text, a run
 * cut after a checkpoint resumes to the unbroken run's weights, and an LSTM classifier learns the
 * labelled TSV of ClassificationTest.
 */
class RecurrentJobTest {
    @TempDir
    static Path tmp;
    private static final ObjectMapper JSON = new ObjectMapper();

    static String lmConfig(Path corpus, int steps) {
        return "name: periodic-lstm\nseed: 3\ndata:\n  inputs: [" + corpus + "]\n  shards: " + tmp.resolve("shards") + "\n"
                + "model: {kind: lstm, d_model: 48, n_layers: 1, max_len: 32}\n"
                + "train: {workers: 2, block_size: 32, batch_size: 8, steps: " + steps + ", local_steps: 10, warmup: 10,"
                + " lr: 1.0e-2, min_lr: 1.0e-3}\neval: {every: 2, batches: 4}\ncheckpoint: {every: 2}\n";
    }

    @BeforeAll
    static void train() throws Exception {
        Path corpus = tmp.resolve("c.txt");
        Files.writeString(corpus, ("the quick fox. ".repeat(4) + "\n").repeat(300));
        Files.writeString(tmp.resolve("job.yaml"), lmConfig(corpus, 120));
        assertEquals(Cli.OK, Cli.run("train", "--config", tmp.resolve("job.yaml").toString(), "--output",
                tmp.resolve("run").toString(), "--no-progress"));
    }

    @Test
    void twoAveragedWorkersTrainAnLstmWhoseCheckpointLoadsAndEvaluates() throws Exception {
        List<String> rows = Files.readAllLines(tmp.resolve("run/metrics.jsonl"));
        double first = JSON.readTree(rows.get(0)).get("train_loss").asDouble();
        JsonNode summary = JSON.readTree(tmp.resolve("run/summary.json").toFile());
        assertEquals(2, summary.get("workers").asInt());
        assertTrue(summary.get("best_val_loss").asDouble() < 0.3 * first, "validation " + summary + " from train loss " + first);

        TrainedModel m = TrainedModel.load(tmp.resolve("run").toString(), new Configuration());
        assertEquals(TransformerConfig.Kind.LSTM, m.model().config().kind());
        assertEquals(summary.get("parameters").asLong(), m.model().parameterCount());

        Path text = tmp.resolve("held-out.txt");
        Files.writeString(text, ("the quick fox. ".repeat(2) + "\n").repeat(20));
        Path report = tmp.resolve("eval.json");
        GenerateEvaluateTest.stdout("evaluate", "--model", tmp.resolve("run").toString(), "--data", text.toString(),
                "--output", report.toString());
        JsonNode r = JSON.readTree(report.toFile());
        assertTrue(r.get("loss").asDouble() < 0.5, r.toString());
        // greedy generation steps through Deeplearning4j's rnnTimeStep and continues the text it learned
        String continued = GenerateEvaluateTest.stdout("generate", "--model", tmp.resolve("run").toString(), "--text", "the quick",
                "--max-tokens", "20", "--no-eos-stop");
        assertTrue(continued.startsWith("the quick fox. the quick fox."), continued);
        assertEquals(2, Cli.run("attention", "--model", tmp.resolve("run").toString(), "--text", "the", "--output",
                tmp.resolve("a.png").toString()));
    }

    /** Tagged slow (scripts/test -Dgroups=slow): the transformer's resume stays in the default suite (ResumeAfterKillTest, FaultInjectionTest). */
    @Test
    @org.junit.jupiter.api.Tag("slow")
    void aRunCutAfterItsSecondRoundResumesToTheUnbrokenRunsWeights() throws Exception {
        Path corpus = tmp.resolve("c.txt");
        Path cfg = tmp.resolve("short.yaml");
        Files.writeString(cfg, lmConfig(corpus, 40).replace("checkpoint: {every: 2}", "checkpoint: {every: 1, keep: 0}"));
        Path unbroken = tmp.resolve("unbroken");
        assertEquals(Cli.OK, Cli.run("train", "--config", cfg.toString(), "--output", unbroken.toString(), "--no-progress"));
        // the same run as a crash after round 2 leaves it: later checkpoints gone, the pointer at round 2
        Path cut = tmp.resolve("cut");
        org.apache.commons.io.FileUtils.copyDirectory(unbroken.toFile(), cut.toFile());
        for (int round = 3; round <= 4; round++) {
            org.apache.commons.io.FileUtils.deleteDirectory(cut.resolve(String.format("checkpoints/round-%06d", round)).toFile());
        }
        Files.writeString(cut.resolve("latest"), "checkpoints/round-000002");
        Files.delete(cut.resolve("summary.json"));
        Files.deleteIfExists(cut.resolve("_SUCCESS"));
        assertEquals(Cli.OK, Cli.run("train", "--config", cfg.toString(), "--output", cut.toString(), "--no-progress", "--resume"));
        JsonNode summary = JSON.readTree(cut.resolve("summary.json").toFile());
        assertEquals(2, summary.get("resumed_from_round").asInt(), summary.toString());
        float[] expected = TrainedModel.load(unbroken.toString(), new Configuration()).model().parameters().flat().toFloatVector();
        float[] resumed = TrainedModel.load(cut.toString(), new Configuration()).model().parameters().flat().toFloatVector();
        assertArrayEquals(expected, resumed, "resumed weights bit-equal to the unbroken run's");
    }

    /**
     * Tagged slow (40 s; scripts/test -Dgroups=slow): the default suite keeps the LSTM classifier's
     * gradients (GradientCheckTest) and the transformer classifiers' runs (ClassificationTest).
     */
    @Test
    @org.junit.jupiter.api.Tag("slow")
    void anLstmClassifierLearnsTheLabelledSentences() throws Exception {
        Path train = ClassificationTest.tsvIn(tmp, "train.tsv", 2000, 1);
        Path dev = ClassificationTest.tsvIn(tmp, "dev.tsv", 200, 2);
        Path cfg = tmp.resolve("cls.yaml");
        Files.writeString(cfg, ClassificationTest.config(train, dev, "  shards: " + tmp.resolve("cls-shards") + "\n", "lstm"));
        Path run = tmp.resolve("cls-run");
        assertEquals(Cli.OK, Cli.run("train", "--config", cfg.toString(), "--output", run.toString(), "--no-progress"));
        Path report = tmp.resolve("cls-dev.json");
        GenerateEvaluateTest.stdout("evaluate", "--model", run.toString(), "--data", dev.toString(), "--output", report.toString());
        JsonNode r = JSON.readTree(report.toFile());
        assertTrue(r.get("accuracy").asDouble() >= 0.9, r.toString());
        TrainedModel m = TrainedModel.load(run.toString(), new Configuration());
        assertEquals(TransformerConfig.Pooling.LAST, m.model().config().pooling(), "auto: an lstm's last token");
        String out = GenerateEvaluateTest.stdout("classify", "--model", run.toString(), "--text", "the plot was great and short");
        assertEquals("pos", JSON.readTree(out.strip()).get("label").asText(), out);
    }
}
