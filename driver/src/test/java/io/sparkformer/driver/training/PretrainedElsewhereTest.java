package io.sparkformer.driver.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.Cli;
import io.sparkformer.driver.SparkTestBase;
import io.sparkformer.driver.models.PretrainedStart;
import io.sparkformer.driver.models.TextEncoder;
import io.sparkformer.model.BadFileException;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.io.Checkpoint;

/**
 * A Hugging Face checkpoint on a file system other than the driver's disk (HDFS, S3A; here the
 * test's elsewhere://) is read where it lies, by each JVM that needs it: on a cluster the workers
 * read their start themselves instead of the driver broadcasting it. The weights (as a worker
 * makes its start) and the tokenizer are the local directory's, and a fine-tuning runs from there.
 */
class PretrainedElsewhereTest {
    private static final Configuration CONF = new Configuration();
    @TempDir
    static Path tmp;
    private static Path local;
    private static String elsewhere;

    @BeforeAll
    static void checkpoint() {
        local = SparkTestBase.shared().resolve("pretrained/all-MiniLM-L6-v2");
        elsewhere = ElsewhereFileSystem.uri(local);
    }

    @Test
    void theWeightsAndTokenizerAreTheLocalDirectorysAndTheWorkersReadThem() throws Exception {
        PretrainedStart there = PretrainedStart.openIfHuggingFace(elsewhere, CONF);
        PretrainedStart here = PretrainedStart.openIfHuggingFace(local.toString(), CONF);
        assertEquals(here.checkpoint().config(), there.checkpoint().config());
        assertEquals(elsewhere, there.checkpoint().location());
        assertNull(there.checkpoint().directory(), "not on this machine's disk as far as the job knows");
        assertEquals(elsewhere + "/tokenizer.json", there.checkpoint().tokenizerFile());

        TransformerConfig model = here.checkpoint().config();
        float[] fromHere = new StartWeights(7, Transformer.Init.GPT2, local.toString()).read(model, CONF);
        float[] fromThere = new StartWeights(7, Transformer.Init.GPT2, elsewhere).read(model, CONF);
        assertArrayEquals(fromHere, fromThere, "the recipe a worker follows gives the same weights from either place");

        // on a cluster: the workers read a start on another file system; the driver's disk is not theirs
        assertTrue(new StartWeights(7, Transformer.Init.GPT2, elsewhere).readByWorkers(false, CONF));
        assertFalse(new StartWeights(7, Transformer.Init.GPT2, local.toString()).readByWorkers(false, CONF));
        assertTrue(new StartWeights(7, Transformer.Init.GPT2, local.toString()).readByWorkers(true, CONF), "local mode");
    }

    @Test
    void theInferenceStagesLoadItAsFromTheLocalDirectory() throws Exception {
        // what an executor of the embedding, classifying or generating stage loads (TextEncoder, TrainedModel)
        TextEncoder here = TextEncoder.load(local.toString(), CONF);
        TextEncoder there = TextEncoder.load(elsewhere, CONF);
        String text = "a gorgeous, witty, seductive movie.";
        assertArrayEquals(here.encode().apply(text), there.encode().apply(text), "the checkpoint's own tokenizer pipeline");
        assertArrayEquals(here.model().parameters().flat().toFloatVector(), there.model().parameters().flat().toFloatVector());
    }

    @Test
    void aDirectoryWithoutWeightsIsNamedElsewhereToo() throws Exception {
        Path noWeights = Files.createDirectories(tmp.resolve("no-weights"));
        Files.copy(local.resolve("config.json"), noWeights.resolve("config.json"));
        String uri = ElsewhereFileSystem.uri(noWeights);
        BadFileException e = assertThrows(BadFileException.class, () -> PretrainedStart.openIfHuggingFace(uri, CONF));
        assertTrue(e.getMessage().contains(uri) && e.getMessage().contains("model.safetensors"), e.getMessage());
        // an empty config.json, a config.json with a model_type no family reads, an empty weights file
        Path empty = Files.createDirectories(tmp.resolve("empty-config"));
        Files.write(empty.resolve("config.json"), new byte[0]);
        BadFileException emptyConfig = assertThrows(BadFileException.class,
                () -> PretrainedStart.openIfHuggingFace(ElsewhereFileSystem.uri(empty), CONF));
        assertTrue(emptyConfig.getMessage().contains(ElsewhereFileSystem.uri(empty) + "/config.json"), emptyConfig.getMessage());
        Path wrongKey = Files.createDirectories(tmp.resolve("wrong-type"));
        Files.writeString(wrongKey.resolve("config.json"), Files.readString(local.resolve("config.json"))
                .replace("\"model_type\": \"bert\"", "\"model_type\": \"t5\""));
        BadFileException wrongType = assertThrows(BadFileException.class,
                () -> PretrainedStart.openIfHuggingFace(ElsewhereFileSystem.uri(wrongKey), CONF));
        assertTrue(wrongType.getMessage().contains(ElsewhereFileSystem.uri(wrongKey) + "/config.json")
                && wrongType.getMessage().contains("model_type \"t5\""), wrongType.getMessage());
        Files.write(noWeights.resolve("model.safetensors"), new byte[0]);
        java.io.IOException emptyWeights = assertThrows(java.io.IOException.class, () -> PretrainedStart.openIfHuggingFace(uri, CONF));
        assertTrue(emptyWeights.getMessage().contains(uri + "/model.safetensors") && emptyWeights.getMessage().contains("0 bytes"),
                emptyWeights.getMessage());
        assertNull(PretrainedStart.openIfHuggingFace(ElsewhereFileSystem.uri(tmp), CONF), "no config.json: not Hugging Face's");
        assertFalse(PretrainedStart.isHuggingFace(ElsewhereFileSystem.uri(tmp), CONF));
        // a scheme no file system serves: bad input naming the path, not a stack trace
        ConfigException unknown = assertThrows(ConfigException.class, () -> PretrainedStart.isHuggingFace("hdsf://x/model", CONF));
        assertTrue(unknown.getMessage().startsWith("hdsf://x/model: cannot be read"), unknown.getMessage());
    }

    @Test
    void aFineTuningStartsFromElsewhereWithItsTokenizerAndNoBroadcast() throws Exception {
        List<String> rows = Files.readAllLines(SparkTestBase.shared().resolve("datasets/sst2/train.tsv"));
        Path train = Files.write(tmp.resolve("train.tsv"), rows.subList(0, 65));
        Path config = Path.of(System.getProperty("sparkformer.root", "..")).resolve("conf/sst2-minilm.yaml");
        Path run = tmp.resolve("run");
        assertEquals(Cli.OK, Cli.run("train", "--config", config.toString(), "--init-from", elsewhere, "--output", run.toString(),
                "--no-progress", "--set", "data.inputs=[" + train + "]", "--set", "data.validation=[]",
                "--set", "data.validation_fraction=0.1", "--set", "train.steps=2", "--set", "train.warmup=1",
                "--set", "eval.batches=1", "--set", "train.batch_size=8"));
        String saved = Files.readString(run.resolve("config.yaml"));
        assertTrue(saved.contains(elsewhere + "/tokenizer.json"), "the checkpoint's own tokenizer: " + saved);
        List<String> metrics = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertFalse(metrics.isEmpty());
        for (String line : metrics) {
            assertEquals(0, new ObjectMapper().readTree(line).get("sync_bytes_driver").asLong(), line);
        }
        String latest = Files.readString(run.resolve("latest")).trim();
        TransformerConfig tuned = Checkpoint.loadModel(run.resolve(latest), DataType.FLOAT).config();
        assertTrue(tuned.isClassifier() && tuned.dModel() == 384, "a classifier over the checkpoint's network: " + tuned.toMap());
    }
}
