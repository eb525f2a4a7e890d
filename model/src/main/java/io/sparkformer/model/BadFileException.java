package io.sparkformer.model;

import java.io.IOException;

/**
 * A file the user gave that cannot be used as what it should be; the message names the file and
 * the problem. Bad input: a command ends with exit 2, also when a Spark task threw it.
 */
public class BadFileException extends IOException implements FailureKind.BadInput {
    public BadFileException(String source, String problem) {
        super(source + ": " + problem);
    }

    public BadFileException(String source, String problem, Throwable cause) {
        super(source + ": " + problem, cause);
    }

    /** Marked: Spark reports a task's failure by this text, and the driver reads the kind back from it. */
    @Override
    public String toString() {
        return FailureKind.BAD_INPUT.mark(getMessage());
    }
}
