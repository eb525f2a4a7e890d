package io.sparkformer.driver.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.sparkformer.driver.Cli;
import io.sparkformer.model.ConfigException;

/** One job per run directory; a dead job's lock does not block the rerun that resumes it. */
class RunLockTest {
    @TempDir
    Path run;

    private final Configuration conf = new Configuration();

    private void lockFile(String host, long pid, Instant heartbeat) throws Exception {
        Files.writeString(run.resolve(RunDirectory.LOCK),
                "{\"host\":\"" + host + "\",\"pid\":" + pid + ",\"heartbeat\":\"" + heartbeat + "\"}");
    }

    @Test
    void aLiveHolderIsRefusedByNameAndAGoneOneIsTakenOver() throws Exception {
        String here = InetAddress.getLocalHost().getHostName();
        try (RunLock held = RunLock.acquire(run.toString(), conf)) {
            RunLock.HeldException e = assertThrows(RunLock.HeldException.class, () -> RunLock.acquire(run.toString(), conf));
            assertTrue(e.getMessage().contains(run.resolve(RunDirectory.LOCK).toString())
                    && e.getMessage().contains("process " + ProcessHandle.current().pid()), e.getMessage());
            assertEquals(Cli.RUN_LOCKED, Cli.exitCode(e));
        }
        assertFalse(Files.exists(run.resolve(RunDirectory.LOCK)), "released on close");

        // a driver killed with SIGKILL leaves its lock: its pid is gone on this host
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        lockFile(here, gone.pid(), Instant.now());
        RunLock.acquire(run.toString(), conf).close();

        // another host's driver that stopped beating two minutes ago
        lockFile("elsewhere.example", 1, Instant.now().minusSeconds(RunLock.STALE_SECONDS + 5));
        RunLock.acquire(run.toString(), conf).close();

        // another host's driver that is alive
        lockFile("elsewhere.example", 1, Instant.now());
        assertThrows(RunLock.HeldException.class, () -> RunLock.acquire(run.toString(), conf));
    }

    @Test
    void aNewRunIntoADirectoryThatHoldsOneIsRefused() throws Exception {
        new RunDirectory(run.toString(), conf).requireNoRun(); // empty: fine
        Files.writeString(run.resolve("metrics.jsonl"), "{\"round\": 1}\n");
        ConfigException e = assertThrows(ConfigException.class, () -> new RunDirectory(run.toString(), conf).requireNoRun());
        assertTrue(e.getMessage().contains("--resume") && e.getMessage().contains(run.toString()), e.getMessage());
        assertEquals("{\"round\": 1}\n", Files.readString(run.resolve("metrics.jsonl")), "nothing touched");
    }
}
