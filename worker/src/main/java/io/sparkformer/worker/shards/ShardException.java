package io.sparkformer.worker.shards;

import io.sparkformer.model.BadFileException;

/** Token shards or their manifest that cannot be used; the message names the file. */
public class ShardException extends BadFileException {
    public ShardException(String source, String problem) {
        super(source, problem);
    }

    public ShardException(String source, String problem, Throwable cause) {
        super(source, problem, cause);
    }
}
