package io.sparkformer.driver;

import io.sparkformer.model.inference.Generator;
import picocli.CommandLine.Option;

/** Options the commands that use a trained model share (picocli mixins). */
final class ModelOptions {
    private ModelOptions() {}

    static final class Model {
        @Option(names = "--model", required = true,
                description = "checkpoint directory, run directory (its latest checkpoint) or models directory (current)")
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
}
