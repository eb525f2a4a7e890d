package io.sparkformer.driver.training;

import io.sparkformer.model.FailureKind;

/** A worker's state went with its executor: the trainer resumes the run from its last checkpoint. */
public class LostWorkerStateException extends IllegalStateException implements FailureKind.Typed {
    public LostWorkerStateException(String message) {
        super(message);
    }

    @Override
    public FailureKind kind() {
        return FailureKind.LOST_WORKER_STATE;
    }

    /** Marked: the round's failure reaches the driver as this text. */
    @Override
    public String toString() {
        return kind().mark(getMessage());
    }
}
