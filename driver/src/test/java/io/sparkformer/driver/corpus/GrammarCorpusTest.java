package io.sparkformer.driver.corpus;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

class GrammarCorpusTest {
    @Test
    void theCommittedCorpusIsTheGeneratorsOutput() throws IOException {
        Path root = Path.of(System.getProperty("sparkformer.root", ".."));
        Path committed = root.resolve("datasets/grammar/corpus.txt");
        StringWriter w = new StringWriter();
        GrammarCorpus.write(w, GrammarCorpus.DEFAULT_SENTENCES, GrammarCorpus.DEFAULT_SEED);
        assertEquals(HadoopFiles.sha256(w.toString().getBytes(StandardCharsets.UTF_8)),
                HadoopFiles.sha256(Files.readAllBytes(committed)),
                "regenerate with: java -cp driver/target/classes:... io.sparkformer.driver.corpus.GrammarCorpus");
    }

    @Test
    void exactEntropyMatchesTheSampledLogProbabilities() {
        Map<String, Double> exact = GrammarCorpus.exactStatistics();
        SplittableRandom r = new SplittableRandom(99);
        int n = 200_000;
        double nats = 0;
        double chars = 0;
        for (int i = 0; i < n; i++) {
            GrammarCorpus.Sentence s = GrammarCorpus.sentence(r);
            nats -= s.logProb();
            chars += s.text().length();
        }
        // standard errors here are about 0.01 nats and 0.02 characters per sentence
        assertEquals(exact.get("nats_per_sentence"), nats / n, 0.05);
        assertEquals(exact.get("chars_per_sentence"), chars / n, 0.1);
        assertEquals(0.3575, exact.get("nats_per_char"), 5e-5);
    }
}
