package io.sparkformer.driver.corpus;

/** Input that cannot become token shards; the message names the file, line or key. */
public class CorpusException extends RuntimeException {
    public CorpusException(String message) {
        super(message);
    }

    public CorpusException(String message, Throwable cause) {
        super(message, cause);
    }
}
