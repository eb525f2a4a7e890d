package io.sparkformer.driver.models;

import java.io.FileNotFoundException;
import java.io.IOException;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

import io.sparkformer.driver.corpus.HadoopFiles;
import io.sparkformer.model.hf.CheckpointFiles;
import io.sparkformer.model.io.RandomAccessSource;

/**
 * A checkpoint directory on a Hadoop file system (HDFS, S3A), its files read where they lie: the
 * weights by position, so a worker reads them straight into its replica, through no other JVM.
 */
final class HadoopCheckpointFiles implements CheckpointFiles {
    private final String dir;
    private final Configuration conf;

    HadoopCheckpointFiles(String dir, Configuration conf) {
        this.dir = trimmed(dir);
        this.conf = conf;
    }

    /** The path without a trailing slash. */
    private static String trimmed(String dir) {
        return dir.endsWith("/") && dir.length() > 1 ? dir.substring(0, dir.length() - 1) : dir;
    }

    @Override
    public boolean isFile(String name) throws IOException {
        Path p = new Path(location(name));
        try {
            return p.getFileSystem(conf).getFileStatus(p).isFile();
        } catch (FileNotFoundException e) {
            return false;
        }
    }

    @Override
    public byte[] readAll(String name) throws IOException {
        return HadoopFiles.read(location(name), conf);
    }

    @Override
    public RandomAccessSource open(String name) throws IOException {
        return HadoopFiles.source(location(name), conf);
    }

    @Override
    public String location(String name) {
        return dir + "/" + name;
    }

    @Override
    public String location() {
        return dir;
    }

    @Override
    public java.nio.file.Path localDirectory() {
        return null;
    }
}
