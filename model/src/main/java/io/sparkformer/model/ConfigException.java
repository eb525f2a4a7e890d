package io.sparkformer.model;

/** A configuration value that cannot be used; the message names the key. */
public class ConfigException extends IllegalArgumentException {
    private final String key;

    public ConfigException(String key, String message) {
        super(key + ": " + message);
        this.key = key;
    }

    public String key() { return key; }
}
