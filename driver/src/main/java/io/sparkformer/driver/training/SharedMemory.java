package io.sparkformer.driver.training;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Block memory another process on this host can read in place: executors on one machine then
 * exchange a slice with one copy instead of a socket's two (NCCL and Gloo do the same within a
 * node). A region is a file on /dev/shm, mapped and unlinked at once, so the kernel frees it with
 * the last process that maps it: an executor killed with -9 leaves nothing behind. Peers open it
 * through {@code /proc/<pid>/fd/<n>} (the holder's transport names that path while it holds the
 * block's read lock) and check the random token at its start, so a path that names another
 * file (a reused descriptor, another PID namespace) is refused rather than read.
 *
 * <p>The region's pages are written once when it is made, so a full /dev/shm is an IOException
 * then (and the region is ordinary memory instead), never a SIGBUS when a block is stored.
 */
final class SharedMemory {
    private static final Logger LOG = LoggerFactory.getLogger(SharedMemory.class);
    private static final Path DIR = Path.of("/dev/shm");
    /** The token, then padding: a region's data starts on a page boundary. */
    static final int HEADER_BYTES = 4096;
    private static final SecureRandom TOKENS = new SecureRandom();

    private SharedMemory() {}

    /** Whether this host has a shared-memory file system and a /proc to reach peers' descriptors through. */
    static boolean available() {
        return Files.isDirectory(DIR) && Files.isWritable(DIR) && Files.isDirectory(Path.of("/proc/self/fd"));
    }

    /** One of this JVM's regions. */
    record Region(MappedByteBuffer mapping, FileChannel channel, long address, String peerPath, long token) {
        void free() {
            unmap(mapping);
            try {
                channel.close();
            } catch (IOException e) {
                LOG.debug("closing a shared region: {}", e.toString());
            }
        }
    }

    /** A region of {@code bytes} (after its header), or null when none can be made here (then the caller uses ordinary memory). */
    static Region create(int bytes) {
        return create(DIR, bytes);
    }

    /** As {@link #create(int)}, in {@code dir} (a tmpfs; tests give a small one). */
    static Region create(Path dir, int bytes) {
        Path file = null;
        FileChannel channel = null;
        try {
            file = Files.createTempFile(dir, "sparkformer-", ".block"); // rw------- : only this user's processes open it
            channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
            ByteBuffer zeros = ByteBuffer.allocateDirect(1 << 20);
            for (long at = 0, size = HEADER_BYTES + (long) bytes; at < size; ) { // every page now: ENOSPC here, not SIGBUS later
                zeros.clear().limit((int) Math.min(zeros.capacity(), size - at));
                at += channel.write(zeros, at);
            }
            int fd = descriptorOf(file);
            MappedByteBuffer mapping = channel.map(FileChannel.MapMode.READ_WRITE, 0, HEADER_BYTES + (long) bytes);
            long token = TOKENS.nextLong() | 1L; // never 0, the header of a file never written
            mapping.order(ByteOrder.LITTLE_ENDIAN).putLong(0, token);
            Files.delete(file);
            file = null;
            long address = BlockMemory.address(mapping);
            if (fd < 0 || address == 0) {
                unmap(mapping);
                channel.close();
                return null;
            }
            return new Region(mapping, channel, address + HEADER_BYTES,
                    "/proc/" + ProcessHandle.current().pid() + "/fd/" + fd, token);
        } catch (IOException | RuntimeException e) {
            LOG.info("no shared block memory ({}); blocks use ordinary memory", e.toString());
            try {
                if (channel != null) {
                    channel.close();
                }
                if (file != null) {
                    Files.deleteIfExists(file);
                }
            } catch (IOException cleanup) {
                LOG.debug("cleaning up a shared region not made: {}", cleanup.toString());
            }
            return null;
        }
    }

    /** This process's descriptor number for file, from /proc/self/fd (the JDK does not expose it), or -1. */
    private static int descriptorOf(Path file) throws IOException {
        Path target = file.toAbsolutePath();
        try (var fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                try {
                    if (Files.readSymbolicLink(fd).equals(target)) {
                        return Integer.parseInt(fd.getFileName().toString());
                    }
                } catch (IOException | NumberFormatException e) {
                    // a descriptor closed while listing, or the listing's own
                }
            }
        }
        return -1;
    }

    /** A peer's region mapped in this JVM, with the readers now reading it. */
    private static final class PeerMapping {
        final MappedByteBuffer mapping;
        final long token;
        int readers;
        long lastUsed = System.nanoTime();

        PeerMapping(MappedByteBuffer mapping, long token) {
            this.mapping = mapping;
            this.token = token;
        }
    }

    private static final Map<String, PeerMapping> PEERS = new HashMap<>();
    /** Replaced mappings still being read: unmapped when their last reader is done. */
    private static final List<PeerMapping> RETIRED = new ArrayList<>();

    /**
     * {@code bytes} bytes at {@code offset} of the region a peer names by {@code path} and
     * {@code token}, read-only, until the lease is closed; the mapping is kept for the next read
     * of the same region.
     *
     * @throws IOException when the path cannot be opened here (another host's or namespace's) or names another file
     */
    static synchronized Lease read(String path, long token, long offset, int bytes) throws IOException {
        PeerMapping m = PEERS.get(path);
        if (m == null || m.token != token) {
            if (m != null) { // the holder freed that region and made another under the same descriptor
                PEERS.remove(path);
                if (m.readers == 0) {
                    unmap(m.mapping);
                } else {
                    RETIRED.add(m);
                }
            }
            MappedByteBuffer mapping;
            try (FileChannel ch = FileChannel.open(Path.of(path), StandardOpenOption.READ)) {
                mapping = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
            }
            long found = mapping.capacity() >= HEADER_BYTES ? mapping.order(ByteOrder.LITTLE_ENDIAN).getLong(0) : 0;
            if (found != token) {
                unmap(mapping);
                throw new IOException(path + " is not the region its holder named (token " + Long.toHexString(found) + ")");
            }
            m = new PeerMapping(mapping, token);
            PEERS.put(path, m);
        }
        if (offset < HEADER_BYTES || offset + bytes > m.mapping.capacity()) {
            throw new IOException(path + ": " + bytes + " bytes at " + offset + " lie outside its " + m.mapping.capacity());
        }
        m.readers++;
        m.lastUsed = System.nanoTime();
        PeerMapping read = m;
        return new Lease(m.mapping.slice((int) offset, bytes).order(ByteOrder.LITTLE_ENDIAN), () -> doneReading(read));
    }

    private static synchronized void doneReading(PeerMapping m) {
        m.readers--;
        m.lastUsed = System.nanoTime();
        if (m.readers == 0 && RETIRED.remove(m)) {
            unmap(m.mapping);
        }
    }

    /** Unmaps peers' regions no one has read for {@code idleNanos}: their holders may have freed them. */
    static synchronized void trimPeers(long idleNanos) {
        long now = System.nanoTime();
        for (var it = PEERS.values().iterator(); it.hasNext(); ) {
            PeerMapping m = it.next();
            if (m.readers == 0 && now - m.lastUsed >= idleNanos) {
                unmap(m.mapping);
                it.remove();
            }
        }
    }

    /** Peers' regions mapped here, for tests. */
    static synchronized int peerMappings() {
        return PEERS.size();
    }

    /** Unmaps now rather than when the collector finds the buffer: a peer's regions are gigabytes. */
    private static void unmap(MappedByteBuffer mapping) {
        try {
            UNSAFE_INVOKE_CLEANER.invoke(UNSAFE, mapping);
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.debug("a mapping left to the collector: {}", e.toString());
        }
    }

    private static final Object UNSAFE;
    private static final java.lang.reflect.Method UNSAFE_INVOKE_CLEANER;

    static {
        Object unsafe = null;
        java.lang.reflect.Method clean = null;
        try {
            Class<?> c = Class.forName("sun.misc.Unsafe");
            java.lang.reflect.Field f = c.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            unsafe = f.get(null);
            clean = c.getMethod("invokeCleaner", ByteBuffer.class);
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.debug("mappings are unmapped by the collector: {}", e.toString());
        }
        UNSAFE = unsafe;
        UNSAFE_INVOKE_CLEANER = clean;
    }
}
