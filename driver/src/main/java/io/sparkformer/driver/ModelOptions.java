package io.sparkformer.driver;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.apache.hadoop.conf.Configuration;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.model.inference.Generator;
import picocli.CommandLine.Option;

/** Options the commands that use a trained model share (picocli mixins). */
final class ModelOptions {
    private ModelOptions() {}

    static final class Model {
        @Option(names = "--model", required = true,
                description = "checkpoint directory, run directory (its latest checkpoint), models directory (current),"
                        + " Hugging Face checkpoint directory or Hub id hf:org/name[@revision]")
        String path;
    }

    static final class Search {
        @Option(names = "--method", description = "greedy, beam (or, for generate, sample); default greedy")
        Generator.Method method = Generator.Method.GREEDY;

        @Option(names = "--beam-width", description = "beam search width (default ${DEFAULT-VALUE})")
        int beamWidth = 4;

        @Option(names = "--length-penalty", description = "beam search: GNMT alpha, 0 = none (default ${DEFAULT-VALUE})")
        double lengthPenalty = 0.6;
    }

    /** Input lines: --text (repeatable), else an --input file, else standard input. */
    static final class Inputs {
        @Option(names = "--text", description = "an input line (repeatable)")
        List<String> texts = new ArrayList<>();

        @Option(names = "--input", description = "a file of input lines (any Hadoop FS path); default standard input")
        String input;

        /** The --text lines, else the --input file's non-empty lines, else standard input's lines. */
        List<String> lines(Configuration conf) throws java.io.IOException {
            if (!texts.isEmpty()) {
                return texts;
            }
            if (input != null) {
                String path = HadoopFiles.absolute(input);
                return List.of(new String(HadoopFiles.read(path, conf), StandardCharsets.UTF_8).split("\n", -1)).stream()
                        .filter(l -> !l.isEmpty()).toList();
            }
            List<String> lines = new ArrayList<>();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                for (String l = r.readLine(); l != null; l = r.readLine()) {
                    lines.add(l);
                }
            }
            return lines;
        }
    }
}
