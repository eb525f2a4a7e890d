package io.sparkformer.driver.training;

import io.sparkformer.model.FailureKind;

/** Training stopped because the loss stopped being a number; the last good checkpoint stays. */
public class TrainingDivergedException extends RuntimeException implements FailureKind.Typed {
    public TrainingDivergedException(String message) {
        super(message);
    }

    @Override
    public FailureKind kind() {
        return FailureKind.DIVERGED;
    }
}
