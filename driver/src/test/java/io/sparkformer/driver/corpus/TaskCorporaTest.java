package io.sparkformer.driver.corpus;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TaskCorporaTest {
    private static final Path COMMITTED = Path.of(System.getProperty("sparkformer.root", "..")).resolve("datasets/tasks");

    @Test
    void theCommittedTaskFilesAreTheGeneratorsOutput(@TempDir Path dir) throws IOException {
        TaskCorpora.main(new String[] {dir.toString()});
        List<Path> written;
        try (Stream<Path> files = Files.walk(dir)) {
            written = files.filter(Files::isRegularFile).sorted().toList();
        }
        assertEquals(10, written.size(), "task files written: " + written);
        for (Path file : written) {
            Path committed = COMMITTED.resolve(dir.relativize(file).toString());
            assertTrue(Files.isRegularFile(committed), committed + " is missing");
            assertEquals(HadoopFiles.sha256(Files.readAllBytes(file)), HadoopFiles.sha256(Files.readAllBytes(committed)),
                    committed + " differs from TaskCorpora's output; regenerate with: java -cp driver/target/classes:"
                            + "worker/target/classes:model/target/classes io.sparkformer.driver.corpus.TaskCorpora datasets/tasks");
        }
    }

    private static List<String[]> pairs(String file) throws IOException {
        return Files.readAllLines(COMMITTED.resolve(file), StandardCharsets.UTF_8).stream().map(l -> l.split("\t", -1)).toList();
    }

    @Test
    void eachTasksOutputIsItsRuleOfTheInput() throws IOException {
        for (String file : List.of("copy/train-long.tsv", "copy/test.tsv")) {
            for (String[] p : pairs(file)) {
                assertEquals(10, p[0].length());
                assertEquals(p[0], p[1], file);
            }
        }
        for (String[] p : pairs("reverse/test.tsv")) {
            assertEquals(new StringBuilder(p[0]).reverse().toString(), p[1]);
        }
        for (String[] p : pairs("sort/train.tsv")) {
            char[] sorted = p[0].toCharArray();
            Arrays.sort(sorted);
            assertArrayEquals(sorted, p[1].toCharArray());
        }
    }

    @Test
    void theSortingTestInputsNeverOccurInTraining() throws IOException {
        Set<String> train = new HashSet<>();
        pairs("sort/train.tsv").forEach(p -> train.add(p[0]));
        for (String[] p : pairs("sort/test.tsv")) {
            assertFalse(train.contains(p[0]), p[0] + " is both in sort/train.tsv and sort/test.tsv");
        }
        assertEquals(729, train.size() + TaskCorpora.sortInputs(true).size(), "every input is in exactly one side");
    }
}
