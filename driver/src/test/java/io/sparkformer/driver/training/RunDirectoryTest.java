package io.sparkformer.driver.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.model.ConfigException;

/** The run's newest complete checkpoint, whatever a crash left of the pointer; pointers stay inside the run. */
class RunDirectoryTest {
    @TempDir
    Path run;

    private final Configuration conf = new Configuration();

    private RunDirectory dir() {
        return new RunDirectory(run.toString(), conf);
    }

    private void checkpoint(long round, boolean complete) throws Exception {
        Path dir = Path.of(dir().checkpoint(round));
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("model.safetensors"), "x");
        if (complete) {
            Files.writeString(dir.resolve(RunDirectory.STATE), "{}");
        }
    }

    @Test
    void withoutAPointerTheNewestCompleteCheckpointIsFound() throws Exception {
        assertNull(dir().latest(), "a run with no checkpoint starts from round 0");
        checkpoint(4, true);
        checkpoint(8, true);
        checkpoint(12, false); // a crash while round 12's checkpoint was being written
        // a crash that loses the pointer (the delete-then-rename writes did): resume from round 8, not 0
        assertEquals(run + "/checkpoints/round-000008", dir().latest());
        // a crash after round 8's state.json, before the pointer moved from round 4: round 8 is complete
        Files.writeString(run.resolve("latest"), "checkpoints/round-000004");
        assertEquals(run + "/checkpoints/round-000008", dir().latest());
    }

    @Test
    void aReplacedPointerIsNeverAbsentAndAHostileOneIsRefused() throws Exception {
        checkpoint(4, true);
        checkpoint(8, true);
        String pointer = run + "/latest";
        HadoopFiles.writeAtomically(pointer, "checkpoints/round-000004".getBytes(), conf);
        HadoopFiles.writeAtomically(pointer, "checkpoints/round-000008".getBytes(), conf);
        assertEquals(run + "/checkpoints/round-000008", dir().latest());
        try (var files = Files.list(run)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".tmp")), "no temporary file left");
        }
        for (String hostile : new String[] {"../../etc", "/etc/passwd", "checkpoints/round-000012"}) {
            HadoopFiles.writeAtomically(pointer, hostile.getBytes(), conf);
            ConfigException e = assertThrows(ConfigException.class, () -> dir().latest());
            assertTrue(e.getMessage().contains("latest"), e.getMessage());
        }
        HadoopFiles.writeAtomically(pointer, new byte[10_000], conf);
        assertThrows(ConfigException.class, () -> dir().latest());
    }

    /** checkpoint.best's pointer, like latest, names only complete best weights inside the run. */
    @Test
    void theBestPointerNamesCompleteBestWeightsOrIsRefused() throws Exception {
        assertNull(dir().best(), "no pointer: no best weights");
        Path dir = Path.of(dir().bestWeights(6));
        Files.createDirectories(dir);
        String pointer = run + "/" + RunDirectory.BEST;
        HadoopFiles.writeAtomically(pointer, "best-weights/round-000006".getBytes(), conf);
        assertThrows(ConfigException.class, () -> dir().best(), "no state.json yet: incomplete");
        Files.writeString(dir.resolve(RunDirectory.STATE), "{}");
        assertEquals(run + "/best-weights/round-000006", dir().best());
        for (String hostile : new String[] {"../../etc", "checkpoints/round-000006", "best-weights/../../x"}) {
            HadoopFiles.writeAtomically(pointer, hostile.getBytes(), conf);
            ConfigException e = assertThrows(ConfigException.class, () -> dir().best());
            assertTrue(e.getMessage().contains("best"), e.getMessage());
        }
        HadoopFiles.writeAtomically(pointer, new byte[10_000], conf);
        assertThrows(ConfigException.class, () -> dir().best());
    }

    /** checkpoint.keep: the newest complete ones stay, the one the pointer names always; 0 keeps all. */
    @Test
    void pruningKeepsTheNewestCompleteCheckpoints() throws Exception {
        for (long r : new long[] {2, 4, 6, 8}) {
            checkpoint(r, true);
        }
        checkpoint(5, false); // a crash while round 5's was written
        checkpoint(10, true);
        assertEquals(java.util.List.of(), dir().prune(10, 0), "0 keeps every one");
        assertEquals(java.util.List.of(5L, 4L, 2L), dir().prune(10, 3));
        try (var dirs = Files.list(run.resolve("checkpoints"))) {
            assertEquals(java.util.List.of("round-000006", "round-000008", "round-000010"),
                    dirs.map(d -> d.getFileName().toString()).sorted().toList());
        }
        assertEquals(java.util.List.of(8L, 6L), dir().prune(10, 1));
        assertEquals(run + "/checkpoints/round-000010", dir().latest());
    }
}
