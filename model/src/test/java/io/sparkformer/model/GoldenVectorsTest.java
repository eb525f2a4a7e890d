package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.model.io.SafeTensors;
import io.sparkformer.model.optim.AdamW;

/**
 * Every *.safetensors file in -Dgolden.dir (default ../shared/golden): logits, loss, every
 * gradient and the weights after one AdamW step, each as max|got − expected| / max|expected|, at
 * most 1e-8 in double precision and 1e-4 in float32.
 *
 * <p>A tensor that is zero in exact arithmetic (every key bias's gradient: softmax ignores a shift
 * shared by all keys) holds only the reference's round-off, around 1e-17, which no relative
 * measure can match. So the denominator is floored at 1e-6 of the largest value in the same group
 * (logits, gradients, or stepped weights) of that file.
 */
class GoldenVectorsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TestFactory
    Stream<DynamicTest> goldenFiles() throws IOException {
        Path dir = SharedData.goldenDir();
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.toString().endsWith(".safetensors")).sorted().toList();
        }
        assertFalse(files.isEmpty(), "no *.safetensors files in " + dir);
        // Each file in each precision, through the CPU host loops and through the ND4J-op versions
        // the CUDA backend runs.
        return files.stream().flatMap(f -> Stream.of(true, false).flatMap(host -> Stream.of(
                DynamicTest.dynamicTest(f.getFileName() + " [float64" + kernels(host) + "]",
                        () -> withKernels(host, () -> check(f, DataType.DOUBLE, 1e-8))),
                DynamicTest.dynamicTest(f.getFileName() + " [float32" + kernels(host) + "]",
                        () -> withKernels(host, () -> check(f, DataType.FLOAT, 1e-4))))));
    }

    static String kernels(boolean host) {
        return host ? ", host loops" : ", nd4j ops";
    }

    interface Check {
        void run() throws Exception;
    }

    static void withKernels(boolean host, Check check) throws Exception {
        io.sparkformer.model.layers.HostKernels.setEnabled(host);
        try {
            check.run();
        } finally {
            io.sparkformer.model.layers.HostKernels.setEnabled(true);
        }
    }

    static void check(Path file, DataType type, double tolerance) throws IOException {
        try (SafeTensors.Reader r = SafeTensors.open(file)) {
            @SuppressWarnings("unchecked")
            Map<String, Object> cfgMap = JSON.readValue(r.metadata().get("config"), Map.class);
            TransformerConfig cfg = TransformerConfig.fromMap(cfgMap);
            Transformer model = new Transformer(cfg, type);
            for (String name : model.layout().tensors().keySet()) {
                model.parameters().tensor(name).assign(r.array(name, type));
            }
            for (String name : r.tensors().keySet()) {
                if (!name.startsWith("input.") && !name.startsWith("expected.") && !name.equals("target")
                        && !model.layout().tensors().containsKey(name)) {
                    fail(file + ": weight '" + name + "' is not in the model's layout");
                }
            }
            Batch batch = batchOf(r, cfg);
            List<String> problems = new ArrayList<>();
            double loss = model.forward(batch, false);
            INDArray logits = r.array("expected.logits", DataType.DOUBLE);
            compare(problems, "logits", model.logits(), logits, tolerance, logits.amaxNumber().doubleValue());
            double expectedLoss = r.doubles("expected.loss")[0];
            double lossErr = Math.abs(loss - expectedLoss) / Math.abs(expectedLoss);
            if (!(lossErr <= tolerance)) {
                problems.add(String.format("loss: got %.12g expected %.12g (rel %.3g)", loss, expectedLoss, lossErr));
            }
            model.backward();
            double gradScale = groupScale(r, model, "expected.grad.");
            for (String name : model.layout().tensors().keySet()) {
                compare(problems, "grad." + name, model.gradients().tensor(name),
                        r.array("expected.grad." + name, DataType.DOUBLE), tolerance, gradScale);
            }
            @SuppressWarnings("unchecked")
            Map<String, Number> opt = JSON.readValue(r.metadata().get("optimizer"), Map.class);
            AdamW adamw = new AdamW(model.layout(), type, new AdamW.Settings(opt.get("beta1").doubleValue(),
                    opt.get("beta2").doubleValue(), opt.get("eps").doubleValue(), opt.get("weight_decay").doubleValue()));
            adamw.apply(model.parameters(), model.gradients(), opt.get("lr").doubleValue());
            double stepScale = groupScale(r, model, "expected.step1.");
            for (String name : model.layout().tensors().keySet()) {
                compare(problems, "step1." + name, model.parameters().tensor(name),
                        r.array("expected.step1." + name, DataType.DOUBLE), tolerance, stepScale);
            }
            System.out.printf("golden %s [%s%s]: loss %.12f, worst relative error %.3g over %d tensors%n",
                    file.getFileName(), type, kernels(io.sparkformer.model.layers.HostKernels.enabled()), loss, worstError(problems), model.layout().tensors().size() * 2 + 1);
            if (!problems.isEmpty()) {
                fail(file.getFileName() + " [" + type + "] differs beyond " + tolerance + " in "
                        + problems.size() + " tensors:\n  " + String.join("\n  ", problems));
            }
        }
    }

    static Batch batchOf(SafeTensors.Reader r, TransformerConfig cfg) throws IOException {
        int[] target = r.ints("target");
        long[] tShape = r.info("target").shape();
        int b = (int) tShape[0];
        int t = (int) tShape[1];
        if (cfg.kind() == TransformerConfig.Kind.ENCODER_DECODER) {
            int s = (int) r.info("input.src").shape()[1];
            return Batch.seq2seq(b, s, r.ints("input.src"), t, r.ints("input.tgt_in"), target);
        }
        return Batch.of(b, t, r.ints("input.ids"), target);
    }

    private static final ThreadLocal<double[]> WORST = ThreadLocal.withInitial(() -> new double[1]);

    private static double worstError(List<String> problems) {
        double w = WORST.get()[0];
        WORST.get()[0] = 0;
        return w;
    }

    static double groupScale(SafeTensors.Reader r, Transformer model, String prefix) throws IOException {
        double scale = 0;
        for (String name : model.layout().tensors().keySet()) {
            scale = Math.max(scale, r.array(prefix + name, DataType.DOUBLE).amaxNumber().doubleValue());
        }
        return scale;
    }

    /** Records name and relative error when it exceeds tolerance. */
    static double compare(List<String> problems, String name, INDArray got, INDArray expected, double tolerance,
                          double groupScale) {
        INDArray g = got.castTo(DataType.DOUBLE).reshape(expected.shape());
        double scale = Math.max(expected.amaxNumber().doubleValue(), 1e-6 * groupScale);
        double err = g.sub(expected).amaxNumber().doubleValue() / (scale == 0 ? 1 : scale);
        WORST.get()[0] = Math.max(WORST.get()[0], Double.isNaN(err) ? Double.POSITIVE_INFINITY : err);
        if (!(err <= tolerance)) {
            problems.add(String.format("%s: relative error %.3g (max |expected| %.3g)", name, err, scale));
        }
        return err;
    }
}
