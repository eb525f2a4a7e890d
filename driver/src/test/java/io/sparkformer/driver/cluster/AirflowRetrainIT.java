package io.sparkformer.driver.cluster;

import static io.sparkformer.driver.cluster.ClusterProcesses.root;
import static io.sparkformer.driver.cluster.ClusterProcesses.run;
import static io.sparkformer.driver.cluster.ClusterProcesses.tail;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The scheduled retraining, run the way the Airflow DAG runs it: the DAG file compiles, and the
 * exact spark-submit lines it builds (printed by scripts/airflow/retrain_commands.py, which the DAG
 * imports) run here with scripts/spark-submit in local mode, for two logical dates and a rerun.
 */
@Tag("cluster")
class AirflowRetrainIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void dailyRetrainingWarmStartsPromotesOnlyBetterModelsAndRerunsIdempotently() throws Exception {
        Path airflow = root().resolve("scripts/airflow");
        Path compileLog = tmp.resolve("py_compile.log");
        int code = run(List.of("python3", "-c", "import py_compile, sys; [py_compile.compile(f, cfile='" + tmp
                + "/c.pyc', doraise=True) for f in sys.argv[1:]]", airflow.resolve("sparkformer_retrain.py").toString(),
                airflow.resolve("retrain_commands.py").toString()), Map.of(), compileLog, 60);
        assertEquals(0, code, "the DAG does not compile:\n" + tail(compileLog));

        // two days of new data and a fixed validation set, cut from the embedded corpus
        List<String> sentences = Files.readAllLines(root().resolve("datasets/grammar/corpus.txt"), StandardCharsets.UTF_8);
        Path data = tmp.resolve("landing");
        write(data.resolve("2026-11-01/part-0.txt"), sentences.subList(0, 6000));
        write(data.resolve("2026-11-02/part-0.txt"), sentences.subList(6000, 12000));
        Path validation = tmp.resolve("validation.txt");
        write(validation, sentences.subList(36000, 40000));
        Path config = tmp.resolve("retrain.yaml");
        Files.writeString(config, "name: retrain\nseed: 7\n"
                + "data: {task: causal_lm, tokenizer: char, validation: [" + validation + "], shards: " + tmp.resolve("shards") + "}\n"
                + "model: {kind: decoder, d_model: 48, n_heads: 2, n_layers: 2, d_ff: 96, max_len: 32}\n"
                + "train: {workers: 2, batch_size: 8, block_size: 32, steps: 60, local_steps: 4, warmup: 5, lr: 3.0e-3,"
                + " min_lr: 3.0e-4}\n"
                + "eval: {every: 5, batches: 20}\ncheckpoint: {every: 5}\n");

        Map<String, String> env = new HashMap<>();
        env.put("SPARKFORMER_JOB_JAR", System.getProperty("job.jar"));
        env.put("SPARKFORMER_CONFIG", config.toString());
        env.put("SPARKFORMER_DATA_ROOT", data.toString());
        env.put("SPARKFORMER_RUNS_ROOT", tmp.resolve("runs").toString());
        env.put("SPARKFORMER_MODELS", tmp.resolve("models").toString());
        Path models = tmp.resolve("models");

        // day 1: nothing promoted yet, so it trains from scratch and becomes current
        JsonNode day1 = runDay("2026-11-01", env, "day1");
        assertTrue(day1.get("train").asText().contains("no model promoted"), day1.get("train").asText());
        JsonNode decision1 = decision("2026-11-01");
        assertEquals("promoted", decision1.get("decision").asText());
        JsonNode current1 = JSON.readTree(models.resolve("current").toFile());
        assertEquals(tmp.resolve("runs/2026-11-01/checkpoints/round-000015").toString(), current1.get("checkpoint").asText());
        byte[] model1 = Files.readAllBytes(tmp.resolve("runs/2026-11-01/checkpoints/round-000015/model.safetensors"));

        // rerun of day 1: the finished run is left alone and the pointer does not move
        JsonNode again = runDay("2026-11-01", env, "day1-rerun");
        assertTrue(again.get("train").asText().contains("already finished"), again.get("train").asText());
        assertTrue(again.get("promote").asText().contains("already current"), again.get("promote").asText());
        assertArrayEquals(model1, Files.readAllBytes(tmp.resolve("runs/2026-11-01/checkpoints/round-000015/model.safetensors")));
        assertEquals(current1, JSON.readTree(models.resolve("current").toFile()));

        // day 2: warm start from day 1's model, promoted only if it scores lower on the same set
        JsonNode day2 = runDay("2026-11-02", env, "day2");
        assertTrue(day2.get("train").asText().contains("warm start from " + current1.get("checkpoint").asText()),
                day2.get("train").asText());
        JsonNode decision2 = decision("2026-11-02");
        double loss1 = decision1.get("candidate").get("val_loss").asDouble();
        double loss2 = decision2.get("candidate").get("val_loss").asDouble();
        assertEquals(loss1, decision2.get("current").get("val_loss").asDouble());
        assertEquals(loss2 < loss1 ? "promoted" : "kept", decision2.get("decision").asText());
        String expected = loss2 < loss1 ? tmp.resolve("runs/2026-11-02/checkpoints/round-000015").toString()
                : current1.get("checkpoint").asText();
        assertEquals(expected, JSON.readTree(models.resolve("current").toFile()).get("checkpoint").asText());
        System.out.printf("retraining: day 1 validation loss %.4f, day 2 (warm start) %.4f: %s%n", loss1, loss2,
                decision2.get("decision").asText());
        assertEquals(3, Files.readAllLines(models.resolve("promotions.jsonl")).size());
    }

    /** Runs the DAG's two lines for one date; returns each one's output. */
    private JsonNode runDay(String ds, Map<String, String> env, String label) throws Exception {
        Path printed = tmp.resolve(label + "-commands.json");
        int code = run(List.of("python3", root().resolve("scripts/airflow/retrain_commands.py").toString(), "--ds", ds,
                "--master", "local[2]", "--spark-submit", root().resolve("scripts/spark-submit").toString()), env, printed, 60);
        assertEquals(0, code, tail(printed));
        JsonNode commands = JSON.readTree(printed.toFile());
        var out = JSON.createObjectNode();
        for (String task : List.of("train", "promote")) {
            List<String> line = new ArrayList<>();
            commands.get(task).forEach(a -> line.add(a.asText()));
            Path log = tmp.resolve(label + "-" + task + ".log");
            code = run(line, env, log, 600);
            assertEquals(0, code, String.join(" ", line) + " failed:\n" + tail(log));
            out.put(task, Files.readString(log));
        }
        return out;
    }

    private JsonNode decision(String ds) throws Exception {
        return JSON.readTree(tmp.resolve("runs").resolve(ds).resolve("promotion.json").toFile());
    }

    private static void write(Path file, List<String> lines) throws Exception {
        Files.createDirectories(file.getParent());
        Files.write(file, lines, StandardCharsets.UTF_8);
    }
}
