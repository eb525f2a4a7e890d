package io.sparkformer.driver.ml;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.param.ParamValidators;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.types.StructType;

import io.sparkformer.driver.models.TrainedModel;

/**
 * A Spark ML Estimator: trains (or goes on training) a language model on a DataFrame's text
 * column, causal (next token, GPT-2's) or masked (BERT's), with the same trainer as {@code
 * sparkformer train} (see {@link TrainingEstimator} for the job and its params), and returns a
 * {@link LanguageModel}, whose checkpoint the other stages start from or run. From the defaults
 * (no starting checkpoint, no config file) the objective picks the model: a decoder for causal,
 * an encoder for masked.
 */
public final class LanguageModelTrainer extends TrainingEstimator<LanguageModel, LanguageModelTrainer> {
    private static final long serialVersionUID = 1L;
    static final String CAUSAL = "causal";
    static final String MASKED = "masked";

    private final Param<String> objective;

    public LanguageModelTrainer() {
        this(Identifiable.randomUID("languageModelTrainer"));
    }

    public LanguageModelTrainer(String uid) {
        super(uid);
        objective = new Param<>(this, "objective", "what the model learns: causal (the next token) or masked (hidden tokens)",
                ParamValidators.inArray(new String[] {CAUSAL, MASKED}));
        setDefault(objective, CAUSAL);
    }

    public Param<String> objective() { return objective; }

    public LanguageModelTrainer setObjective(String value) { set(objective, value); return this; }

    @Override
    public StructType transformSchema(StructType schema) {
        TrainingEstimator.requireText(uid(), schema, $(inputCol()));
        return schema;
    }

    @Override
    public LanguageModel fit(Dataset<?> dataset) {
        transformSchema(dataset.schema());
        boolean causal = $(objective).equals(CAUSAL);
        List<String> keys = new ArrayList<>(List.of("data.task=" + (causal ? "causal_lm" : "masked_lm"), "data.column=" + $(inputCol())));
        if (fromDefaults()) {
            keys.add("model.kind=" + (causal ? "decoder" : "encoder"));
        }
        TrainedModel.Header trained = train(dataset, List.of($(inputCol())), keys);
        LanguageModel model = new LanguageModel(uid(), trained.checkpoint(), $(objective));
        model.set(model.inputCol(), $(inputCol()));
        return model.setParent(this);
    }

    @Override
    public LanguageModelTrainer copy(ParamMap extra) {
        return (LanguageModelTrainer) defaultCopy(extra);
    }

    public static MLReader<LanguageModelTrainer> read() {
        return new DefaultParamsReader<>();
    }

    public static LanguageModelTrainer load(String path) {
        return read().load(path);
    }
}
