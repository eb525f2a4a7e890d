package io.sparkformer.model.text;

import java.io.IOException;

import io.sparkformer.model.BadFileException;

/** A tokenizer file that cannot be used; the message names the file and the problem. */
public class TokenizerException extends BadFileException {
    public TokenizerException(String source, String problem) {
        super(source, problem);
    }

    public TokenizerException(String source, String problem, Throwable cause) {
        super(source, problem, cause);
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
}
