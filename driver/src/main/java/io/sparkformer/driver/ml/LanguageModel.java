package io.sparkformer.driver.ml;

import java.util.Map;

import org.apache.spark.ml.Model;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructType;

import io.sparkformer.driver.training.RunDirectory;

/**
 * A language model fitted by {@link LanguageModelTrainer}. It feeds the other stages: {@link
 * #generator()} continues texts with it, {@link #embedder()} embeds them, {@link #classifier()}
 * fine-tunes a classifier from it. Its own {@code transform} is the first of these for a causal
 * model and the second for a masked one, on the executors as theirs are. Saving writes the params
 * and a copy of the checkpoint, as a classifier's.
 */
public final class LanguageModel extends Model<LanguageModel> implements MLWritable {
    private static final long serialVersionUID = 1L;

    private final String uid;
    private final String checkpoint;
    private final String objective;
    private final Param<String> inputCol;
    private final Param<String> outputCol;

    /** {@code checkpoint}: the model's checkpoint directory (any Hadoop FS path the executors can read). */
    public LanguageModel(String uid, String checkpoint, String objective) {
        this.uid = uid;
        this.checkpoint = checkpoint;
        this.objective = objective;
        inputCol = new Param<>(this, "inputCol", "the text column", TrainingEstimator::nonBlank);
        outputCol = new Param<>(this, "outputCol", "the column to add: the continuation (causal) or the embedding (masked)",
                TrainingEstimator::nonBlank);
        setDefault(inputCol, "text");
        setDefault(outputCol, causal() ? "generated" : "embedding");
    }

    public Param<String> inputCol() { return inputCol; }
    public Param<String> outputCol() { return outputCol; }

    public LanguageModel setInputCol(String value) { set(inputCol, value); return this; }
    public LanguageModel setOutputCol(String value) { set(outputCol, value); return this; }

    /** The checkpoint directory of the fitted model. */
    public String checkpoint() { return checkpoint; }

    /** "causal" or "masked". */
    public String objective() { return objective; }

    private boolean causal() {
        return LanguageModelTrainer.CAUSAL.equals(objective);
    }

    /** A generator running this model on this stage's columns (a causal model; a masked one is refused when it runs). */
    public TextGenerator generator() {
        return new TextGenerator().setModelPath(checkpoint).setInputCol($(inputCol)).setOutputCol($(outputCol));
    }

    /** An embedder running this model on this stage's columns. */
    public TextEmbedder embedder() {
        return new TextEmbedder().setModelPath(checkpoint).setInputCol($(inputCol)).setOutputCol($(outputCol));
    }

    /**
     * A classifier that fine-tunes from this model's weights, with its network and job (the
     * checkpoint's config file; the classifier's own keys and the params set on it go over it).
     */
    public TextClassifier classifier() {
        return new TextClassifier().setInitFrom(checkpoint).setConfigFile(checkpoint + "/" + RunDirectory.CONFIG)
                .setInputCol($(inputCol));
    }

    private Transformer own() {
        return causal() ? generator() : embedder();
    }

    @Override
    public String uid() { return uid; }

    @Override
    public StructType transformSchema(StructType schema) {
        return own().transformSchema(schema);
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        return own().transform(dataset);
    }

    @Override
    public LanguageModel copy(ParamMap extra) {
        LanguageModel copy = new LanguageModel(uid, checkpoint, objective);
        return copyValues(copy, extra).setParent(parent());
    }

    @Override
    public MLWriter write() {
        return new MLWriter() {
            @Override
            public void saveImpl(String path) {
                SavedStage.save(LanguageModel.this, checkpoint, Map.of("objective", objective), path, sparkSession());
            }
        };
    }

    public static MLReader<LanguageModel> read() {
        return new MLReader<>() {
            @Override
            public LanguageModel load(String path) {
                SavedStage.Loaded saved = SavedStage.load(path, sparkSession(), LanguageModel.class);
                String objective = saved.fields().path("objective").asText();
                if (!objective.equals(LanguageModelTrainer.CAUSAL) && !objective.equals(LanguageModelTrainer.MASKED)) {
                    throw new IllegalArgumentException(path + "/" + SavedStage.STAGE_FILE + ": objective '" + objective
                            + "' is neither causal nor masked");
                }
                LanguageModel model = new LanguageModel(saved.metadata().uid(), saved.checkpoint(), objective);
                saved.metadata().getAndSetParams(model, scala.Option.empty());
                return model;
            }
        };
    }

    public static LanguageModel load(String path) {
        return read().load(path);
    }
}
