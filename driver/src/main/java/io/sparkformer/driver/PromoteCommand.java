package io.sparkformer.driver;

import java.util.Locale;
import java.util.concurrent.Callable;

import org.apache.hadoop.conf.Configuration;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.driver.models.Promotion;
import io.sparkformer.model.Nd4jRuntime;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Moves a models directory's current pointer to a finished run when it scores better. */
@Command(name = "promote", mixinStandardHelpOptions = true,
        description = {"Move MODELS_DIR/current to a finished run's final checkpoint if its validation loss is lower",
                "than the current model's (on the same validation set). Writes the decision and its reason to",
                "RUN_DIR/promotion.json and MODELS_DIR/promotions.jsonl. Rerunning it is harmless."})
final class PromoteCommand implements Callable<Integer> {
    @Option(names = "--run", required = true, description = "the finished run directory (any Hadoop FS path)")
    String run;

    @Option(names = "--models", required = true, description = "the models directory holding the current pointer")
    String models;

    @Override
    public Integer call() throws Exception {
        Nd4jRuntime.init();
        String runDir = HadoopFiles.absolute(run);
        Promotion.Decision d = new Promotion(new Configuration()).promote(runDir, HadoopFiles.absolute(models));
        System.out.println("sparkformer: " + d.outcome().name().toLowerCase(Locale.ROOT).replace('_', ' ') + ": " + d.reason());
        System.out.println("sparkformer: decision written to " + runDir + "/" + Promotion.DECISION_FILE);
        return Cli.OK;
    }
}
