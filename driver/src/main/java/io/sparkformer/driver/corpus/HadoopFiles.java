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
import org.apache.hadoop.fs.FileContext;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Options;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;

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

    /**
     * As above, for streamed content; returns the SHA-256 of what was written. Readers see the old
     * content or the new, never neither: the temporary file replaces the target in one step (the
     * local FS: rename(2), which replaces; HDFS and other file systems: FileContext's rename with
     * OVERWRITE, one namenode operation on HDFS). Object stores (s3a, gs, abfs, ...) have no
     * rename, only copies; there the object is written in place, and it appears whole when its
     * stream closes. A crash leaves at most a hidden temporary file, which no reader lists.
     */
    public static String writeAtomicallyHashed(String path, Writer writer, Configuration conf) throws IOException {
        return writeAtomically(path, writer, conf, true);
    }

    /**
     * As {@link #writeAtomicallyHashed}, without the hash: checkpoints' gigabytes are not
     * hashed on the way out (SHA-256 of a 124M model's files took seconds of a core beside the
     * next round's compute).
     */
    public static void writeAtomically(String path, Writer writer, Configuration conf) throws IOException {
        writeAtomically(path, writer, conf, false);
    }

    private static String writeAtomically(String path, Writer writer, Configuration conf, boolean hashed) throws IOException {
        Path target = new Path(path);
        FileSystem fs = target.getFileSystem(conf);
        FaultInjection.point("before " + target.getName());
        if (OBJECT_STORES.contains(fs.getScheme())) {
            String sha = write(fs, target, writer, hashed);
            FaultInjection.point("replaced " + target.getName());
            return sha;
        }
        // the local FS's checksum sidecar would be a second file to rename: write the raw file alone
        FileSystem raw = fs instanceof LocalFileSystem local ? local.getRaw() : fs;
        Path tmp = new Path(target.getParent(), "._" + target.getName() + "." + UUID.randomUUID() + ".tmp");
        try {
            String sha = write(raw, tmp, writer, hashed);
            FaultInjection.point("written " + target.getName());
            replace(raw, tmp, target, conf);
            FaultInjection.point("replaced " + target.getName());
            return sha;
        } finally {
            if (raw.exists(tmp)) {
                raw.delete(tmp, false);
            }
        }
    }

    /** Schemes whose "rename" is a copy and a delete, and whose writes appear whole on close. */
    private static final java.util.Set<String> OBJECT_STORES = java.util.Set.of("s3a", "s3", "s3n", "gs", "abfs", "abfss",
            "wasb", "wasbs", "oss", "cos", "obs");

    /** Writes p, forced to disk; returns its SHA-256 when {@code hashed}, else null. */
    private static String write(FileSystem fs, Path p, Writer writer, boolean hashed) throws IOException {
        MessageDigest sha = null;
        if (hashed) {
            try {
                sha = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
        if (fs instanceof RawLocalFileSystem local) { // direct I/O: no page cache to fill and flush
            try (DirectFileOutput file = DirectFileOutput.create(local.pathToFile(p).toPath())) {
                OutputStream out = hashed ? new DigestOutputStream(file, sha) : file;
                writer.write(out);
                out.flush();
            }
            return hashed ? HexFormat.of().formatHex(sha.digest()) : null;
        }
        try (FSDataOutputStream raw = fs.create(p, true)) {
            OutputStream buffered = new java.io.BufferedOutputStream(raw, 1 << 20);
            OutputStream out = hashed ? new DigestOutputStream(buffered, sha) : buffered;
            writer.write(out);
            out.flush();
            raw.hsync();
        }
        return hashed ? HexFormat.of().formatHex(sha.digest()) : null;
    }

    /** tmp takes target's place in one step; target may exist. */
    private static void replace(FileSystem fs, Path tmp, Path target, Configuration conf) throws IOException {
        if (fs instanceof RawLocalFileSystem local) {
            // an old checksum sidecar would fail every read of the new content; without one, reads are unverified
            Path crc = new Path(target.getParent(), "." + target.getName() + ".crc");
            if (local.exists(crc)) {
                local.delete(crc, false);
            }
            java.nio.file.Files.move(local.pathToFile(tmp).toPath(), local.pathToFile(target).toPath(),
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE); // rename(2): replaces an existing file
            return;
        }
        Path qualified = fs.makeQualified(target);
        FileContext.getFileContext(qualified.toUri(), conf).rename(fs.makeQualified(tmp), qualified, Options.Rename.OVERWRITE);
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
        requireSha(path, sha256(bytes), expectedSha256);
        return bytes;
    }

    /**
     * A local file with the content of {@code path}, its SHA-256 checked: the file itself on the
     * local FS, else a copy in {@code cacheDir} named by its checksum (made once per machine, then
     * reused). For memory-mapping files that live on HDFS or an object store.
     */
    public static java.nio.file.Path localVerified(String path, String expectedSha256, Configuration conf,
                                                   java.nio.file.Path cacheDir) throws IOException {
        Path p = new Path(path);
        FileSystem fs = p.getFileSystem(conf);
        if (fs instanceof LocalFileSystem local) {
            java.nio.file.Path file = local.pathToFile(p).toPath();
            try (java.io.InputStream in = java.nio.file.Files.newInputStream(file)) {
                requireSha(path, digest(in, java.io.OutputStream.nullOutputStream()), expectedSha256);
            }
            return file;
        }
        java.nio.file.Path cached = cacheDir.resolve(expectedSha256 + "-" + p.getName());
        if (java.nio.file.Files.exists(cached)) {
            return cached; // renamed into place only after its checksum matched
        }
        java.nio.file.Files.createDirectories(cacheDir);
        java.nio.file.Path tmp = java.nio.file.Files.createTempFile(cacheDir, "." + p.getName(), ".tmp");
        try {
            try (java.io.InputStream in = fs.open(p); java.io.OutputStream out = java.nio.file.Files.newOutputStream(tmp)) {
                requireSha(path, digest(in, out), expectedSha256);
            }
            java.nio.file.Files.move(tmp, cached, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } finally {
            java.nio.file.Files.deleteIfExists(tmp);
        }
        return cached;
    }

    private static String digest(java.io.InputStream in, java.io.OutputStream copy) throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        byte[] buf = new byte[1 << 20];
        for (int n; (n = in.read(buf)) > 0; ) {
            sha.update(buf, 0, n);
            copy.write(buf, 0, n);
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static void requireSha(String path, String got, String expected) throws IOException {
        if (!got.equals(expected)) {
            throw new IOException(path + ": checksum does not match the manifest (sha256 " + got + ", manifest says "
                    + expected + "); rebuild the shards");
        }
    }

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

    /** A path with a scheme (hdfs:, s3a:, file:) or a leading / stays as it is; others resolve against base. */
    public static String resolve(String path, java.nio.file.Path base) {
        boolean hasScheme = path.matches("^[A-Za-z][A-Za-z0-9+.-]*:.*");
        return hasScheme || path.startsWith("/") ? path : base.resolve(path).normalize().toString();
    }

    /** A path the user typed: as {@link #resolve}, against the working directory. */
    public static String absolute(String path) {
        return resolve(path, java.nio.file.Path.of("").toAbsolutePath());
    }

    static String describe(List<FileStatus> files) {
        return Arrays.toString(files.stream().map(f -> f.getPath().toString()).toArray());
    }
}
