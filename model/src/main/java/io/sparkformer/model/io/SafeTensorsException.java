package io.sparkformer.model.io;

import io.sparkformer.model.FailureKind;

import java.io.IOException;

/** A safetensors file that cannot be read as one; the message names the file and what is wrong. */
public class SafeTensorsException extends IOException implements FailureKind.BadInput {
    public SafeTensorsException(String source, String problem) {
        super(source + ": not a valid safetensors file: " + problem);
    }

    public SafeTensorsException(String source, String problem, Throwable cause) {
        super(source + ": not a valid safetensors file: " + problem, cause);
    }

    /** Marked: Spark reports a task's failure by this text, and the driver reads the kind back from it. */
    @Override
    public String toString() {
        return FailureKind.BAD_INPUT.mark(getMessage());
    }
}
