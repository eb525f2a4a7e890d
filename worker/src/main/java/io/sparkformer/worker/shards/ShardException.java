package io.sparkformer.worker.shards;

import java.io.IOException;

/** Token shards or their manifest that cannot be used; the message names the file. */
public class ShardException extends IOException {
    public ShardException(String source, String problem) {
        super(source + ": " + problem);
    }

    public ShardException(String source, String problem, Throwable cause) {
        super(source + ": " + problem, cause);
    }
}
