package io.sparkformer.driver.cluster;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.hadoop.conf.Configuration;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.model.io.SafeTensors;

/** Runs the project's launchers as a user would, and compares the checkpoints they leave. */
final class ClusterProcesses {
    private ClusterProcesses() {}

    static Path root() {
        return Path.of(System.getProperty("sparkformer.root", "..")).toAbsolutePath().normalize();
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** Starts a command with its output in {@code log}; the environment gets {@code env} on top. */
    static Process start(List<String> command, Map<String, String> env, Path log) throws IOException {
        Files.createDirectories(log.getParent());
        ProcessBuilder pb = new ProcessBuilder(command).directory(root().toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().putAll(env);
        return pb.start();
    }

    /** Runs a command to its end (failing the test past the limit) and returns its exit code. */
    static int run(List<String> command, Map<String, String> env, Path log, long timeoutSeconds) throws Exception {
        Process p = start(command, env, log);
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            fail(String.join(" ", command) + " did not finish in " + timeoutSeconds + " s:\n" + tail(log));
        }
        return p.exitValue();
    }

    static String tail(Path log) throws IOException {
        if (!Files.exists(log)) {
            return "(no output)";
        }
        List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
    }

    /** The command line of a live process, from /proc (empty when it is gone). */
    static String commandLine(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), StandardCharsets.UTF_8)
                    .replace('\0', ' ');
        } catch (IOException e) {
            return "";
        }
    }

    /** PIDs of this machine's processes whose command line holds every given fragment. */
    static List<Long> pids(String... fragments) {
        List<Long> out = new ArrayList<>();
        ProcessHandle.allProcesses().forEach(h -> {
            String cmd = commandLine(h.pid());
            for (String f : fragments) {
                if (!cmd.contains(f)) {
                    return;
                }
            }
            out.add(h.pid());
        });
        return out;
    }

    /** The largest relative difference between two checkpoints' weights, tensor by tensor. */
    static double maxRelativeDifference(String modelA, String modelB, Configuration conf) throws IOException {
        double worst = 0;
        try (SafeTensors.Reader a = SafeTensors.open(HadoopFiles.source(modelA, conf));
             SafeTensors.Reader b = SafeTensors.open(HadoopFiles.source(modelB, conf))) {
            if (!a.tensors().keySet().equals(b.tensors().keySet())) {
                fail(modelA + " and " + modelB + " hold different tensors");
            }
            for (String name : a.tensors().keySet()) {
                float[] x = a.floats(name);
                float[] y = b.floats(name);
                double diff = 0;
                double scale = 0;
                for (int i = 0; i < x.length; i++) {
                    diff = Math.max(diff, Math.abs((double) x[i] - y[i]));
                    scale = Math.max(scale, Math.abs((double) x[i]));
                }
                worst = Math.max(worst, diff / Math.max(scale, 1e-12));
            }
        }
        return worst;
    }
}
