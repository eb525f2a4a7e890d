package io.sparkformer.model.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.ParameterLayout;
import io.sparkformer.model.Model;
import io.sparkformer.model.TensorNames;
import io.sparkformer.model.TransformerConfig;
import io.sparkformer.model.optim.AdamW;

/**
 * A model as two safetensors files: {@code model.safetensors}, the weights by the spec's names with
 * the config in the metadata (loadable by any safetensors reader), and
 * {@code optimizer.safetensors}, AdamW's moments ({@code exp_avg.<name>}, {@code exp_avg_sq.<name>})
 * and step. Values round-trip bit for bit.
 */
public final class Checkpoint {
    public static final String MODEL_FILE = "model.safetensors";
    public static final String OPTIMIZER_FILE = "optimizer.safetensors";
    public static final String FORMAT = "sparkformer-checkpoint-1";
    private static final ObjectMapper JSON = new ObjectMapper();

    private Checkpoint() {}

    // ------------------------------------------------------------------ model weights

    public static Map<String, SafeTensors.Tensor> weightTensors(ParameterBuffer params) {
        return named(params, "");
    }

    public static Map<String, String> modelMetadata(TransformerConfig config) {
        return modelMetadata(config, null);
    }

    /** With a classifier's label names in index order (null for a language model). */
    public static Map<String, String> modelMetadata(TransformerConfig config, List<String> labels) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("config", toJson(config.toMap()));
        if (labels != null) {
            meta.put("labels", toJson(labels));
        }
        return meta;
    }

    /** A classifier's label names in index order, from a model file's metadata (null when it has none). */
    public static List<String> labels(SafeTensors.Reader reader) throws IOException {
        String json = reader.metadata().get("labels");
        if (json == null) {
            return null;
        }
        try {
            List<?> raw = JSON.readValue(json, List.class);
            List<String> names = new java.util.ArrayList<>();
            for (Object o : raw) {
                if (!(o instanceof String n)) {
                    throw new SafeTensorsException(reader.name(), "metadata 'labels' must be a list of strings, has " + o);
                }
                names.add(n);
            }
            return names;
        } catch (JsonProcessingException e) {
            throw new SafeTensorsException(reader.name(), "metadata 'labels' is not JSON: " + e.getOriginalMessage(), e);
        }
    }

    /**
     * Copies a language model's weights into a classifier of the same network: every tensor but
     * the classifier's must be in the file with the same shape; the file's output layer, if it
     * has its own, is left out.
     */
    public static void readBackbone(SafeTensors.Reader reader, ParameterBuffer params) throws IOException {
        for (ParameterLayout.Tensor t : params.layout().tensors().values()) {
            if (t.name().startsWith(TensorNames.CLASSIFIER + ".")) {
                continue;
            }
            SafeTensors.Info info = reader.info(t.name());
            if (!Arrays.equals(info.shape(), t.shape())) {
                throw new SafeTensorsException(reader.name(), "tensor '" + t.name() + "' has shape "
                        + Arrays.toString(info.shape()) + ", the classifier needs " + Arrays.toString(t.shape()));
            }
            if (info.dtype() != SafeTensors.DType.F32 && info.dtype() != SafeTensors.DType.F64) {
                throw new SafeTensorsException(reader.name(), "tensor '" + t.name() + "' has dtype " + info.dtype()
                        + ", expected F32 or F64");
            }
            reader.readInto(t.name(), params.tensor(t.name()));
        }
    }

    /** The config stored in a model file's metadata. */
    public static TransformerConfig config(SafeTensors.Reader reader) throws IOException {
        String json = reader.metadata().get("config");
        if (json == null) {
            throw new SafeTensorsException(reader.name(), "has no 'config' in its metadata, so it is not a model checkpoint");
        }
        try {
            @SuppressWarnings("unchecked")
            Map<String, Object> map = JSON.readValue(json, Map.class);
            return TransformerConfig.fromMap(map);
        } catch (JsonProcessingException e) {
            throw new SafeTensorsException(reader.name(), "metadata 'config' is not JSON: " + e.getOriginalMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new SafeTensorsException(reader.name(), "metadata 'config' is invalid: " + e.getMessage(), e);
        }
    }

    /** Copies every weight into params, checking that names and shapes match the layout exactly. */
    public static void readWeights(SafeTensors.Reader reader, ParameterBuffer params) throws IOException {
        readNamed(reader, params, "");
        for (String name : reader.tensors().keySet()) {
            if (!params.layout().tensors().containsKey(name)) {
                throw new SafeTensorsException(reader.name(), "has tensor '" + name + "', which this model does not have");
            }
        }
    }

    /** Reads a model file: its config, then its weights, into a new model of the given type. */
    public static Model readModel(SafeTensors.Reader reader, DataType type) throws IOException {
        TransformerConfig config = config(reader);
        // the file must hold the tensors its metadata describes before that model is allocated:
        // metadata claiming a huge model over a small file is refused, not allocated
        ParameterLayout layout = ParameterLayout.of(config);
        for (ParameterLayout.Tensor t : layout.tensors().values()) {
            SafeTensors.Info info = reader.info(t.name());
            if (!Arrays.equals(info.shape(), t.shape())) {
                throw new SafeTensorsException(reader.name(), "tensor '" + t.name() + "' has shape "
                        + Arrays.toString(info.shape()) + ", its metadata's model needs " + Arrays.toString(t.shape()));
            }
        }
        Model model = Model.create(config, type);
        readWeights(reader, model.parameters());
        return model;
    }

    // ------------------------------------------------------------------ optimizer state

    public static Map<String, SafeTensors.Tensor> optimizerTensors(AdamW adamw) {
        Map<String, SafeTensors.Tensor> t = new LinkedHashMap<>();
        t.putAll(named(adamw.firstMoment(), "exp_avg."));
        t.putAll(named(adamw.secondMoment(), "exp_avg_sq."));
        t.put("step", SafeTensors.Tensor.scalarLong(adamw.step()));
        return t;
    }

    public static Map<String, String> optimizerMetadata(AdamW adamw) {
        AdamW.Settings s = adamw.settings();
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("beta1", s.beta1());
        settings.put("beta2", s.beta2());
        settings.put("eps", s.eps());
        settings.put("weight_decay", s.weightDecay());
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("optimizer", "adamw");
        meta.put("settings", toJson(settings));
        return meta;
    }

    /**
     * Reads moments and step straight into the optimizer's own buffers (no second copy of 2P
     * floats); on an error the optimizer is left part-read and must not be used.
     */
    public static void readOptimizer(SafeTensors.Reader reader, AdamW adamw) throws IOException {
        long step = optimizerStep(reader);
        readNamed(reader, adamw.firstMoment(), "exp_avg.");
        readNamed(reader, adamw.secondMoment(), "exp_avg_sq.");
        adamw.restoreStep(step);
    }

    /** The step count an optimizer file holds, without reading its moments. */
    public static long optimizerStep(SafeTensors.Reader reader) throws IOException {
        double[] step = reader.doubles("step");
        if (step.length != 1 || step[0] < 0 || step[0] != Math.rint(step[0])) {
            throw new SafeTensorsException(reader.name(), "'step' must be one non-negative whole number");
        }
        return (long) step[0];
    }

    // ------------------------------------------------------------------ local directories

    public static void save(Path dir, Model model, AdamW adamw) throws IOException {
        Files.createDirectories(dir);
        SafeTensors.writeAtomically(dir.resolve(MODEL_FILE), weightTensors(model.parameters()), modelMetadata(model.config()));
        if (adamw != null) {
            SafeTensors.writeAtomically(dir.resolve(OPTIMIZER_FILE), optimizerTensors(adamw), optimizerMetadata(adamw));
        }
    }

    public static Model loadModel(Path dir, DataType type) throws IOException {
        try (SafeTensors.Reader r = SafeTensors.open(dir.resolve(MODEL_FILE))) {
            return readModel(r, type);
        }
    }

    public static void loadOptimizer(Path dir, AdamW adamw) throws IOException {
        try (SafeTensors.Reader r = SafeTensors.open(dir.resolve(OPTIMIZER_FILE))) {
            readOptimizer(r, adamw);
        }
    }

    // ------------------------------------------------------------------ helpers

    private static Map<String, SafeTensors.Tensor> named(ParameterBuffer buffer, String prefix) {
        Map<String, SafeTensors.Tensor> t = new LinkedHashMap<>();
        for (String name : buffer.layout().tensors().keySet()) {
            t.put(prefix + name, SafeTensors.Tensor.of(buffer.tensor(name)));
        }
        return t;
    }

    private static void readNamed(SafeTensors.Reader reader, ParameterBuffer target, String prefix) throws IOException {
        for (ParameterLayout.Tensor t : target.layout().tensors().values()) {
            String name = prefix + t.name();
            SafeTensors.Info info = reader.info(name);
            if (!Arrays.equals(info.shape(), t.shape())) {
                throw new SafeTensorsException(reader.name(), "tensor '" + name + "' has shape "
                        + Arrays.toString(info.shape()) + ", the model needs " + Arrays.toString(t.shape()));
            }
            if (info.dtype() != SafeTensors.DType.F32 && info.dtype() != SafeTensors.DType.F64) {
                throw new SafeTensorsException(reader.name(), "tensor '" + name + "' has dtype " + info.dtype()
                        + ", expected F32 or F64");
            }
            reader.readInto(name, target.tensor(t.name()));
        }
    }

    private static String toJson(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
