package io.sparkformer.model.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.model.BadFileException;
import io.sparkformer.model.Batch;
import io.sparkformer.model.SharedData;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.io.SafeTensors;

/**
 * ../shared/golden/hf's tiny GPT-2 checkpoints (with and without "transformer.", with the old
 * mask buffers) read as our decoder: the same logits as the plain-PyTorch reference, to 1e-8 in
 * float64 from its float64 weights, and the checkpoint's own float32 weights land on the same
 * tensors.
 */
class HuggingFaceGpt2Test {
    private static Path dir(String name) {
        return SharedData.goldenDir().resolve("hf").resolve(name);
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2-tiny", "gpt2-tiny-unprefixed"})
    void logitsMatchTheReference(String name) throws Exception {
        HuggingFaceCheckpoint ckpt = HuggingFaceCheckpoint.open(dir(name));
        TransformerConfig cfg = ckpt.config();
        assertEquals(HuggingFaceFamily.GPT2, ckpt.family());
        assertEquals(TransformerConfig.Kind.DECODER, cfg.kind());
        assertEquals(TransformerConfig.Activation.GELU_TANH, cfg.activation());
        assertEquals(-1, cfg.padId(), "GPT-2 has no padding token");
        assertEquals(97, cfg.vocabSize());
        assertEquals(32, cfg.maxLen());

        Transformer reference = new Transformer(cfg, DataType.DOUBLE);
        int[] ids;
        double[] expected;
        try (SafeTensors.Reader golden = SafeTensors.open(dir(name).resolve("golden.safetensors"))) {
            ckpt.readInto(reference.parameters(), golden, "weights64.");
            ids = golden.ints("input_ids");
            expected = golden.doubles("logits");
        }
        double worst = maxRelativeError(logits(reference, ids), expected);
        System.out.printf("%s: float64 logits within %.1e (relative to the largest) of the reference%n", name, worst);
        assertTrue(worst < 1e-8, "float64 logits off by " + worst);

        // the checkpoint's float32 weights, read by their own names, are the reference's rounded
        Transformer fromFile = new Transformer(cfg, DataType.DOUBLE);
        ckpt.readInto(fromFile.parameters());
        double[] a = fromFile.parameters().flat().toDoubleVector();
        double[] b = reference.parameters().flat().toDoubleVector();
        for (int i = 0; i < a.length; i++) {
            assertEquals((float) b[i], (float) a[i], 0.0f, "parameter " + i);
        }
        assertTrue(maxRelativeError(logits(fromFile, ids), expected) < 1e-4);
        assertTrue(maxRelativeError(logits(ckpt.load(DataType.FLOAT), ids), expected) < 1e-4, "a float32 model");
    }

    private static double[] logits(Transformer model, int[] ids) {
        int t = 11;
        model.forward(Batch.of(ids.length / t, t, ids, ids.clone()), false);
        return model.logits().castTo(DataType.DOUBLE).reshape(-1).toDoubleVector();
    }

    private static double maxRelativeError(double[] got, double[] want) {
        assertEquals(want.length, got.length);
        double scale = 0;
        for (double w : want) {
            scale = Math.max(scale, Math.abs(w));
        }
        double worst = 0;
        for (int i = 0; i < got.length; i++) {
            worst = Math.max(worst, Math.abs(got[i] - want[i]) / scale);
        }
        return worst;
    }

    @Test
    void badCheckpointsAreRefusedNamingTheFile(@TempDir Path tmp) throws Exception {
        java.util.List<String> before = listing(dir("gpt2-tiny"));
        Path pickled = Files.createDirectories(tmp.resolve("pickled"));
        Files.copy(dir("gpt2-tiny").resolve("config.json"), pickled.resolve("config.json"));
        Files.writeString(pickled.resolve("pytorch_model.bin"), "not to be unpickled");
        BadFileException e = assertThrows(BadFileException.class, () -> HuggingFaceCheckpoint.open(pickled));
        assertTrue(e.getMessage().contains("pytorch_model.bin") && e.getMessage().contains("safetensors"), e.getMessage());

        Path unknown = Files.createDirectories(tmp.resolve("unknown"));
        Files.writeString(unknown.resolve("config.json"), "{\"model_type\": \"llama\"}");
        e = assertThrows(BadFileException.class, () -> HuggingFaceCheckpoint.open(unknown));
        assertTrue(e.getMessage().contains("llama") && e.getMessage().contains("gpt2"), e.getMessage());

        Path escaping = Files.createDirectories(tmp.resolve("escaping"));
        Files.copy(dir("gpt2-tiny").resolve("config.json"), escaping.resolve("config.json"));
        Files.writeString(escaping.resolve("model.safetensors.index.json"),
                "{\"weight_map\": {\"wte.weight\": \"../../etc/passwd.safetensors\"}}");
        e = assertThrows(BadFileException.class, () -> HuggingFaceCheckpoint.open(escaping));
        assertTrue(e.getMessage().contains("index") && e.getMessage().contains("passwd"), e.getMessage());

        Path huge = Files.createDirectories(tmp.resolve("huge"));
        Files.writeString(huge.resolve("config.json"), Files.readString(dir("gpt2-tiny").resolve("config.json"))
                .replace("\"n_embd\": 48", "\"n_embd\": 47"));
        Files.copy(dir("gpt2-tiny").resolve("model.safetensors"), huge.resolve("model.safetensors"));
        e = assertThrows(BadFileException.class, () -> HuggingFaceCheckpoint.open(huge));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("n_heads"), e.getMessage());

        Path enormous = Files.createDirectories(tmp.resolve("enormous"));
        Files.writeString(enormous.resolve("config.json"), Files.readString(dir("gpt2-tiny").resolve("config.json"))
                .replace("\"vocab_size\": 97", "\"vocab_size\": 2000000000"));
        Files.copy(dir("gpt2-tiny").resolve("model.safetensors"), enormous.resolve("model.safetensors"));
        e = assertThrows(BadFileException.class, () -> HuggingFaceCheckpoint.open(enormous));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("parameters"), e.getMessage());

        Path tokenHead = Files.createDirectories(tmp.resolve("token-head"));
        Files.writeString(tokenHead.resolve("config.json"), Files.readString(dir("gpt2-tiny").resolve("config.json"))
                .replace("GPT2LMHeadModel", "GPT2ForTokenClassification"));
        Files.copy(dir("gpt2-tiny").resolve("model.safetensors"), tokenHead.resolve("model.safetensors"));
        e = assertThrows(BadFileException.class, () -> HuggingFaceCheckpoint.open(tokenHead));
        assertTrue(e.getMessage().contains("GPT2ForTokenClassification") && e.getMessage().contains("GPT2LMHeadModel"), e.getMessage());

        Path misShaped = Files.createDirectories(tmp.resolve("mis-shaped"));
        Files.writeString(misShaped.resolve("config.json"), Files.readString(dir("gpt2-tiny").resolve("config.json"))
                .replace("\"n_positions\": 32", "\"n_positions\": 33"));
        Files.copy(dir("gpt2-tiny").resolve("model.safetensors"), misShaped.resolve("model.safetensors"));
        HuggingFaceCheckpoint ckpt = HuggingFaceCheckpoint.open(misShaped);
        e = assertThrows(BadFileException.class, () -> ckpt.load(DataType.FLOAT));
        assertTrue(e.getMessage().contains("wpe.weight") && e.getMessage().contains("[32, 48]"), e.getMessage());
        // the headers alone tell the same, with no buffer allocated (a run's driver checks this way)
        BadFileException checked = assertThrows(BadFileException.class, () -> ckpt.check(ckpt.config(), false));
        assertEquals(e.getMessage(), checked.getMessage());
        assertEquals(java.util.List.of(), HuggingFaceCheckpoint.open(dir("gpt2-tiny")).check(
                HuggingFaceCheckpoint.open(dir("gpt2-tiny")).config(), false), "a good checkpoint passes");
        assertEquals(before, listing(dir("gpt2-tiny")), "nothing is written into a checkpoint's directory");
    }

    private static java.util.List<String> listing(Path dir) throws java.io.IOException {
        try (var files = Files.list(dir)) {
            return files.map(f -> f.getFileName() + " " + f.toFile().length() + " " + f.toFile().lastModified()).sorted().toList();
        }
    }
}
