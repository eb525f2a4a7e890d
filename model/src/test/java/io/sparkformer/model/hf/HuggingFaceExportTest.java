package io.sparkformer.model.hf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

import io.sparkformer.model.ConfigException;
import io.sparkformer.model.PyTorchReference;
import io.sparkformer.model.SharedData;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.io.SafeTensors;

/**
 * Import, export, import: the exported tensors are the checkpoint's own, bit for bit, under the
 * same names, and the model read back is the same; a model a family cannot hold is refused by
 * switch before anything is written.
 */
class HuggingFaceExportTest {
    @Test
    void gpt2AndBertExportTheirImportedTensorsBitForBit(@TempDir Path tmp) throws Exception {
        for (String name : List.of("gpt2-tiny", "gpt2-tiny-unprefixed", "bert-tiny")) {
            Path source = SharedData.goldenDir().resolve("hf").resolve(name);
            HuggingFaceCheckpoint in = HuggingFaceCheckpoint.open(source);
            Transformer model = in.load(DataType.FLOAT);
            Path out = tmp.resolve(name);
            HuggingFaceExport.write(out, model.config(), model.parameters(), null, "{}".getBytes(StandardCharsets.UTF_8));
            int compared = 0;
            try (SafeTensors.Reader original = SafeTensors.open(source.resolve(HuggingFaceCheckpoint.WEIGHTS));
                 SafeTensors.Reader exported = SafeTensors.open(out.resolve(HuggingFaceCheckpoint.WEIGHTS))) {
                TreeSet<String> exportedNames = new TreeSet<>();
                for (String n : exported.tensors().keySet()) {
                    exportedNames.add(in.family().unprefixed(n));
                }
                for (String n : original.tensors().keySet()) {
                    String bare = in.family().unprefixed(n);
                    if (!exportedNames.contains(bare)) {
                        // the causal-mask buffers and BERT's pooler, which a masked-LM model does not have
                        assertTrue(bare.endsWith("attn.bias") || bare.startsWith("pooler."), name + ": " + n + " not exported");
                        continue;
                    }
                    String exportedName = exported.tensors().keySet().stream().filter(e -> in.family().unprefixed(e).equals(bare))
                            .findFirst().orElseThrow();
                    assertArrayEquals(original.tensors().get(n).shape(), exported.tensors().get(exportedName).shape(), n);
                    assertArrayEquals(original.floats(n), exported.floats(exportedName), name + ": " + n);
                    compared++;
                }
            }
            Transformer back = HuggingFaceCheckpoint.open(out).load(DataType.FLOAT);
            assertEquals(model.config(), back.config(), name);
            assertArrayEquals(model.parameters().flat().toFloatVector(), back.parameters().flat().toFloatVector(), name);
            System.out.printf("%s: %d tensors exported bit for bit%n", name, compared);
        }
    }

    /** The exports load into make_golden.py's plain-PyTorch forward passes and give its outputs (bench/pytorch/check_hf_export.py). */
    @Test
    void exportsGiveTheReferenceOutputsInPyTorch(@TempDir Path tmp) throws Exception {
        PyTorchReference.assumeInstalled();
        Path script = SharedData.projectRoot().resolve("bench/pytorch/check_hf_export.py");
        for (String name : List.of("gpt2-tiny", "gpt2-tiny-unprefixed", "bert-tiny")) {
            Path source = SharedData.goldenDir().resolve("hf").resolve(name);
            Transformer model = HuggingFaceCheckpoint.open(source).load(DataType.FLOAT);
            Path out = tmp.resolve(name);
            HuggingFaceExport.write(out, model.config(), model.parameters(), null, new byte[0]);
            assertEquals(0, PyTorchReference.run(PyTorchReference.PYTHON, script.toString(), out.toString(), source.toString(),
                    "--tol", "1e-5"), name + ": the reference's outputs differ on the export (see above)");
        }
    }

    @Test
    void aClassifierExportsWithItsLabelsAndReadsBackTheSame(@TempDir Path tmp) throws Exception {
        HuggingFaceCheckpoint in = HuggingFaceCheckpoint.open(SharedData.goldenDir().resolve("hf").resolve("bert-tiny"));
        for (TransformerConfig.Pooling pooling : List.of(TransformerConfig.Pooling.POOLER, TransformerConfig.Pooling.FIRST)) {
            Transformer model = new Transformer(in.config().withClassifier(3, pooling), DataType.FLOAT);
            model.initialize(3);
            in.readInto(model.parameters(), model.config(), true);
            Path out = tmp.resolve(pooling.name());
            HuggingFaceExport.write(out, model.config(), model.parameters(), List.of("neg", "neutral", "pos"), new byte[0]);
            HuggingFaceCheckpoint back = HuggingFaceCheckpoint.open(out);
            assertEquals(model.config(), back.config());
            assertEquals(List.of("neg", "neutral", "pos"), back.labels());
            assertArrayEquals(model.parameters().flat().toFloatVector(), back.load(DataType.FLOAT).parameters().flat().toFloatVector());
        }
    }

    @Test
    void aModelNoFamilyHoldsIsRefusedBySwitchBeforeWriting(@TempDir Path tmp) throws Exception {
        TransformerConfig preNormEncoder = new TransformerConfig(TransformerConfig.Kind.ENCODER, 50, 16, 2, 1, 32, 16,
                TransformerConfig.Norm.PRE, TransformerConfig.Positional.LEARNED, TransformerConfig.Activation.GELU, false, 1e-5, 0, 0.0);
        Transformer model = new Transformer(preNormEncoder, DataType.FLOAT);
        ConfigException e = assertThrows(ConfigException.class,
                () -> HuggingFaceExport.write(tmp.resolve("x"), preNormEncoder, model.parameters(), null, new byte[0]));
        assertEquals("norm", e.key());
        assertTrue(!Files.exists(tmp.resolve("x")), "nothing written");
        assertEquals("positional", assertThrows(ConfigException.class, () -> HuggingFaceExport.familyOf(
                new TransformerConfig(TransformerConfig.Kind.DECODER, 50, 16, 2, 1, 64, 16, TransformerConfig.Norm.PRE,
                        TransformerConfig.Positional.SINUSOIDAL, TransformerConfig.Activation.GELU, false, 1e-5, 0, 0.0))).key());
    }
}
