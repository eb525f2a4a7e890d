package io.sparkformer.model.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.model.Batch;
import io.sparkformer.model.SharedData;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.io.SafeTensors;

/**
 * BERT-family checkpoints read as our post-norm encoder with token types and the embeddings'
 * LayerNorm: ../shared/golden/hf/bert-tiny's hidden states to 1e-8 in float64 (a padded row and
 * two token types), and the real all-MiniLM-L6-v2's hidden states at real tokens and its sentence
 * embeddings to 1e-4 in float32, against their plain-PyTorch references.
 */
class HuggingFaceBertTest {
    @Test
    void tinyBertHiddenStatesMatchTheReference() throws Exception {
        Path dir = SharedData.goldenDir().resolve("hf").resolve("bert-tiny");
        HuggingFaceCheckpoint ckpt = HuggingFaceCheckpoint.open(dir);
        TransformerConfig cfg = ckpt.config();
        assertEquals(HuggingFaceFamily.BERT, ckpt.family());
        assertEquals(TransformerConfig.Norm.POST, cfg.norm());
        assertEquals(2, cfg.typeVocabSize());
        assertTrue(cfg.embeddingNorm());
        assertTrue(cfg.mlmHead(), "a BertForMaskedLM checkpoint reads with its masked-LM head");
        Transformer model = new Transformer(cfg, DataType.DOUBLE);
        // the same checkpoint as a classifier over BERT's pooler: its pooler_output feeds the (fresh) classifier
        Transformer pooled = new Transformer(cfg.withClassifier(2, TransformerConfig.Pooling.POOLER), DataType.DOUBLE);
        int[] ids;
        int[] types;
        double[] expected;
        double[] expectedLogits;
        double[] expectedPooler;
        java.util.List<String> fresh;
        try (SafeTensors.Reader golden = SafeTensors.open(dir.resolve("golden.safetensors"))) {
            ckpt.readInto(model.parameters(), golden, "weights64.");
            fresh = ckpt.readInto(pooled.parameters(), golden, "weights64.", pooled.config(), true);
            ids = golden.ints("input_ids");
            types = golden.ints("token_type_ids");
            expected = golden.doubles("last_hidden_state");
            expectedLogits = golden.doubles("mlm_logits");
            expectedPooler = golden.doubles("pooler_output");
        }
        assertEquals(java.util.List.of("classifier.weight", "classifier.bias"), fresh);
        int t = 13;
        Batch batch = Batch.of(ids.length / t, t, ids, null).withTypes(types);
        model.forward(batch, false);
        double worst = maxError(model.hiddenStates().castTo(DataType.DOUBLE).reshape(-1).toDoubleVector(), expected, null, 48);
        double worstLogits = maxError(model.logits().castTo(DataType.DOUBLE).reshape(-1).toDoubleVector(), expectedLogits, null, 101);
        pooled.forward(batch, false);
        double worstPooler = maxError(pooled.pooledOutput().castTo(DataType.DOUBLE).reshape(-1).toDoubleVector(), expectedPooler, null, 48);
        System.out.printf("bert-tiny: float64 hidden states within %.1e, masked-LM logits within %.1e, pooler output within %.1e"
                + " of the reference%n", worst, worstLogits, worstPooler);
        assertTrue(worst < 1e-8, "hidden states off by " + worst);
        assertTrue(worstLogits < 1e-8, "masked-LM logits off by " + worstLogits);
        assertTrue(worstPooler < 1e-8, "pooler output off by " + worstPooler);
    }

    @Test
    void allMiniLmMatchesItsReference() throws Exception {
        Path dir = SharedData.sharedDir().resolve("pretrained").resolve("all-MiniLM-L6-v2");
        HuggingFaceCheckpoint ckpt = HuggingFaceCheckpoint.open(dir);
        assertEquals(384, ckpt.config().dModel());
        assertEquals(6, ckpt.config().nLayers());
        Transformer model = ckpt.load(DataType.FLOAT);
        int[] ids;
        int[] mask;
        double[] hidden;
        double[] sentences;
        try (SafeTensors.Reader ref = SafeTensors.open(dir.resolve("reference.safetensors"))) {
            ids = ref.ints("input_ids");
            mask = ref.ints("attention_mask");
            hidden = ref.doubles("last_hidden_state");
            sentences = ref.doubles("sentence_embedding");
        }
        int t = 22;
        int d = 384;
        model.forward(Batch.of(ids.length / t, t, ids, null), false);
        double[] got = model.hiddenStates().castTo(DataType.DOUBLE).reshape(-1).toDoubleVector();
        double worst = maxError(got, hidden, mask, d);
        double[] embeddings = meanPooledNormalised(got, mask, t, d);
        double worstEmbedding = maxError(embeddings, sentences, null, d);
        System.out.printf("all-MiniLM-L6-v2: float32 hidden states at real tokens within %.1e, sentence embeddings within %.1e%n",
                worst, worstEmbedding);
        assertTrue(worst < 1e-4, "hidden states off by " + worst);
        assertTrue(worstEmbedding < 1e-4, "sentence embeddings off by " + worstEmbedding);
    }

    /** The checkpoint's tokenizer names its own special tokens, and frames a text as its post-processor does. */
    @Test
    void allMiniLmsTokenizerHasBertsSpecialTokens() throws Exception {
        Path file = SharedData.sharedDir().resolve("pretrained").resolve("all-MiniLM-L6-v2").resolve("tokenizer.json");
        try (var tokenizer = io.sparkformer.model.text.HuggingFaceTokenizer.fromJson(java.nio.file.Files.readAllBytes(file),
                file.toString())) {
            var specials = tokenizer.specials();
            assertEquals(new io.sparkformer.model.text.SpecialTokens(0, 101, 102, 103, 100), specials);
            int[] framed = tokenizer.encodeWithSpecialTokens("a gorgeous, witty film");
            int[] body = tokenizer.encode("a gorgeous, witty film");
            assertEquals(specials.bos(), framed[0]);
            assertEquals(specials.eos(), framed[framed.length - 1]);
            org.junit.jupiter.api.Assertions.assertArrayEquals(body, java.util.Arrays.copyOfRange(framed, 1, framed.length - 1));
        }
    }

    /** An imported model saved as this project's checkpoint reads back with the same switches and weights. */
    @Test
    void anImportedBertSavesAndLoadsAsOurCheckpoint(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        HuggingFaceCheckpoint ckpt = HuggingFaceCheckpoint.open(SharedData.goldenDir().resolve("hf").resolve("bert-tiny"));
        Transformer model = ckpt.load(DataType.FLOAT);
        io.sparkformer.model.io.Checkpoint.save(tmp, model, new io.sparkformer.model.optim.AdamW(model.layout(), DataType.FLOAT,
                new io.sparkformer.model.optim.AdamW.Settings(0.9, 0.999, 1e-8, 0.01)));
        io.sparkformer.model.Model back = io.sparkformer.model.io.Checkpoint.loadModel(tmp, DataType.FLOAT);
        assertEquals(ckpt.config(), back.config());
        org.junit.jupiter.api.Assertions.assertArrayEquals(model.parameters().flat().toFloatVector(),
                back.parameters().flat().toFloatVector());
    }

    /** sentence-transformers' embedding: the mean over tokens with mask 1, L2-normalised. */
    static double[] meanPooledNormalised(double[] hidden, int[] mask, int t, int d) {
        int rows = mask.length / t;
        double[] out = new double[rows * d];
        for (int r = 0; r < rows; r++) {
            int n = 0;
            for (int j = 0; j < t; j++) {
                if (mask[r * t + j] == 1) {
                    n++;
                    for (int k = 0; k < d; k++) {
                        out[r * d + k] += hidden[(r * t + j) * d + k];
                    }
                }
            }
            double norm = 0;
            for (int k = 0; k < d; k++) {
                out[r * d + k] /= n;
                norm += out[r * d + k] * out[r * d + k];
            }
            for (int k = 0; k < d; k++) {
                out[r * d + k] /= Math.sqrt(norm);
            }
        }
        return out;
    }

    /** The largest |got − want| over rows of width {@code d}, skipping rows whose mask is 0 (when a mask is given). */
    static double maxError(double[] got, double[] want, int[] mask, int d) {
        assertEquals(want.length, got.length);
        double worst = 0;
        for (int i = 0; i < got.length; i++) {
            if (mask == null || mask[i / d] == 1) {
                worst = Math.max(worst, Math.abs(got[i] - want[i]));
            }
        }
        return worst;
    }
}
