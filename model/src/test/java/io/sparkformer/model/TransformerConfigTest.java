package io.sparkformer.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;

class TransformerConfigTest {
    private static Map<String, Object> valid() {
        Map<String, Object> m = new HashMap<>();
        m.put("kind", "encoder_decoder");
        m.put("vocab_size", 13);
        m.put("d_model", 16);
        m.put("n_heads", 2);
        m.put("n_layers", 2);
        m.put("d_ff", 32);
        m.put("max_len", 16);
        m.put("norm", "post");
        m.put("positional", "sinusoidal");
        m.put("activation", "relu");
        m.put("scale_embeddings", true);
        m.put("ln_eps", 1e-5);
        m.put("pad_id", 0);
        return m;
    }

    @Test
    void roundTripsThroughTheSpecMap() {
        TransformerConfig c = TransformerConfig.fromMap(valid());
        assertEquals(TransformerConfig.Kind.ENCODER_DECODER, c.kind());
        assertEquals(8, c.headDim());
        assertEquals(c, TransformerConfig.fromMap(c.toMap()));
    }

    @Test
    void errorsNameTheKey() {
        for (var bad : Map.<String, Object>of("n_heads", 3, "kind", "gpt", "norm", "middle", "d_model", 1.5,
                "dropout", 1.0, "pad_id", 13, "vocab_size", "big", "scale_embeddings", "yes").entrySet()) {
            Map<String, Object> m = valid();
            m.put(bad.getKey(), bad.getValue());
            ConfigException e = assertThrows(ConfigException.class, () -> TransformerConfig.fromMap(m), bad.toString());
            assertEquals(bad.getKey(), e.key(), e.getMessage());
        }
        Map<String, Object> unknown = valid();
        unknown.put("n_layer", 4);
        assertEquals("n_layer", assertThrows(ConfigException.class, () -> TransformerConfig.fromMap(unknown)).key());
        Map<String, Object> missing = valid();
        missing.remove("d_ff");
        assertEquals("d_ff", assertThrows(ConfigException.class, () -> TransformerConfig.fromMap(missing)).key());
    }

    @Test
    void nativeBuildChoiceFollowsTheCpuFlags() {
        assertEquals("-avx512", Nd4jRuntime.choose(Set.of("avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl",
                "avx512cd"), e -> true));
        assertEquals("-avx2", Nd4jRuntime.choose(Set.of("avx2", "fma", "avx512f"), e -> true));
        assertEquals("-avx2", Nd4jRuntime.choose(Set.of("avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl",
                "avx512cd"), e -> !e.equals("-avx512")));
        assertEquals("", Nd4jRuntime.choose(Set.of("sse4_2"), e -> e.isEmpty()));
        assertThrows(IllegalStateException.class, () -> Nd4jRuntime.choose(Set.of("sse4_2"), e -> !e.isEmpty()));
    }
}
