package io.sparkformer.driver.training;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.model.FailureKind;

/**
 * One training job at a time per run directory: {@code _LOCK}, created only if absent (an atomic
 * create on HDFS and local disks), holds the owner's host, pid and a heartbeat renewed every
 * {@link #HEARTBEAT_SECONDS}. A lock is stale, and taken over, when its owner's process is gone
 * (same host) or its heartbeat is older than {@link #STALE_SECONDS} (any host): a killed driver
 * does not block the rerun that resumes it.
 */
public final class RunLock implements AutoCloseable {
    static final long HEARTBEAT_SECONDS = 30;
    static final long STALE_SECONDS = 120;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Another live job holds the run directory. */
    public static final class HeldException extends IOException implements FailureKind.Typed {
        HeldException(String message) {
            super(message);
        }

        @Override
        public FailureKind kind() {
            return FailureKind.RUN_LOCKED;
        }
    }

    private final Path path;
    private final Configuration conf;
    private final java.util.concurrent.ScheduledExecutorService heartbeat;

    private RunLock(Path path, Configuration conf) {
        this.path = path;
        this.conf = conf;
        this.heartbeat = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "sparkformer-run-lock");
            t.setDaemon(true);
            return t;
        });
    }

    /** Takes the lock of {@code runDir}, or throws {@link HeldException} naming its holder. */
    public static RunLock acquire(String runDir, Configuration conf) throws IOException {
        Path path = new Path(runDir, RunDirectory.LOCK);
        FileSystem fs = path.getFileSystem(conf);
        for (int attempt = 0; attempt < 2; attempt++) {
            try (FSDataOutputStream out = fs.create(path, false)) {
                out.write(content());
                RunLock lock = new RunLock(path, conf);
                lock.heartbeat.scheduleAtFixedRate(lock::renew, HEARTBEAT_SECONDS, HEARTBEAT_SECONDS,
                        java.util.concurrent.TimeUnit.SECONDS);
                return lock;
            } catch (FileAlreadyExistsException e) {
                String stale = staleness(fs, path);
                if (stale == null) {
                    throw new HeldException(path + " is held by " + holder(fs, path) + ": another job is training into "
                            + runDir + "; wait for it, or remove the lock if that job is known to be gone");
                }
                fs.delete(path, false);
                org.slf4j.LoggerFactory.getLogger(RunLock.class).warn("Taking over {}: {}", path, stale);
            }
        }
        throw new HeldException(path + " was taken by another job while this one took over a stale lock");
    }

    private static byte[] content() throws IOException {
        ObjectNode n = JSON.createObjectNode();
        n.put("host", host());
        n.put("pid", ProcessHandle.current().pid());
        n.put("heartbeat", Instant.now().toString());
        return JSON.writeValueAsBytes(n);
    }

    /** Why the lock at {@code path} is stale, or null while its owner lives. */
    static String staleness(FileSystem fs, Path path) throws IOException {
        JsonNode n;
        try {
            n = JSON.readTree(HadoopFiles.read(path.toString(), fs.getConf()));
        } catch (IOException e) {
            return "unreadable (" + e.getMessage() + ")"; // a crash while it was written
        }
        if (n == null || !n.path("pid").canConvertToLong() || !n.hasNonNull("heartbeat")) {
            return "not a lock this project wrote";
        }
        if (host().equals(n.path("host").asText()) && ProcessHandle.of(n.path("pid").asLong()).map(p -> !p.isAlive()).orElse(true)) {
            return "process " + n.path("pid").asLong() + " on this host has ended";
        }
        Instant beat;
        try {
            beat = Instant.parse(n.path("heartbeat").asText());
        } catch (java.time.format.DateTimeParseException e) {
            return "its heartbeat is not a time";
        }
        long age = Instant.now().getEpochSecond() - beat.getEpochSecond();
        return age > STALE_SECONDS ? "no heartbeat for " + age + " s" : null;
    }

    private static String holder(FileSystem fs, Path path) {
        try {
            JsonNode n = JSON.readTree(HadoopFiles.read(path.toString(), fs.getConf()));
            return "process " + n.path("pid").asText() + " on " + n.path("host").asText() + " (heartbeat "
                    + n.path("heartbeat").asText() + ")";
        } catch (IOException e) {
            return "another process";
        }
    }

    private void renew() {
        try {
            HadoopFiles.writeAtomically(path.toString(), content(), conf);
        } catch (IOException e) {
            org.slf4j.LoggerFactory.getLogger(RunLock.class).warn("Could not renew {}: {}", path, e.getMessage());
        }
    }

    private static String host() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown";
        }
    }

    @Override
    public void close() throws IOException {
        heartbeat.shutdownNow();
        path.getFileSystem(conf).delete(path, false);
    }
}
