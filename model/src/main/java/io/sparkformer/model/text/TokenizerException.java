package io.sparkformer.model.text;

import io.sparkformer.model.FailureKind;

import java.io.IOException;

/** A tokenizer file that cannot be used; the message names the file and the problem. */
public class TokenizerException extends IOException implements FailureKind.BadInput {
    public TokenizerException(String source, String problem) {
        super(source + ": " + problem);
    }

    public TokenizerException(String source, String problem, Throwable cause) {
        super(source + ": " + problem, cause);
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    /** Parses a tokenizer file's JSON; malformed input is an error naming the file. */
    static com.fasterxml.jackson.databind.JsonNode parse(byte[] json, String source) throws TokenizerException {
        try {
            com.fasterxml.jackson.databind.JsonNode root = JSON.readTree(new String(json, java.nio.charset.StandardCharsets.UTF_8));
            if (root == null || !root.isObject()) {
                throw new TokenizerException(source, "not a JSON object");
            }
            return root;
        } catch (IOException e) {
            throw new TokenizerException(source, "not JSON: " + e.getMessage(), e);
        }
    }

    /** Marked: Spark reports a task's failure by this text, and the driver reads the kind back from it. */
    @Override
    public String toString() {
        return FailureKind.BAD_INPUT.mark(getMessage());
    }
}
