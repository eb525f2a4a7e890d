package io.sparkformer.model.text;

import java.io.IOException;

/** A tokenizer file that cannot be used; the message names the file and the problem. */
public class TokenizerException extends IOException {
    public TokenizerException(String source, String problem) {
        super(source + ": " + problem);
    }

    public TokenizerException(String source, String problem, Throwable cause) {
        super(source + ": " + problem, cause);
    }
}
