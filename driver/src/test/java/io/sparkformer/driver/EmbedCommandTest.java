package io.sparkformer.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.model.io.SafeTensors;

/**
 * embed on the real all-MiniLM-L6-v2 checkpoint, its own tokenizer and [CLS]/[SEP], gives the
 * plain-PyTorch reference's sentence embeddings; a checkpoint without a tokenizer is refused.
 */
class EmbedCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void allMiniLmSentenceEmbeddingsMatchTheReference() throws Exception {
        Path dir = SparkTestBase.shared().resolve("pretrained/all-MiniLM-L6-v2");
        List<String> sentences;
        double[] reference;
        try (SafeTensors.Reader ref = SafeTensors.open(dir.resolve("reference.safetensors"))) {
            sentences = List.of(JSON.readValue(ref.metadata().get("sentences"), String[].class));
            reference = ref.doubles("sentence_embedding");
        }
        List<String> args = new ArrayList<>(List.of("embed", "--model", dir.toString(), "--normalize", "--batch-size", "3"));
        for (String s : sentences) {
            args.addAll(List.of("--text", s));
        }
        String out = GenerateEvaluateTest.stdout(args.toArray(String[]::new));
        List<String> lines = out.lines().filter(l -> l.startsWith("{")).toList();
        assertEquals(sentences.size(), lines.size(), out);
        double worst = 0;
        for (int i = 0; i < lines.size(); i++) {
            JsonNode rec = JSON.readTree(lines.get(i));
            assertEquals(sentences.get(i), rec.get("input").asText());
            JsonNode e = rec.get("embedding");
            assertEquals(384, e.size());
            for (int k = 0; k < e.size(); k++) {
                worst = Math.max(worst, Math.abs(e.get(k).asDouble() - reference[i * 384 + k]));
            }
        }
        System.out.printf("embed all-MiniLM-L6-v2: sentence embeddings within %.1e of the reference%n", worst);
        assertTrue(worst < 1e-4, "off by " + worst);
    }

    @Test
    void aCheckpointWithoutItsTokenizerIsRefused() {
        Path tiny = SparkTestBase.shared().resolve("golden/hf/bert-tiny");
        assertEquals(Cli.BAD_INPUT, Cli.run("embed", "--model", tiny.toString(), "--text", "hello"));
    }
}
