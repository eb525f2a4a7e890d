package io.sparkformer.driver.cluster;

import static io.sparkformer.driver.cluster.ClusterProcesses.freePort;
import static io.sparkformer.driver.cluster.ClusterProcesses.maxRelativeDifference;
import static io.sparkformer.driver.cluster.ClusterProcesses.pids;
import static io.sparkformer.driver.cluster.ClusterProcesses.root;
import static io.sparkformer.driver.cluster.ClusterProcesses.run;
import static io.sparkformer.driver.cluster.ClusterProcesses.tail;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.driver.corpus.HadoopFiles;

/**
 * The path a user takes on a real cluster, on this machine: scripts/cluster/cluster starts HDFS and a
 * two-worker standalone Spark cluster, the corpus goes onto HDFS, the job jar is submitted and
 * checkpoints to HDFS. The same job runs first in local mode with two partitions; the job on the
 * cluster loses an executor JVM (SIGKILL) in the middle of a round, resumes, and its final weights
 * must equal local mode's bit for bit. The run that loses nothing, and the loss under train.sync
 * driver, are tagged slow (scripts/test -Dgroups=slow,cluster): every round of the default suite's
 * run already ran on the cluster, before the kill or after it.
 */
@Tag("cluster")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class StandaloneClusterIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path WORK = root().resolve("driver/target/it/standalone");
    private static final Map<String, String> ENV = new java.util.HashMap<>();
    private static final Configuration CONF = new Configuration();
    private static String hdfs;
    /** The final weights of the job in local mode with two partitions, which every cluster run must equal. */
    private static String localModel;

    @BeforeAll
    static void startCluster() throws Exception {
        if (Files.exists(WORK)) {
            try (var paths = Files.walk(WORK)) {
                paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        Files.createDirectories(WORK);
        ENV.put("SPARKFORMER_CLUSTER_DIR", WORK.resolve("cluster").toString());
        ENV.put("SPARKFORMER_MASTER_PORT", Integer.toString(freePort()));
        ENV.put("SPARKFORMER_MASTER_UI_PORT", Integer.toString(freePort()));
        int hdfsPort = freePort();
        ENV.put("SPARKFORMER_HDFS_PORT", Integer.toString(hdfsPort));
        hdfs = "hdfs://127.0.0.1:" + hdfsPort;
        Path log = WORK.resolve("cluster-start.log");
        int code = run(List.of("scripts/cluster/cluster", "start", "--workers", "2", "--worker-memory", "3g"), ENV, log, 600);
        assertEquals(0, code, "cluster start failed:\n" + tail(log));

        // the corpus goes onto HDFS as a user's would
        try (FileSystem fs = FileSystem.newInstance(URI.create(hdfs), CONF)) {
            fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(root().resolve("datasets/grammar/corpus.txt").toString()),
                    new org.apache.hadoop.fs.Path(hdfs + "/corpus/grammar.txt"));
        }

        // the same job in local mode with two partitions, shards built on the local disk
        Path local = WORK.resolve("local");
        Path localLog = WORK.resolve("submit-local.log");
        List<String> cmd = new ArrayList<>(List.of("scripts/spark-submit", "--master", "local[2]",
                "--class", "io.sparkformer.driver.Cli", System.getProperty("job.jar")));
        cmd.addAll(job(local.resolve("run").toString(), local.resolve("shards").toString()));
        code = run(cmd, ENV, localLog, 900);
        assertEquals(0, code, "local job failed:\n" + tail(localLog));
        localModel = finalModel(local.resolve("run").toString());
        // its shards onto HDFS, where the cluster runs find them (the same inputs and settings: reused)
        try (FileSystem fs = FileSystem.newInstance(URI.create(hdfs), CONF)) {
            fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(local.resolve("shards").toString()),
                    new org.apache.hadoop.fs.Path(hdfs + "/shards/grammar"));
        }
    }

    @AfterAll
    static void stopCluster() throws Exception {
        Path log = WORK.resolve("cluster-stop.log");
        int code = run(List.of("scripts/cluster/cluster", "stop"), ENV, log, 120);
        assertEquals(0, code, "cluster stop failed:\n" + tail(log));
        assertTrue(pids("CoarseGrainedExecutorBackend", WORK.toString()).isEmpty(), "executors left running");
    }

    /** The job: the default config, two workers, eight rounds with checkpoints after rounds 4 and 8; inputs on HDFS. */
    private static List<String> job(String output, String shards) {
        return List.of("train", "--no-progress", "--output", output,
                "--set", "data.inputs=[" + hdfs + "/corpus/grammar.txt]", "--set", "data.shards=" + shards,
                "--set", "train.workers=2", "--set", "train.steps=64", "--set", "train.local_steps=8",
                "--set", "eval.every=4", "--set", "eval.batches=10", "--set", "checkpoint.every=4");
    }

    private static List<String> submit(List<String> sparkOptions, List<String> job) {
        List<String> cmd = new ArrayList<>(List.of("scripts/cluster/cluster", "submit", "--conf", "spark.executor.memory=1g"));
        cmd.addAll(sparkOptions);
        cmd.add("--");
        cmd.addAll(job);
        return cmd;
    }

    private static String finalModel(String run) throws Exception {
        assertTrue(HadoopFiles.exists(run + "/_SUCCESS", CONF), run + " has no _SUCCESS");
        JsonNode summary = JSON.readTree(HadoopFiles.read(run + "/summary.json", CONF));
        assertEquals(2, summary.get("workers").asInt());
        assertEquals(64, summary.get("steps").asInt());
        String latest = new String(HadoopFiles.read(run + "/latest", CONF), StandardCharsets.UTF_8).trim();
        assertEquals("checkpoints/round-000008", latest);
        return run + "/" + latest + "/model.safetensors";
    }

    @Test
    @Tag("slow")
    @Order(1)
    void jobOnStandaloneClusterEqualsLocalMode() throws Exception {
        String run = hdfs + "/runs/cluster";
        Path log = WORK.resolve("submit-cluster.log");
        int code = run(submit(List.of(), job(run, hdfs + "/shards/grammar")), ENV, log, 900);
        assertEquals(0, code, "cluster job failed:\n" + tail(log));
        String out = Files.readString(log);
        assertTrue(out.contains("worker 1 runs on"), "executors report their memory and thread settings:\n" + tail(log));
        double diff = maxRelativeDifference(localModel, finalModel(run), CONF);
        System.out.println("standalone vs local[2]: max relative weight difference " + diff);
        assertEquals(0.0, diff, "standalone and local weights must be bit-equal (tasks of one core each on both)");
    }

    /**
     * The same loss under train.sync driver, whose round is a plain stage that Spark reruns on a
     * fresh executor: 0.0 from local mode on most runs, 1.7e-6 (relative) on one of 2026-12-01
     * (docs/native.md), hence its bound. Tagged slow: the default suite keeps the default sync's
     * variant below, within its 15 minutes.
     */
    @Test
    @Tag("slow")
    @Order(2)
    void executorKilledMidRoundGivesTheSameWeights() throws Exception {
        killAnExecutorMidRound("executor-killed", List.of("--set", "train.sync=driver"), 4, 1e-5);
    }

    /**
     * train.sync allreduce runs each round as a barrier stage, which Spark does not rerun after a
     * lost executor: the trainer resumes from the last checkpoint, and the weights end bit-equal
     * to local mode's (0.0).
     */
    @Test
    @Order(3)
    void executorKilledInAnAllReduceRoundResumesWithTheSameWeights() throws Exception {
        // past round 4's checkpoint (its report task and six rounds done): there is one to resume from,
        // and two rounds left to kill in
        killAnExecutorMidRound("executor-killed-allreduce", List.of("--set", "train.sync=allreduce"), 7, 0.0);
    }

    /**
     * Runs the job with {@code settings}, kills an executor inside a task once one has done {@code
     * tasksBefore}, and asks for local mode's weights within {@code bound} (relative).
     */
    private void killAnExecutorMidRound(String name, List<String> settings, int tasksBefore, double bound) throws Exception {
        String run = hdfs + "/runs/" + name;
        int uiPort = freePort();
        Path log = WORK.resolve("submit-" + name + ".log");
        List<String> jobArgs = new ArrayList<>(job(run, hdfs + "/shards/grammar"));
        jobArgs.addAll(settings);
        Process job = ClusterProcesses.start(submit(List.of("--conf", "spark.ui.port=" + uiPort), jobArgs), ENV, log);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        String api = "http://127.0.0.1:" + uiPort + "/api/v1/applications";
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
        boolean taskLost = false;
        int kills = 0;
        String appId = null;
        // Kill an executor while it runs a task, then watch Spark count the lost task; a kill that
        // lands between rounds loses no task, so try again on a later round (at most three times).
        while (job.isAlive() && !taskLost && kills < 3 && System.nanoTime() < deadline) {
            JsonNode apps = get(http, api);
            if (apps == null || apps.isEmpty()) {
                Thread.sleep(200); // polling until the driver's status API is up
                continue;
            }
            appId = apps.get(0).get("id").asText();
            JsonNode executors = get(http, api + "/" + appId + "/executors");
            for (JsonNode e : executors == null ? JSON.createArrayNode() : executors) {
                String id = e.get("id").asText();
                // past the executor report and the first rounds, inside a task now
                if (!"driver".equals(id) && e.get("activeTasks").asInt() > 0 && e.get("completedTasks").asInt() >= tasksBefore) {
                    List<Long> pid = pids("CoarseGrainedExecutorBackend", "--executor-id " + id + " ", appId);
                    assertEquals(1, pid.size(), "one process for executor " + id);
                    ProcessHandle.of(pid.get(0)).ifPresent(ProcessHandle::destroyForcibly); // SIGKILL
                    kills++;
                    taskLost = awaitFailedTask(http, api + "/" + appId + "/stages", job);
                    break;
                }
            }
            Thread.sleep(50); // polling interval
        }
        assertTrue(job.waitFor(10, TimeUnit.MINUTES), "the job did not finish:\n" + tail(log));
        assertEquals(0, job.exitValue(), "the job failed after losing an executor:\n" + tail(log));
        assertTrue(taskLost, "no executor was killed inside a task (" + kills + " kills):\n" + tail(log));
        assertTrue(Files.readString(log).contains("worker 1 runs on"), "executors report their memory and thread settings:\n"
                + tail(log));
        double diff = maxRelativeDifference(localModel, finalModel(run), CONF);
        System.out.println(name + ": executor killed mid-round (" + kills + " kill(s)) vs local[2]: max relative weight difference "
                + diff);
        assertTrue(diff <= bound, "the weights after the lost executor are " + diff + " from local mode's (bound " + bound + ")");
    }

    /** True once Spark reports a failed task in some stage (the killed executor's). */
    private static boolean awaitFailedTask(HttpClient http, String stages, Process job) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (job.isAlive() && System.nanoTime() < deadline) {
            JsonNode all = get(http, stages);
            for (JsonNode s : all == null ? JSON.createArrayNode() : all) {
                if (s.path("numFailedTasks").asInt() > 0) {
                    return true;
                }
            }
            Thread.sleep(200); // polling Spark's status API, not waiting for an outcome
        }
        return false;
    }

    private static JsonNode get(HttpClient http, String url) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? JSON.readTree(r.body()) : null;
        } catch (Exception e) {
            return null; // the UI is not up yet, or already down
        }
    }
}
