package io.sparkformer.driver.ml;

import java.util.Arrays;
import java.util.List;

import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.DefaultParamsReader;
import org.apache.spark.ml.util.Identifiable;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import io.sparkformer.driver.models.TrainedModel;

/**
 * A Spark ML Estimator: fine-tunes (or trains) a text classifier on a DataFrame's text and label
 * columns (see {@link TrainingEstimator} for the job and its params) and returns a
 * {@link TextClassificationModel}. Labels may be strings, integers, booleans or doubles (Spark
 * ML's own); the model predicts values of the same type.
 */
public final class TextClassifier extends TrainingEstimator<TextClassificationModel, TextClassifier> {
    private static final long serialVersionUID = 1L;
    private static final List<DataType> LABEL_TYPES = List.of(DataTypes.StringType, DataTypes.IntegerType, DataTypes.LongType,
            DataTypes.ShortType, DataTypes.ByteType, DataTypes.BooleanType, DataTypes.DoubleType, DataTypes.FloatType);

    private final Param<String> labelCol;
    private final Param<String> predictionCol;
    private final Param<String> probabilityCol;

    public TextClassifier() {
        this(Identifiable.randomUID("textClassifier"));
    }

    public TextClassifier(String uid) {
        super(uid);
        labelCol = new Param<>(this, "labelCol", "the label column: strings, integers, booleans or doubles", TrainingEstimator::nonBlank);
        predictionCol = new Param<>(this, "predictionCol", "the fitted model's likeliest-label column", TrainingEstimator::nonBlank);
        probabilityCol = new Param<>(this, "probabilityCol", "the fitted model's probability vector column", TrainingEstimator::nonBlank);
        setDefault(labelCol, "label");
        setDefault(predictionCol, "prediction");
        setDefault(probabilityCol, "probability");
    }

    public Param<String> labelCol() { return labelCol; }
    public Param<String> predictionCol() { return predictionCol; }
    public Param<String> probabilityCol() { return probabilityCol; }

    public TextClassifier setLabelCol(String value) { set(labelCol, value); return this; }
    public TextClassifier setPredictionCol(String value) { set(predictionCol, value); return this; }
    public TextClassifier setProbabilityCol(String value) { set(probabilityCol, value); return this; }

    @Override
    public StructType transformSchema(StructType schema) {
        requireText(uid(), schema, $(inputCol()));
        labelType(schema);
        return schema;
    }

    @Override
    public TextClassificationModel fit(Dataset<?> dataset) {
        StructType schema = dataset.schema();
        transformSchema(schema);
        DataType labelType = labelType(schema);
        TrainedModel.Header trained = train(dataset, List.of($(inputCol()), $(labelCol)),
                List.of("data.task=classification", "data.column=" + $(inputCol()), "data.target_column=" + $(labelCol)));
        TextClassificationModel model = new TextClassificationModel(uid(), trained.checkpoint(), trained.labels(), labelType);
        model.set(model.inputCol(), $(inputCol())).set(model.predictionCol(), $(predictionCol))
                .set(model.probabilityCol(), $(probabilityCol));
        return model.setParent(this);
    }

    /** The label column's type; an error naming the column and its type when it is none a classifier takes. */
    private DataType labelType(StructType schema) {
        String label = $(labelCol);
        if (!Arrays.asList(schema.fieldNames()).contains(label)) {
            throw new IllegalArgumentException(uid() + ": labelCol '" + label + "' is not a column; the columns are "
                    + Arrays.toString(schema.fieldNames()));
        }
        DataType type = schema.apply(label).dataType();
        if (!LABEL_TYPES.contains(type)) {
            throw new IllegalArgumentException(uid() + ": labelCol '" + label + "' holds " + type.simpleString()
                    + "; labels are strings, integers, booleans or doubles");
        }
        return type;
    }

    /** Each label name as a value of the label column's type (how the corpus wrote it: its text). */
    static Object[] labelValues(List<String> labels, DataType type) {
        Object[] out = new Object[labels.size()];
        for (int i = 0; i < out.length; i++) {
            String l = labels.get(i);
            try {
                out[i] = type.equals(DataTypes.StringType) ? l
                        : type.equals(DataTypes.IntegerType) ? (Object) Integer.valueOf(l)
                        : type.equals(DataTypes.LongType) ? (Object) Long.valueOf(l)
                        : type.equals(DataTypes.ShortType) ? (Object) Short.valueOf(l)
                        : type.equals(DataTypes.ByteType) ? (Object) Byte.valueOf(l)
                        : type.equals(DataTypes.BooleanType) && (l.equals("true") || l.equals("false")) ? (Object) Boolean.valueOf(l)
                        // Spark ML's own labels (StringIndexer's 0.0, 1.0, ...): their text is Spark's cast, which parses back exactly
                        : type.equals(DataTypes.DoubleType) ? (Object) Double.valueOf(l)
                        : type.equals(DataTypes.FloatType) ? (Object) Float.valueOf(l)
                        : null;
            } catch (NumberFormatException e) {
                out[i] = null;
            }
            if (out[i] == null) {
                throw new IllegalArgumentException("label '" + l + "' is not a value of the label column's type " + type.simpleString());
            }
        }
        return out;
    }

    @Override
    public TextClassifier copy(ParamMap extra) {
        return (TextClassifier) defaultCopy(extra);
    }

    public static MLReader<TextClassifier> read() {
        return new DefaultParamsReader<>();
    }

    public static TextClassifier load(String path) {
        return read().load(path);
    }
}
