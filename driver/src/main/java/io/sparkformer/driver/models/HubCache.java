package io.sparkformer.driver.models;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import io.sparkformer.model.BadFileException;
import io.sparkformer.model.ConfigException;

/**
 * Hugging Face Hub model ids ({@code hf:org/name}, optionally {@code @revision}) as local
 * checkpoint directories, in the Hub's own cache layout, so a cache Python tools filled is used
 * as it is and one filled here serves them:
 * {@code HF_HOME/hub/models--org--name/{blobs/ETAG, snapshots/COMMIT/FILE -> ../../blobs/ETAG,
 * refs/REVISION}}. Each file is downloaded once, to a temporary blob checked against the hash
 * the Hub publishes (a large file's SHA-256, a small one's git blob SHA-1) before it is linked in.
 * With offline set ({@code HF_HUB_OFFLINE=1}) only the cache is read.
 */
public final class HubCache {
    public static final String SCHEME = "hf:";
    /** What a checkpoint directory may hold, in the order they are fetched; the weights are one of the last two. */
    private static final List<String> OPTIONAL = List.of("tokenizer.json", "tokenizer_config.json");
    private static final Pattern REPO = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?");
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    /** Where the cache is, which server answers, whether to ask it at all, and the token for gated models (or null). */
    public record Settings(Path hubCache, String endpoint, boolean offline, String token) {
        /** Hugging Face's own variables: HF_HUB_CACHE, else HF_HOME/hub (default ~/.cache/huggingface/hub), HF_ENDPOINT, HF_HUB_OFFLINE, HF_TOKEN. */
        public static Settings fromEnvironment(Map<String, String> env) {
            Path home = env.containsKey("HF_HOME") ? Path.of(env.get("HF_HOME"))
                    : Path.of(System.getProperty("user.home"), ".cache", "huggingface");
            Path hub = env.containsKey("HF_HUB_CACHE") ? Path.of(env.get("HF_HUB_CACHE")) : home.resolve("hub");
            String offline = env.getOrDefault("HF_HUB_OFFLINE", "0").trim().toLowerCase(java.util.Locale.ROOT);
            return new Settings(hub, env.getOrDefault("HF_ENDPOINT", "https://huggingface.co").replaceAll("/+$", ""),
                    List.of("1", "true", "yes", "on").contains(offline), env.get("HF_TOKEN"));
        }
    }

    private final Settings settings;
    private final HttpClient http;     // downloads follow the Hub's redirects to its file store
    private final HttpClient metadata; // a HEAD's headers are the Hub's own, so no redirect is followed

    public HubCache(Settings settings) {
        this.settings = settings;
        this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).followRedirects(HttpClient.Redirect.NORMAL).build();
        this.metadata = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).followRedirects(HttpClient.Redirect.NEVER).build();
    }

    public static boolean isHubId(String path) {
        return path.startsWith(SCHEME);
    }

    /** The local snapshot directory of {@code id} ("hf:org/name[@revision]"), downloading what the cache lacks. */
    public Path snapshot(String id) throws IOException {
        String spec = id.substring(SCHEME.length());
        int at = spec.indexOf('@');
        String repo = at < 0 ? spec : spec.substring(0, at);
        String revision = at < 0 ? "main" : spec.substring(at + 1);
        if (!REPO.matcher(repo).matches() || revision.isEmpty() || revision.contains("..") || revision.startsWith("/")) {
            throw new ConfigException("--model", id + " is not a Hub model id: hf:org/name or hf:org/name@revision");
        }
        Path repoDir = settings.hubCache().resolve("models--" + repo.replace("/", "--"));
        if (settings.offline()) {
            return cachedSnapshot(id, repoDir, revision);
        }
        String config = "config.json";
        Remote first = head(repo, revision, config);
        if (first == null) {
            throw new ConfigException("--model", id + ": " + settings.endpoint() + " has no " + config + " at revision " + revision);
        }
        Path snapshot = repoDir.resolve("snapshots").resolve(first.commit());
        fetch(repo, first, snapshot.resolve(config), repoDir);
        for (String name : OPTIONAL) {
            Remote r = head(repo, first.commit(), name);
            if (r != null) {
                fetch(repo, r, snapshot.resolve(name), repoDir);
            }
        }
        Remote weights = head(repo, first.commit(), "model.safetensors");
        if (weights != null) {
            fetch(repo, weights, snapshot.resolve("model.safetensors"), repoDir);
        } else {
            Remote index = head(repo, first.commit(), "model.safetensors.index.json");
            if (index == null) {
                throw new ConfigException("--model", id + " has no model.safetensors (or sharded index) at " + first.commit()
                        + "; pickled weights are not read");
            }
            fetch(repo, index, snapshot.resolve(index.file()), repoDir);
            var map = new com.fasterxml.jackson.databind.ObjectMapper().readTree(snapshot.resolve(index.file()).toFile()).path("weight_map");
            java.util.TreeSet<String> shards = new java.util.TreeSet<>();
            map.fields().forEachRemaining(e -> shards.add(e.getValue().asText()));
            for (String shard : shards) {
                if (shard.contains("/") || shard.contains("\\") || !shard.endsWith(".safetensors")) {
                    throw new BadFileException(snapshot.resolve(index.file()).toString(), "names the file \"" + shard
                            + "\", which is not a .safetensors file beside it");
                }
                Remote r = head(repo, first.commit(), shard);
                if (r == null) {
                    throw new BadFileException(snapshot.resolve(index.file()).toString(), "names " + shard + ", which the Hub lacks");
                }
                fetch(repo, r, snapshot.resolve(shard), repoDir);
            }
        }
        if (!revision.equals(first.commit())) {
            Path ref = repoDir.resolve("refs").resolve(revision);
            Files.createDirectories(ref.getParent());
            Files.writeString(ref, first.commit());
        }
        return snapshot;
    }

    private Path cachedSnapshot(String id, Path repoDir, String revision) throws IOException {
        String commit = revision;
        if (!COMMIT.matcher(revision).matches()) {
            Path ref = repoDir.resolve("refs").resolve(revision);
            if (!Files.isRegularFile(ref)) {
                throw new ConfigException("--model", id + ": HF_HUB_OFFLINE is set and the cache " + settings.hubCache()
                        + " has no " + revision + " of it (no " + ref + ")");
            }
            commit = Files.readString(ref).trim();
        }
        Path snapshot = repoDir.resolve("snapshots").resolve(commit);
        if (!Files.isRegularFile(snapshot.resolve("config.json"))) {
            throw new ConfigException("--model", id + ": HF_HUB_OFFLINE is set and " + snapshot + " has no config.json");
        }
        return snapshot;
    }

    /** A file at a revision: the commit it resolved to, and its hash as the Hub publishes it. */
    private record Remote(String file, String commit, String etag, boolean lfs) {}

    /** The Hub's metadata of {@code file} (a HEAD request, redirects not followed), or null when it has none. */
    private Remote head(String repo, String revision, String file) throws IOException {
        HttpRequest request = request(url(repo, revision, file)).method("HEAD", HttpRequest.BodyPublishers.noBody()).build();
        HttpResponse<Void> response;
        try {
            response = metadata.send(request, HttpResponse.BodyHandlers.discarding());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        if (response.statusCode() == 404) {
            return null;
        }
        if (response.statusCode() == 401 || response.statusCode() == 403) {
            throw new ConfigException("--model", repo + ": " + settings.endpoint() + " refused " + file + " (HTTP "
                    + response.statusCode() + "); a gated or private model needs HF_TOKEN");
        }
        if (response.statusCode() >= 400) {
            throw new IOException(url(repo, revision, file) + ": HTTP " + response.statusCode());
        }
        String commit = response.headers().firstValue("X-Repo-Commit").orElse(null);
        String linked = response.headers().firstValue("X-Linked-Etag").orElse(null);
        String etag = unquote(linked != null ? linked : response.headers().firstValue("ETag").orElse(null));
        if (commit == null || !COMMIT.matcher(commit).matches() || etag == null || !etag.matches("[0-9a-f]{40}|[0-9a-f]{64}")) {
            throw new IOException(url(repo, revision, file) + ": the server sent no commit (X-Repo-Commit) or hash (ETag);"
                    + " is HF_ENDPOINT a Hugging Face Hub or mirror?");
        }
        return new Remote(file, commit, etag, linked != null || etag.length() == 64);
    }

    /** Downloads a file into blobs/ once (checked against its hash), then links it into the snapshot. */
    private void fetch(String repo, Remote remote, Path target, Path repoDir) throws IOException {
        Path blob = repoDir.resolve("blobs").resolve(remote.etag());
        if (!Files.isRegularFile(blob)) {
            Files.createDirectories(blob.getParent());
            Path tmp = Files.createTempFile(blob.getParent(), remote.etag(), ".incomplete");
            try {
                download(url(repo, remote.commit(), remote.file()), tmp);
                String got = remote.lfs() ? sha256(tmp) : gitBlobSha1(tmp);
                if (!got.equals(remote.etag())) {
                    throw new BadFileException(url(repo, remote.commit(), remote.file()), "downloaded with hash " + got
                            + " but the Hub publishes " + remote.etag() + "; nothing was kept");
                }
                Files.move(tmp, blob, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
        if (!Files.exists(target)) {
            Files.createDirectories(target.getParent());
            Files.createSymbolicLink(target, target.getParent().relativize(blob));
        }
    }

    private void download(String url, Path into) throws IOException {
        HttpResponse<InputStream> response;
        try {
            response = http.send(request(url).GET().build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        try (InputStream in = response.body()) {
            if (response.statusCode() != 200) {
                throw new IOException(url + ": HTTP " + response.statusCode());
            }
            Files.copy(in, into, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private HttpRequest.Builder request(String url) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofMinutes(30))
                .header("User-Agent", "sparkformer");
        if (settings.token() != null && !settings.token().isBlank()) {
            b.header("Authorization", "Bearer " + settings.token());
        }
        return b;
    }

    private String url(String repo, String revision, String file) {
        return settings.endpoint() + "/" + repo + "/resolve/" + java.net.URLEncoder.encode(revision, StandardCharsets.UTF_8) + "/" + file;
    }

    private static String unquote(String etag) {
        if (etag == null) {
            return null;
        }
        String e = etag.startsWith("W/") ? etag.substring(2) : etag;
        return e.replace("\"", "");
    }

    static String sha256(Path file) throws IOException {
        return digest(file, "SHA-256", null);
    }

    /** Git's blob id: SHA-1 of "blob LENGTH\0" and the content (the Hub's ETag of a file not kept in LFS). */
    static String gitBlobSha1(Path file) throws IOException {
        return digest(file, "SHA-1", ("blob " + Files.size(file) + "\0").getBytes(StandardCharsets.US_ASCII));
    }

    private static String digest(Path file, String algorithm, byte[] prefix) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance(algorithm);
            if (prefix != null) {
                md.update(prefix);
            }
            try (InputStream in = Files.newInputStream(file)) {
                byte[] buf = new byte[1 << 20];
                for (int n = in.read(buf); n > 0; n = in.read(buf)) {
                    md.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
