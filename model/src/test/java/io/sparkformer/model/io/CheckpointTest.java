package io.sparkformer.model.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.model.Batch;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.optim.AdamW;

class CheckpointTest {
    @TempDir
    Path tmp;

    private static final TransformerConfig CFG = new TransformerConfig(TransformerConfig.Kind.DECODER, 11, 16, 2, 2, 32, 8,
            TransformerConfig.Norm.PRE, TransformerConfig.Positional.LEARNED, TransformerConfig.Activation.GELU,
            false, 1e-5, 0, 0.0);
    private static final Batch BATCH = Batch.of(2, 4, new int[] {3, 4, 5, 6, 7, 8, 9, 10}, new int[] {4, 5, 6, 7, 8, 9, 10, 3});
    private static final AdamW.Settings SETTINGS = new AdamW.Settings(0.9, 0.95, 1e-8, 0.1);

    private static void train(io.sparkformer.model.Model m, AdamW opt, int steps) {
        for (int i = 0; i < steps; i++) {
            m.forwardBackward(BATCH);
            opt.apply(m.parameters(), m.gradients(), 1e-2);
        }
    }

    @Test
    void resumingFromACheckpointEqualsAnUnbrokenRun() throws IOException {
        Transformer unbroken = new Transformer(CFG, DataType.FLOAT);
        unbroken.initialize(42);
        AdamW unbrokenOpt = new AdamW(unbroken.layout(), DataType.FLOAT, SETTINGS);
        train(unbroken, unbrokenOpt, 5);

        Transformer first = new Transformer(CFG, DataType.FLOAT);
        first.initialize(42);
        AdamW firstOpt = new AdamW(first.layout(), DataType.FLOAT, SETTINGS);
        train(first, firstOpt, 3);
        Checkpoint.save(tmp, first, firstOpt);

        io.sparkformer.model.Model resumed = Checkpoint.loadModel(tmp, DataType.FLOAT);
        assertEquals(CFG, resumed.config());
        assertArrayEquals(first.parameters().flat().data().asFloat(), resumed.parameters().flat().data().asFloat());
        AdamW resumedOpt = new AdamW(resumed.layout(), DataType.FLOAT, SETTINGS);
        Checkpoint.loadOptimizer(tmp, resumedOpt);
        assertEquals(3, resumedOpt.step());
        train(resumed, resumedOpt, 2);
        assertArrayEquals(unbroken.parameters().flat().data().asFloat(), resumed.parameters().flat().data().asFloat(),
                "bit-equal parameters after resume");
    }

    @Test
    void weightsAreStoredBySpecNames() throws IOException {
        Transformer m = new Transformer(CFG, DataType.FLOAT);
        m.initialize(1);
        Checkpoint.save(tmp, m, null);
        try (var r = SafeTensors.open(tmp.resolve(Checkpoint.MODEL_FILE))) {
            assertEquals(m.layout().tensors().keySet(), r.tensors().keySet());
            assertArrayEquals(new long[] {16, 16}, r.info("decoder.layers.1.self_attn.k.weight").shape());
            assertArrayEquals(m.parameters().tensor("decoder.layers.1.self_attn.k.weight").dup().data().asFloat(),
                    r.floats("decoder.layers.1.self_attn.k.weight"));
        }
    }

    @Test
    void aModelFileOfAnotherShapeIsRejectedByName() throws IOException {
        Transformer m = new Transformer(CFG, DataType.FLOAT);
        Checkpoint.save(tmp, m, null);
        TransformerConfig wider = new TransformerConfig(CFG.kind(), 11, 32, 2, 2, 32, 8, CFG.norm(), CFG.positional(),
                CFG.activation(), false, 1e-5, 0, 0.0);
        Transformer other = new Transformer(wider, DataType.FLOAT);
        try (var r = SafeTensors.open(tmp.resolve(Checkpoint.MODEL_FILE))) {
            var e = assertThrows(SafeTensorsException.class, () -> Checkpoint.readWeights(r, other.parameters()));
            assertTrue(e.getMessage().contains("'tok_emb' has shape [11, 16], the model needs [11, 32]"), e.getMessage());
        }
    }

    @Test
    void aFileWithoutConfigIsNotACheckpoint() throws IOException {
        Path p = tmp.resolve(Checkpoint.MODEL_FILE);
        SafeTensors.writeAtomically(p, Map.of(), Map.of("other", "x"));
        var e = assertThrows(SafeTensorsException.class, () -> Checkpoint.loadModel(tmp, DataType.FLOAT));
        assertTrue(e.getMessage().contains("no 'config'"), e.getMessage());
        Files.writeString(p, "garbage");
        assertThrows(SafeTensorsException.class, () -> Checkpoint.loadModel(tmp, DataType.FLOAT));
    }

    /**
     * Sizes come from the file only after the file is checked: metadata that claims a model of a
     * hundred billion parameters over a few kilobytes of tensors is refused by name, before any
     * allocation; and a model that does not fit JavaCPP's limit is an OutOfMemoryError naming it.
     */
    @Test
    void aModelFileIsCheckedBeforeItsModelIsAllocated() throws IOException {
        Transformer small = new Transformer(TransformerConfig.decoder(11, 8, 2, 1, 8), DataType.FLOAT);
        TransformerConfig claimed = TransformerConfig.decoder(1_000_000_000, 128, 2, 1, 8);
        Path p = tmp.resolve(Checkpoint.MODEL_FILE);
        SafeTensors.writeAtomically(p, Checkpoint.weightTensors(small.parameters()), Checkpoint.modelMetadata(claimed));
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> Checkpoint.loadModel(tmp, DataType.FLOAT));
        assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("tok_emb"), e.getMessage());

        OutOfMemoryError oom = assertThrows(OutOfMemoryError.class, () -> new Transformer(claimed, DataType.FLOAT));
        assertTrue(oom.getMessage().contains("maxBytes"), oom.getMessage());
    }

    @Test
    void aLanguageModelsWeightsStartAClassifierOfTheSameNetworkUnderAFreshHead() throws IOException {
        TransformerConfig lmCfg = new TransformerConfig(TransformerConfig.Kind.ENCODER, 11, 16, 2, 2, 32, 8,
                TransformerConfig.Norm.PRE, TransformerConfig.Positional.LEARNED, TransformerConfig.Activation.GELU,
                false, 1e-5, 0, 0.0, false); // its own output layer, which the classifier leaves out
        Transformer lm = new Transformer(lmCfg, DataType.FLOAT);
        lm.initialize(1);
        Checkpoint.save(tmp, lm, new AdamW(lm.layout(), DataType.FLOAT, SETTINGS));
        Transformer clf = new Transformer(lmCfg.withClassifier(3, TransformerConfig.Pooling.MEAN), DataType.FLOAT);
        clf.initialize(2);
        float[] head = clf.parameters().tensor("classifier.weight").dup().data().asFloat();
        try (var r = SafeTensors.open(tmp.resolve(Checkpoint.MODEL_FILE))) {
            Checkpoint.readBackbone(r, clf.parameters());
        }
        for (var t : clf.layout().tensors().keySet()) {
            if (!t.startsWith("classifier.")) {
                assertArrayEquals(lm.parameters().tensor(t).dup().data().asFloat(), clf.parameters().tensor(t).dup().data().asFloat(), t);
            }
        }
        assertArrayEquals(head, clf.parameters().tensor("classifier.weight").dup().data().asFloat(), "the head stays as initialised");
        assertTrue(!clf.layout().tensors().containsKey("lm_head.weight"));
        // a different network is refused by name
        Transformer wider = new Transformer(new TransformerConfig(TransformerConfig.Kind.ENCODER, 11, 16, 2, 2, 64, 8,
                TransformerConfig.Norm.PRE, TransformerConfig.Positional.LEARNED, TransformerConfig.Activation.GELU,
                false, 1e-5, 0, 0.0).withClassifier(3, TransformerConfig.Pooling.FIRST), DataType.FLOAT);
        try (var r = SafeTensors.open(tmp.resolve(Checkpoint.MODEL_FILE))) {
            SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> Checkpoint.readBackbone(r, wider.parameters()));
            assertTrue(e.getMessage().contains("fc1.weight"), e.getMessage());
        }
    }
}
