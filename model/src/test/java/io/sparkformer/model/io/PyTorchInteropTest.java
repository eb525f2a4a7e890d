package io.sparkformer.model.io;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.Batch;
import io.sparkformer.model.PyTorchReference;
import io.sparkformer.model.SharedData;
import io.sparkformer.model.Transformer;
import io.sparkformer.model.TransformerConfig;

/**
 * A checkpoint written here loads into the reference PyTorch model (../shared/golden/generate.py)
 * by the spec's names, and gives the same logits. Needs PyTorch (Debian's python3-torch); skips
 * without it.
 */
class PyTorchInteropTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @EnumSource(value = TransformerConfig.Kind.class, names = {"DECODER", "ENCODER", "ENCODER_DECODER"}) // the reference's kinds
    void referenceModelReadsOurCheckpoint(TransformerConfig.Kind kind) throws Exception {
        Path golden = SharedData.goldenDir();
        PyTorchReference.assumeInstalled();
        boolean encDec = kind == TransformerConfig.Kind.ENCODER_DECODER;
        TransformerConfig cfg = new TransformerConfig(kind, 17, 16, 4, 2, 24, 10,
                encDec ? TransformerConfig.Norm.POST : TransformerConfig.Norm.PRE,
                encDec ? TransformerConfig.Positional.SINUSOIDAL : TransformerConfig.Positional.LEARNED,
                encDec ? TransformerConfig.Activation.RELU : TransformerConfig.Activation.GELU, encDec, 1e-5, 0, 0.0);
        Transformer model = new Transformer(cfg, DataType.FLOAT);
        model.initialize(11);
        // larger than the GPT-2 init, so the comparison is not of near-zero logits
        model.parameters().flat().muli(10);
        Batch batch = encDec
                ? Batch.seq2seq(2, 5, new int[] {3, 4, 5, 6, 7, 8, 9, 10, 0, 0}, 4, new int[] {1, 5, 6, 7, 1, 9, 0, 0},
                        new int[] {5, 6, 7, 2, 9, 2, -1, -1})
                : Batch.of(2, 5, new int[] {3, 4, 5, 6, 7, 8, 9, 10, 0, 0}, new int[] {4, 5, 6, 7, -1, 9, 10, -1, -1, -1});
        model.forward(batch, false);
        Map<String, SafeTensors.Tensor> tensors = new LinkedHashMap<>(Checkpoint.weightTensors(model.parameters()));
        tensors.put("check.logits", SafeTensors.Tensor.of(model.logits()));
        if (encDec) {
            tensors.put("input.src", SafeTensors.Tensor.of(Nd4j.createFromArray(batch.src()).reshape(2, 5)));
            tensors.put("input.tgt_in", SafeTensors.Tensor.of(Nd4j.createFromArray(batch.ids()).reshape(2, 4)));
        } else {
            tensors.put("input.ids", SafeTensors.Tensor.of(Nd4j.createFromArray(batch.ids()).reshape(2, 5)));
        }
        Path file = tmp.resolve(Checkpoint.MODEL_FILE);
        SafeTensors.writeAtomically(file, tensors, Checkpoint.modelMetadata(cfg));
        Path script = SharedData.projectRoot().resolve("bench/pytorch/check_checkpoint.py");
        assertEquals(0, PyTorchReference.run(PyTorchReference.PYTHON, script.toString(), file.toString(), golden.toString(), "--tol", "1e-5"),
                "the reference model's logits differ from ours on the checkpoint (see output above)");
    }
}
