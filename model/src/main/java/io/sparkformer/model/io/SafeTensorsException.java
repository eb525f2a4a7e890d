package io.sparkformer.model.io;

import io.sparkformer.model.BadFileException;

/** A safetensors file that cannot be read as one; the message names the file and what is wrong. */
public class SafeTensorsException extends BadFileException {
    public SafeTensorsException(String source, String problem) {
        super(source, "not a valid safetensors file: " + problem);
    }

    public SafeTensorsException(String source, String problem, Throwable cause) {
        super(source, "not a valid safetensors file: " + problem, cause);
    }
}
