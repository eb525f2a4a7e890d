package io.sparkformer.model.hf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import io.sparkformer.model.io.RandomAccessSource;

/**
 * The files of a checkpoint directory, read by plain file name: a local directory here; the
 * driver gives one on a Hadoop file system (HDFS, S3A), so that the workers of a cluster read a
 * pretrained start where it lies.
 */
public interface CheckpointFiles {
    /** True when the directory holds a regular file of this name. */
    boolean isFile(String name) throws IOException;

    /** A small file's bytes (a config, an index). */
    byte[] readAll(String name) throws IOException;

    /** A file to read at positions (the weights). */
    RandomAccessSource open(String name) throws IOException;

    /** The file's full path, for messages and settings. */
    String location(String name);

    /** The directory's own path. */
    String location();

    /** The local directory, or null when the files are on another file system. */
    Path localDirectory();

    static CheckpointFiles local(Path dir) {
        return new CheckpointFiles() {
            @Override
            public boolean isFile(String name) { return Files.isRegularFile(dir.resolve(name)); }

            @Override
            public byte[] readAll(String name) throws IOException { return Files.readAllBytes(dir.resolve(name)); }

            @Override
            public RandomAccessSource open(String name) throws IOException { return RandomAccessSource.of(dir.resolve(name)); }

            @Override
            public String location(String name) { return dir.resolve(name).toString(); }

            @Override
            public String location() { return dir.toString(); }

            @Override
            public Path localDirectory() { return dir; }
        };
    }
}
