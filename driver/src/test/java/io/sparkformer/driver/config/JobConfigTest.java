package io.sparkformer.driver.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import io.sparkformer.model.ConfigException;

class JobConfigTest {
    private static final String MINIMAL = "data:\n  inputs: [corpus.txt]\n";

    private static ConfigException error(String yaml, String... overrides) {
        return assertThrows(ConfigException.class, () -> JobConfig.parse(yaml, "job.yaml", List.of(overrides)));
    }

    @Test
    void defaultsFillEverythingAndOverridesApply() {
        JobConfig c = JobConfig.parse(MINIMAL + "train:\n  lr: 2.0e-3\n", "job.yaml", List.of("train.workers=2", "model.dropout=0.1"));
        assertEquals(2e-3, c.train().lr());
        assertEquals(2, c.train().workers());
        assertEquals(0.1, c.model().dropout());
        assertEquals("auto", c.model().vocabSize());
        assertEquals(250, c.rounds());
        assertEquals(70, c.transformerConfig(70).vocabSize());
        assertEquals(c, JobConfig.parse(c.toYaml(), "resolved.yaml", List.of()), "the resolved config reads back");
    }

    @Test
    void unknownKeysAreNamedWithASuggestion() {
        ConfigException e = error(MINIMAL + "train:\n  learning_rate: 1\n");
        assertEquals("train.learning_rate", e.key());
        e = error(MINIMAL + "data:\n  tokenizr: char\n");
        assertTrue(e.getMessage().contains("did you mean 'tokenizer'"), e.getMessage());
        assertEquals("train.lrr", error(MINIMAL, "train.lrr=1").key());
        assertEquals("nope.x", error(MINIMAL, "nope.x=1").key());
    }

    @Test
    void badValuesAreNamed() {
        assertEquals("train.lr", error(MINIMAL + "train:\n  lr: fast\n").key());
        assertEquals("train.schedule", error(MINIMAL, "train.schedule=linear").key());
        assertEquals("model.kind", error(MINIMAL, "data.task=tagging").key(), "tagging trains an encoder");
        assertEquals("model.init", error(MINIMAL, "model.init=he").key());
        assertEquals("train.block_size", error(MINIMAL, "train.block_size=128").key());
        assertEquals("data.inputs", error("name: x\n").key());
        assertEquals("model.n_heads", error(MINIMAL, "model.vocab_size=70", "model.n_heads=3").key());
        assertEquals("job.yaml", error("train: [unclosed\n").key());
        assertEquals("train.workers", error(MINIMAL, "train.workers=0").key());
    }

    @Test
    void workersRuleScalesTheLearningRate() {
        JobConfig c = JobConfig.parse(MINIMAL, "job.yaml", List.of("train.workers=4", "train.lr_scaling=sqrt"));
        assertEquals(2e-3, c.scaledLr(1e-3), 1e-15);
        c = JobConfig.parse(MINIMAL, "job.yaml", List.of("train.workers=2", "train.lr_scaling=linear"));
        assertEquals(2e-3, c.scaledLr(1e-3), 1e-15);
    }
}
