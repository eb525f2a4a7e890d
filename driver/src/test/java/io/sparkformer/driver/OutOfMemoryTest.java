package io.sparkformer.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.apache.spark.SparkException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.sparkformer.driver.cluster.OutOfMemory;

/** Out of memory ends with exit code 4 and names the setting to raise; never Spark's 52. */
class OutOfMemoryTest {
    @TempDir
    Path tmp;

    @Test
    void aModelLargerThanItsMemoryExitsWithFourNamingTheSetting() throws Exception {
        Path corpus = tmp.resolve("c.txt");
        Files.writeString(corpus, "the cat sat on the mat. ".repeat(500));
        Path cfg = tmp.resolve("big.yaml");
        // about 50M parameters: a replica's weights, gradients and moments are 800 MB of native memory, above a
        // 900 MB limit on the whole process (the heap no longer holds a vector of the model: the exchange's blocks are native)
        Files.writeString(cfg, "name: big\ndata:\n  inputs: [" + corpus + "]\n  shards: " + tmp.resolve("shards") + "\n"
                + "model: {d_model: 1024, n_heads: 8, n_layers: 4, d_ff: 4096, max_len: 32}\n"
                + "train: {workers: 1, block_size: 32, batch_size: 2, steps: 2, local_steps: 1}\n");
        List<String> cmd = CliJvm.java(false);
        cmd.addAll(List.of("-Xmx600m", "-Dorg.bytedeco.javacpp.maxbytes=8g", "-Dorg.bytedeco.javacpp.maxphysicalbytes=900m"));
        cmd.addAll(CliJvm.cli(List.of("train", "--config", cfg.toString(), "--output", tmp.resolve("run").toString(), "--no-progress")));
        Path log = tmp.resolve("big.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        boolean ended = p.waitFor(3, TimeUnit.MINUTES);
        if (!ended) {
            p.destroyForcibly();
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        assertTrue(ended, "the run hung instead of ending:\n" + out);
        assertEquals(Cli.OUT_OF_MEMORY, p.exitValue(), out);
        assertTrue(out.contains("SPARKFORMER_MAXPHYSICALBYTES"), "the message names the setting to raise:\n" + out);
    }

    @Test
    void taskErrorsAreTurnedIntoOutOfMemoryAndClassified() {
        OutOfMemory e = assertThrows(OutOfMemory.class, () -> OutOfMemory.guard("worker 0's round", () -> {
            throw new OutOfMemoryError("Java heap space");
        }));
        assertTrue(e.getMessage().contains("spark.executor.memory"), e.getMessage());
        assertEquals(Cli.OUT_OF_MEMORY, Cli.exitCode(e));
        // as Spark reports a failed task to the driver: the exception's text inside a SparkException
        assertEquals(Cli.OUT_OF_MEMORY, Cli.exitCode(new SparkException("Job aborted: " + e)));
        assertEquals(Cli.OUT_OF_MEMORY, Cli.exitCode(new SparkException(
                "Total size of serialized results of 2 tasks (1959.8 MiB) is bigger than spark.driver.maxResultSize (1024.0 MiB)")));
        assertTrue(OutOfMemory.describe("x", new OutOfMemoryError("Cannot allocate new LongPointer(2): totalBytes = 1G,"
                + " physicalBytes = 16462M")).contains("maxphysicalbytes"));
    }
}
