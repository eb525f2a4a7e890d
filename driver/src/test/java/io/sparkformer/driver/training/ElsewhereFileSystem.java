package io.sparkformer.driver.training;

import java.net.URI;

import org.apache.hadoop.fs.RawLocalFileSystem;

/**
 * This machine's files under the scheme elsewhere:// (registered for the tests through
 * META-INF/services): a file system Hadoop reads that is not "file", as HDFS or S3A is to a job.
 */
public class ElsewhereFileSystem extends RawLocalFileSystem {
    static final String SCHEME = "elsewhere";

    @Override
    public URI getUri() {
        return URI.create(SCHEME + ":///");
    }

    @Override
    public String getScheme() {
        return SCHEME;
    }

    /** {@code path} (an absolute local path) as this file system's URI. */
    static String uri(java.nio.file.Path path) {
        return SCHEME + "://" + path.toAbsolutePath();
    }
}
