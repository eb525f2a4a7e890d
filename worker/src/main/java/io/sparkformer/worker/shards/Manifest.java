package io.sparkformer.worker.shards;

import java.io.IOException;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

/**
 * What a directory of token shards holds, written last (atomically) so its presence means the
 * shards are complete. {@code key} digests everything the shards depend on (sources, tokenizer,
 * task, split), so a rerun with the same key reuses them and any change rebuilds them.
 * {@code labels}: a classification corpus's label names in index order (absent otherwise).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Manifest(
        String format,
        String key,
        String task,
        Tokenizer tokenizer,
        List<Source> sources,
        Map<String, Split> splits,
        long invalidLines,
        String created,
        List<String> labels) implements java.io.Serializable {

    public static final String FILE_NAME = "manifest.json";
    public static final String FORMAT = "sparkformer-shards-1";
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    // Serializable because Spark tasks return them to the driver.
    public record Tokenizer(String type, int vocabSize, String fingerprint, String file) implements java.io.Serializable {}

    public record Source(String path, long bytes, long modified) implements java.io.Serializable {}

    public record Split(long records, long tokens, List<Shard> shards) implements java.io.Serializable {}

    public record Shard(String file, long records, long tokens, String sha256) implements java.io.Serializable {}

    public Split split(String name) throws ShardException {
        Split s = splits == null ? null : splits.get(name);
        if (s == null) {
            throw new ShardException(FILE_NAME, "has no '" + name + "' split");
        }
        return s;
    }

    public byte[] toJson() {
        try {
            return JSON.writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static Manifest fromJson(byte[] json, String source) throws ShardException {
        try {
            Manifest m = JSON.readValue(json, Manifest.class);
            if (!FORMAT.equals(m.format())) {
                throw new ShardException(source, "format '" + m.format() + "' is not " + FORMAT);
            }
            return m;
        } catch (IOException e) {
            if (e instanceof ShardException se) {
                throw se;
            }
            throw new ShardException(source, "not a readable manifest: " + e.getMessage(), e);
        }
    }
}
