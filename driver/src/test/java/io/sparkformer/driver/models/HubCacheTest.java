package io.sparkformer.driver.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.sun.net.httpserver.HttpServer;

import io.sparkformer.driver.SparkTestBase;
import io.sparkformer.model.BadFileException;
import io.sparkformer.model.ConfigException;
import io.sparkformer.model.hf.HuggingFaceCheckpoint;

/**
 * hf:org/name against a loopback server that answers as the Hub does (resolve/REVISION/FILE, a
 * commit and each file's published hash in the headers, the weights as an LFS file): the files
 * land in Hugging Face's cache layout once, offline mode reads them without the server, and a
 * file whose bytes do not match its hash is refused and not kept.
 */
class HubCacheTest {
    private static final String REPO = "sentence-transformers/all-MiniLM-L6-v2";
    private static final String COMMIT = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";

    private HttpServer server;
    private final AtomicInteger gets = new AtomicInteger();
    private volatile boolean corrupt;
    private Path source;

    @BeforeEach
    void serveTheCheckpoint() throws Exception {
        source = SparkTestBase.shared().resolve("pretrained/all-MiniLM-L6-v2");
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            String path = exchange.getRequestURI().getPath();
            String prefix = "/" + REPO + "/resolve/";
            String rest = path.startsWith(prefix) ? path.substring(prefix.length()) : "";
            String revision = rest.contains("/") ? rest.substring(0, rest.indexOf('/')) : "";
            Path file = source.resolve(rest.substring(rest.indexOf('/') + 1)).normalize();
            boolean known = (revision.equals("main") || revision.equals(COMMIT)) && file.getParent().equals(source)
                    && Files.isRegularFile(file) && !file.getFileName().toString().equals("reference.safetensors");
            if (!known) {
                exchange.sendResponseHeaders(404, -1);
                exchange.close();
                return;
            }
            byte[] body = Files.readAllBytes(file);
            boolean lfs = file.getFileName().toString().endsWith(".safetensors");
            exchange.getResponseHeaders().add("X-Repo-Commit", COMMIT);
            if (lfs) {
                exchange.getResponseHeaders().add("X-Linked-Etag", "\"" + HubCache.sha256(file) + "\"");
            } else {
                exchange.getResponseHeaders().add("ETag", "\"" + HubCache.gitBlobSha1(file) + "\"");
            }
            if (exchange.getRequestMethod().equals("HEAD")) {
                exchange.sendResponseHeaders(200, -1);
            } else {
                gets.incrementAndGet();
                if (corrupt && lfs) {
                    body[body.length - 1] ^= 1;
                }
                exchange.sendResponseHeaders(200, body.length);
                exchange.getResponseBody().write(body);
            }
            exchange.close();
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private HubCache.Settings settings(Path home, boolean offline) {
        return HubCache.Settings.fromEnvironment(Map.of("HF_HOME", home.toString(),
                "HF_ENDPOINT", "http://127.0.0.1:" + server.getAddress().getPort() + "/", "HF_HUB_OFFLINE", offline ? "1" : "0"));
    }

    @Test
    void aHubIdDownloadsOnceIntoHuggingFacesLayoutAndOfflineReadsIt(@TempDir Path home) throws Exception {
        Path snapshot = new HubCache(settings(home, false)).snapshot("hf:" + REPO);
        Path repoDir = home.resolve("hub/models--sentence-transformers--all-MiniLM-L6-v2");
        assertEquals(repoDir.resolve("snapshots").resolve(COMMIT), snapshot);
        assertEquals(COMMIT, Files.readString(repoDir.resolve("refs/main")));
        for (String f : List.of("config.json", "tokenizer.json", "model.safetensors")) {
            assertTrue(Files.isSymbolicLink(snapshot.resolve(f)), f + " links into blobs/");
            assertArrayEquals(Files.readAllBytes(source.resolve(f)), Files.readAllBytes(snapshot.resolve(f)), f);
        }
        assertEquals(HubCache.sha256(source.resolve("model.safetensors")),
                Files.readSymbolicLink(snapshot.resolve("model.safetensors")).getFileName().toString());
        assertEquals(3, gets.get());
        // again: every file is in the cache already
        assertEquals(snapshot, new HubCache(settings(home, false)).snapshot("hf:" + REPO + "@main"));
        assertEquals(3, gets.get(), "nothing downloaded twice");
        server.stop(0);
        assertEquals(snapshot, new HubCache(settings(home, true)).snapshot("hf:" + REPO));
        assertEquals(snapshot, new HubCache(settings(home, true)).snapshot("hf:" + REPO + "@" + COMMIT));
        assertEquals(384, HuggingFaceCheckpoint.open(snapshot).config().dModel());
        ConfigException missing = assertThrows(ConfigException.class, () -> new HubCache(settings(home, true)).snapshot("hf:" + REPO + "@v2"));
        assertTrue(missing.getMessage().contains("HF_HUB_OFFLINE"), missing.getMessage());
    }

    @Test
    void aFileThatDoesNotMatchItsHashIsRefusedAndNotKept(@TempDir Path home) throws Exception {
        corrupt = true;
        BadFileException e = assertThrows(BadFileException.class, () -> new HubCache(settings(home, false)).snapshot("hf:" + REPO));
        assertTrue(e.getMessage().contains("hash"), e.getMessage());
        Path blobs = home.resolve("hub/models--sentence-transformers--all-MiniLM-L6-v2/blobs");
        try (var files = Files.list(blobs)) {
            assertFalse(files.anyMatch(f -> f.getFileName().toString().equals(safetensorsSha())), "the bad blob is not kept");
        }
        try (var files = Files.list(blobs)) {
            assertFalse(files.anyMatch(f -> f.getFileName().toString().endsWith(".incomplete")));
        }
        assertThrows(ConfigException.class, () -> new HubCache(settings(home, false)).snapshot("hf:../etc"));
        assertThrows(ConfigException.class, () -> new HubCache(settings(home, false)).snapshot("hf:org/none"));
    }

    private String safetensorsSha() {
        try {
            return HubCache.sha256(source.resolve("model.safetensors"));
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
