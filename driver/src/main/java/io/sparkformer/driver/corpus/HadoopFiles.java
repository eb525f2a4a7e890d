package io.sparkformer.driver.corpus;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/** Files on any Hadoop FileSystem (file:, hdfs:, s3a:), with errors that name the path. */
public final class HadoopFiles {
    private HadoopFiles() {}

    /** The files a path or glob names, sorted; a directory stands for the files in it. */
    public static List<FileStatus> list(String pathOrGlob, Configuration conf) {
        try {
            Path p = new Path(pathOrGlob);
            FileSystem fs = p.getFileSystem(conf);
            FileStatus[] matched = fs.globStatus(p);
            if (matched == null || matched.length == 0) {
                throw new CorpusException(pathOrGlob + ": no such file, or no files match");
            }
            List<FileStatus> files = new ArrayList<>();
            for (FileStatus s : matched) {
                if (s.isDirectory()) {
                    for (FileStatus c : fs.listStatus(s.getPath())) {
                        String name = c.getPath().getName();
                        if (c.isFile() && !name.startsWith(".") && !name.startsWith("_")) {
                            files.add(c);
                        }
                    }
                } else {
                    files.add(s);
                }
            }
            if (files.isEmpty()) {
                throw new CorpusException(pathOrGlob + ": a directory with no files in it");
            }
            files.sort((a, b) -> a.getPath().toString().compareTo(b.getPath().toString()));
            return files;
        } catch (IOException e) {
            throw new CorpusException(pathOrGlob + ": cannot list: " + e.getMessage(), e);
        }
    }

    public static boolean exists(String path, Configuration conf) throws IOException {
        Path p = new Path(path);
        return p.getFileSystem(conf).exists(p);
    }

    public static byte[] read(String path, Configuration conf) throws IOException {
        Path p = new Path(path);
        try (InputStream in = p.getFileSystem(conf).open(p)) {
            return in.readAllBytes();
        }
    }

    /** Writes bytes to a temporary name beside path, then renames it into place. */
    public static void writeAtomically(String path, byte[] bytes, Configuration conf) throws IOException {
        writeAtomically(path, out -> out.write(bytes), conf);
    }

    public interface Writer {
        void write(OutputStream out) throws IOException;
    }

    /** As above, for streamed content; returns the SHA-256 of what was written. */
    public static String writeAtomically(String path, Writer writer, Configuration conf) throws IOException {
        Path target = new Path(path);
        FileSystem fs = target.getFileSystem(conf);
        Path tmp = new Path(target.getParent(), "._" + target.getName() + "." + UUID.randomUUID() + ".tmp");
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try {
            try (FSDataOutputStream raw = fs.create(tmp, true);
                 DigestOutputStream out = new DigestOutputStream(new java.io.BufferedOutputStream(raw, 1 << 20), sha)) {
                writer.write(out);
                out.flush();
                raw.hsync();
            }
            if (fs.exists(target) && !fs.delete(target, false)) {
                throw new IOException(target + ": cannot replace the existing file");
            }
            if (!fs.rename(tmp, target)) {
                throw new IOException(target + ": rename from " + tmp.getName() + " failed");
            }
        } finally {
            if (fs.exists(tmp)) {
                fs.delete(tmp, false);
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads a whole file and checks its SHA-256. */
    public static byte[] readVerified(String path, String expectedSha256, Configuration conf) throws IOException {
        byte[] bytes = read(path, conf);
        String got = sha256(bytes);
        if (!got.equals(expectedSha256)) {
            throw new IOException(path + ": checksum does not match the manifest (sha256 " + got + ", manifest says "
                    + expectedSha256 + "); rebuild the shards");
        }
        return bytes;
    }

    /** A path with a scheme (hdfs:, s3a:, file:) or a leading / stays as it is; others resolve against base. */
    /** A positional reader over a Hadoop FS file, for the safetensors reader. */
    public static io.sparkformer.model.io.RandomAccessSource source(String path, Configuration conf) throws IOException {
        org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
        var fs = p.getFileSystem(conf);
        if (!fs.exists(p)) {
            throw new java.io.FileNotFoundException(path + ": no such file");
        }
        long size = fs.getFileStatus(p).getLen();
        var in = fs.open(p);
        return new io.sparkformer.model.io.RandomAccessSource() {
            public long size() { return size; }

            public void readFully(long position, byte[] buffer, int offset, int length) throws IOException {
                in.readFully(position, buffer, offset, length);
            }

            public String name() { return path; }

            public void close() throws IOException { in.close(); }
        };
    }

    public static String resolve(String path, java.nio.file.Path base) {
        boolean hasScheme = path.matches("^[A-Za-z][A-Za-z0-9+.-]*:.*");
        return hasScheme || path.startsWith("/") ? path : base.resolve(path).normalize().toString();
    }

    static String describe(List<FileStatus> files) {
        return Arrays.toString(files.stream().map(f -> f.getPath().toString()).toArray());
    }
}
