package io.sparkformer.driver.corpus;

import io.sparkformer.model.FailureKind;

/** Input that cannot become token shards; the message names the file, line or key. */
public class CorpusException extends RuntimeException implements FailureKind.BadInput {
    public CorpusException(String message) {
        super(message);
    }

    public CorpusException(String message, Throwable cause) {
        super(message, cause);
    }

    /** Marked: Spark reports a task's failure by this text, and the driver reads the kind back from it. */
    @Override
    public String toString() {
        return FailureKind.BAD_INPUT.mark(getMessage());
    }
}
