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
        assertEquals(70, c.transformerConfig(70, 0).vocabSize());
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
        assertEquals("train.schedule", error(MINIMAL, "train.schedule=step").key());
        assertEquals("model.kind", error(MINIMAL, "data.task=tagging").key(), "tagging trains an encoder");
        assertEquals("model.init", error(MINIMAL, "model.init=he").key());
        assertEquals("train.block_size", error(MINIMAL, "train.block_size=128").key());
        assertEquals("data.inputs", error("name: x\n").key());
        assertEquals("model.n_heads", error(MINIMAL, "model.vocab_size=70", "model.n_heads=3").key());
        assertEquals("job.yaml", error("train: [unclosed\n").key());
        assertEquals("train.workers", error(MINIMAL, "train.workers=0").key());
        assertEquals("checkpoint.best", error(MINIMAL, "checkpoint.best=true", "data.validation_fraction=0").key(),
                "no validation set to pick the best weights by");
        assertEquals("checkpoint.best", error(MINIMAL, "checkpoint.best=true", "data.task=classification").key(),
                "a classifier holds out no fraction: it needs validation files");
    }

    @Test
    void workersRuleScalesTheLearningRate() {
        JobConfig c = JobConfig.parse(MINIMAL, "job.yaml", List.of("train.workers=4", "train.lr_scaling=sqrt"));
        assertEquals(2e-3, c.scaledLr(1e-3), 1e-15);
        c = JobConfig.parse(MINIMAL, "job.yaml", List.of("train.workers=2", "train.lr_scaling=linear"));
        assertEquals(2e-3, c.scaledLr(1e-3), 1e-15);
    }

    /**
     * Hostile configs end as a ConfigException naming the source, at once: a "billion laughs"
     * of nested aliases (expanded it would be 10^9 strings), and a file too large to be a config.
     */
    @Test
    void anAliasBombAndAnOversizedConfigAreRefused() throws Exception {
        StringBuilder bomb = new StringBuilder("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for (char c = 'b'; c <= 'i'; c++) {
            char prev = (char) (c - 1);
            bomb.append(c).append(": &").append(c).append(" [");
            for (int i = 0; i < 10; i++) {
                bomb.append(i == 0 ? "" : ",").append('*').append(prev);
            }
            bomb.append("]\n");
        }
        bomb.append("name: *i\n");
        ConfigException e = assertThrows(ConfigException.class, () -> JobConfig.parse(bomb.toString(), "bomb.yaml", List.of()));
        assertTrue(e.getMessage().contains("bomb.yaml") && e.getMessage().contains("alias"), e.getMessage());
        // one alias under known keys: refused too, not read as the alias's name ("a")
        ConfigException one = assertThrows(ConfigException.class, () -> JobConfig.parse(
                "data:\n  inputs: &a [x.txt]\n  validation: *a\n", "one.yaml", List.of()));
        assertTrue(one.getMessage().contains("one.yaml") && one.getMessage().contains("line 3"), one.getMessage());

        java.nio.file.Path big = java.nio.file.Files.createTempFile("huge", ".yaml");
        try {
            java.nio.file.Files.write(big, new byte[JobConfig.MAX_CONFIG_BYTES + 1]);
            ConfigException tooBig = assertThrows(ConfigException.class, () -> JobConfig.read(big));
            assertTrue(tooBig.getMessage().contains(big.toString()) && tooBig.getMessage().contains("bytes"), tooBig.getMessage());
        } finally {
            java.nio.file.Files.delete(big);
        }
    }

    /**
     * Every choice key's comment in defaults.yaml ("a | b | c") lists exactly the values its enum
     * takes, so the file a user reads cannot drift from what the parser accepts.
     */
    @Test
    void defaultsYamlListsEachChoiceKeysValues() throws Exception {
        List<String> lines;
        try (var in = JobConfig.class.getResourceAsStream("/io/sparkformer/driver/defaults.yaml")) {
            lines = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).lines().toList();
        }
        int checked = 0;
        for (var section : List.of(JobConfig.Data.class, JobConfig.Model.class, JobConfig.Train.class)) {
            String name = section.getSimpleName().toLowerCase(java.util.Locale.ROOT);
            int start = lines.indexOf(name + ":");
            assertTrue(start >= 0, "defaults.yaml has a section " + name);
            for (var component : section.getRecordComponents()) {
                if (!component.getType().isEnum()) {
                    continue;
                }
                String key = component.getName().replaceAll("([A-Z])", "_$1").toLowerCase(java.util.Locale.ROOT);
                String line = lines.stream().skip(start + 1).takeWhile(l -> l.startsWith(" ") || l.isEmpty())
                        .filter(l -> l.startsWith("  " + key + ":")).findFirst()
                        .orElseThrow(() -> new AssertionError(name + "." + key + " is missing from defaults.yaml"));
                assertTrue(line.contains("#"), name + "." + key + " has no comment listing its values: " + line);
                java.util.Set<String> listed = new java.util.TreeSet<>();
                for (String part : line.substring(line.indexOf('#') + 1).split("\\|")) {
                    java.util.regex.Matcher m = java.util.regex.Pattern.compile("[a-z0-9_]+").matcher(part);
                    assertTrue(m.find(), line);
                    listed.add(m.group());
                }
                assertEquals(new java.util.TreeSet<>(JobConfig.choices(component.getType())), listed, name + "." + key);
                checked++;
            }
        }
        assertEquals(13, checked, "every choice key of data, model and train");
    }
}
