package io.sparkformer.driver.training;

import io.sparkformer.model.FailureKind;
import io.sparkformer.model.TypedFailure;

/** Training stopped because the loss stopped being a number; the last good checkpoint stays. */
public class TrainingDivergedException extends TypedFailure {
    public TrainingDivergedException(String message) {
        super(FailureKind.DIVERGED, message);
    }
}
