package io.sparkformer.driver.training;

/** Training stopped because the loss stopped being a number; the last good checkpoint stays. */
public class TrainingDivergedException extends RuntimeException {
    public TrainingDivergedException(String message) {
        super(message);
    }
}
