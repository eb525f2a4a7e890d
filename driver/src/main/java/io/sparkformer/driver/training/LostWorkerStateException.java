package io.sparkformer.driver.training;

import io.sparkformer.model.FailureKind;
import io.sparkformer.model.TypedFailure;

/** A worker's state went with its executor: the trainer resumes the run from its last checkpoint. */
public class LostWorkerStateException extends TypedFailure {
    public LostWorkerStateException(String message) {
        super(FailureKind.LOST_WORKER_STATE, message);
    }
}
