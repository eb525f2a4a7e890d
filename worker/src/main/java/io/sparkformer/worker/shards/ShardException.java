package io.sparkformer.worker.shards;

import io.sparkformer.model.FailureKind;

import java.io.IOException;

/** Token shards or their manifest that cannot be used; the message names the file. */
public class ShardException extends IOException implements FailureKind.BadInput {
    public ShardException(String source, String problem) {
        super(source + ": " + problem);
    }

    public ShardException(String source, String problem, Throwable cause) {
        super(source + ": " + problem, cause);
    }

    /** Marked: Spark reports a task's failure by this text, and the driver reads the kind back from it. */
    @Override
    public String toString() {
        return FailureKind.BAD_INPUT.mark(getMessage());
    }
}
