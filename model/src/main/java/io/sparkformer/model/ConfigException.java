package io.sparkformer.model;

/** A configuration value that cannot be used; the message names the key. */
public class ConfigException extends IllegalArgumentException implements FailureKind.BadInput {
    private final String key;

    public ConfigException(String key, String message) {
        super(key + ": " + message);
        this.key = key;
    }

    public String key() { return key; }

    /** Marked: Spark reports a task's failure by this text, and the driver reads the kind back from it. */
    @Override
    public String toString() {
        return FailureKind.BAD_INPUT.mark(getMessage());
    }
}
