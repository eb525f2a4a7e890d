package io.sparkformer.driver.training;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.apache.spark.storage.BlockData;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.BlockManager;
import org.apache.spark.storage.BlockManagerId;
import org.apache.spark.api.java.StorageLevels;
import org.apache.spark.unsafe.Platform;
import org.apache.spark.util.io.ChunkedByteBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import scala.Option;
import scala.reflect.ClassTag$;

/**
 * Carries the exchange's blocks between executors over a TCP connection of its own, from the
 * holder's memory into a reused native buffer, instead of Spark's block fetch. Spark still stores
 * the blocks, knows where they are, replicates, evicts and drops them: only the bytes' path
 * changes. Profiled at 124M parameters on the standalone cluster, Spark's fetch moved about 190
 * MB/s (a fetch request per block, the bytes through Netty's heap buffers and G1's humongous
 * allocations); loopback carries 5 GB/s.
 *
 * <p>Each JVM that stores a block runs one server, on the BlockManager's host and a free port,
 * and publishes the port as a small Spark block named after its executor. The server answers
 * only for the exchange's blocks, one request after another per connection: the block's name
 * (its length negated when the peer, on this host, may read shared memory), then its size (or
 * -1: not here), and either its bytes or where they lie in shared memory ({@link SharedMemory}:
 * the block stays read-locked until the peer says it is done). Anything that goes wrong on this path (no port
 * published, a refused connection, a short read, no answer within spark.network.timeout) falls
 * back to Spark's fetch for that block, so
 * an executor's loss surfaces as it did. Off when Spark authenticates or encrypts its traffic,
 * which this path would bypass.
 */
final class BlockTransport {
    private static final Logger LOG = LoggerFactory.getLogger(BlockTransport.class);
    /** Only the exchange's blocks are served (see {@link BlockVectors#id}). */
    private static final String SERVED_PREFIX = BlockVectors.id("").name();
    private static final int MAX_NAME_BYTES = 4096;
    private static volatile BlockTransport server;
    /** The Spark environment whose BlockManager holds the port block (a JVM may start a second SparkContext). */
    private static volatile SparkEnv publishedIn;

    private final ServerSocketChannel channel;
    /** Each peer executor's address, from the port it published. */
    private static final Map<BlockManagerId, InetSocketAddress> PEERS = new ConcurrentHashMap<>();
    /** Open connections not in use, by peer. */
    private static final Map<InetSocketAddress, ArrayDeque<SocketChannel>> IDLE = new java.util.HashMap<>();
    /** Native buffers a chunk is read into, given back once read. */
    private static final ArrayDeque<ByteBuffer> BUFFERS = new ArrayDeque<>();
    private static final int KEPT_BUFFERS = 4;
    /** Closes a connection whose peer has not answered in time. */
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "sparkformer-block-transport-watchdog");
        t.setDaemon(true);
        return t;
    });

    private BlockTransport(ServerSocketChannel channel) {
        this.channel = channel;
    }

    /** False when Spark's own traffic is authenticated or encrypted: then its fetch is the only path. */
    static boolean enabled(SparkConf conf) {
        return !conf.getBoolean("spark.authenticate", false) && !conf.getBoolean("spark.network.crypto.enabled", false)
                && conf.getBoolean("spark.sparkformer.blockTransport", true);
    }

    /** Starts this JVM's server (once) and publishes its port; a JVM that stores the exchange's blocks calls it first. */
    static void serve() {
        SparkEnv env = SparkEnv.get();
        if (publishedIn == env || !enabled(env.conf())) {
            return;
        }
        synchronized (BlockTransport.class) {
            if (publishedIn == env) {
                return;
            }
            BlockManager bm = env.blockManager();
            try {
                if (server == null) {
                    ServerSocketChannel ch = ServerSocketChannel.open();
                    ch.bind(new InetSocketAddress(bm.blockManagerId().host(), 0));
                    BlockTransport t = new BlockTransport(ch);
                    Thread accept = new Thread(t::accept, "sparkformer-block-transport");
                    accept.setDaemon(true);
                    accept.start();
                    server = t;
                }
                int port = ((InetSocketAddress) server.channel.getLocalAddress()).getPort();
                ByteBuffer b = ByteBuffer.allocate(4).putInt(0, port);
                bm.putBytes(portBlock(bm.blockManagerId().executorId()), new ChunkedByteBuffer(new ByteBuffer[] {b}),
                        StorageLevels.MEMORY_AND_DISK_SER, true, ClassTag$.MODULE$.apply(byte[].class)); // not evicted for good
                LOG.info("block transport on {}:{}", bm.blockManagerId().host(), port);
            } catch (IOException | RuntimeException e) {
                LOG.warn("no block transport in this JVM ({}); its blocks go through Spark's fetch", e.toString());
            }
            publishedIn = env; // tried once per environment
        }
    }

    /** This JVM's server address, or null; for tests. */
    static InetSocketAddress localAddress() throws IOException {
        return server == null ? null : (InetSocketAddress) server.channel.getLocalAddress();
    }

    static BlockId portBlock(String executorId) {
        return BlockVectors.id("transport_port_" + executorId);
    }

    private void accept() {
        while (channel.isOpen()) {
            try {
                SocketChannel peer = channel.accept();
                Thread t = new Thread(() -> answer(peer), "sparkformer-block-transport-peer");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                LOG.warn("block transport stops accepting: {}", e.toString());
                return;
            }
        }
    }

    /** Answers one peer's requests until it closes the connection. */
    private static void answer(SocketChannel peer) {
        BlockManager bm = SparkEnv.get().blockManager();
        ByteBuffer header = ByteBuffer.allocate(8);
        try (peer) {
            peer.setOption(StandardSocketOptions.TCP_NODELAY, true);
            while (true) {
                header.clear().limit(4);
                if (!readFully(peer, header, true)) {
                    return; // the peer is done
                }
                int length = header.getInt(0);
                boolean lease = length < 0; // a peer on this host asks where the bytes are, not for them
                length = Math.abs(length);
                if (length <= 0 || length > MAX_NAME_BYTES) {
                    throw new IOException("bad request: a name of " + length + " bytes");
                }
                ByteBuffer nameBytes = ByteBuffer.allocate(length);
                readFully(peer, nameBytes, false);
                String name = new String(nameBytes.array(), StandardCharsets.UTF_8);
                BlockId id = BlockId.apply(name);
                Option<BlockData> data = name.startsWith(SERVED_PREFIX) ? bm.getLocalBytes(id) : Option.empty();
                if (data.isEmpty()) {
                    header.clear();
                    header.putLong(0, -1L);
                    writeFully(peer, header);
                    continue;
                }
                try {
                    ByteBuffer bytes = data.get().toByteBuffer(); // a stored chunk's own memory, not a copy
                    header.clear();
                    header.putLong(0, bytes.remaining());
                    writeFully(peer, header);
                    BlockMemory.SharedLocation at = lease
                            ? BlockMemory.locate(BlockMemory.address(bytes) + bytes.position(), bytes.remaining()) : null;
                    writeFully(peer, ByteBuffer.allocate(4).putInt(0, at == null ? BYTES_FOLLOW : IN_SHARED_MEMORY));
                    if (at == null) {
                        writeFully(peer, bytes);
                    } else { // the peer reads the region itself; the read lock keeps the block there until it is done
                        byte[] path = at.path().getBytes(StandardCharsets.UTF_8);
                        writeFully(peer, ByteBuffer.allocate(4 + path.length + 16).putInt(path.length).put(path)
                                .putLong(at.token()).putLong(at.offset()).flip());
                        ScheduledFuture<?> deadline = WATCHDOG.schedule(() -> closeQuietly(peer), timeoutMillis(),
                                TimeUnit.MILLISECONDS); // a reader that froze must not pin the block for good
                        try {
                            header.clear().limit(1);
                            readFully(peer, header, false);
                        } finally {
                            deadline.cancel(false);
                        }
                    }
                } finally {
                    bm.releaseLock(id, Option.empty());
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("block transport: a peer's connection ends: {}", e.toString());
        }
    }

    /**
     * Block {@code id}, of {@code bytes} bytes, from the executor holding it, in a native buffer
     * to hand back with {@link #giveBack} once read; null when this path cannot get it (then
     * Spark's fetch is tried).
     */
    static ByteBuffer fetch(BlockManagerId holder, BlockId id, long bytes) {
        InetSocketAddress address = bytes > Integer.MAX_VALUE ? null : reachable(holder);
        return address == null ? null : fetchFrom(address, id, bytes, timeoutMillis());
    }

    /**
     * Block {@code id} read straight into {@code target} (its remaining bytes: the block's size);
     * false when this path cannot get it whole (then target holds nothing to trust, and Spark's
     * fetch is tried).
     */
    static boolean fetchInto(BlockManagerId holder, BlockId id, ByteBuffer target) {
        InetSocketAddress address = reachable(holder);
        if (address == null || target.remaining() == 0) {
            return false;
        }
        int bytes = target.remaining();
        try (Lease lease = request(address, id, bytes, target.duplicate(), mayShare(holder, address), timeoutMillis())) {
            if (lease == null) {
                return false;
            }
            if (lease.shared()) {
                target.duplicate().put(lease.bytes().duplicate()); // the one copy: from the holder's memory into ours
            }
        }
        target.position(target.position() + bytes);
        return true;
    }

    /** A lease's answer: the block's bytes follow on the connection (not in shared memory). */
    private static final int BYTES_FOLLOW = 0;
    /** A lease's answer: where the bytes lie in the holder's shared memory. */
    private static final int IN_SHARED_MEMORY = 1;
    /** Holders whose shared memory this JVM cannot open (another namespace): asked for bytes from then on. */
    private static final java.util.Set<InetSocketAddress> NOT_SHARED = ConcurrentHashMap.newKeySet();

    /**
     * Block {@code id}, of {@code bytes} bytes: from a holder on this host, read in its shared
     * memory (no socket copy; the holder keeps the block until the lease is closed); from any
     * other, or when the block is not in shared memory, fetched into a buffer of ours as {@link
     * #fetch}. Null when this path cannot get it (then Spark's fetch is tried).
     */
    static Lease lease(BlockManagerId holder, BlockId id, long bytes) {
        InetSocketAddress address = bytes > Integer.MAX_VALUE ? null : reachable(holder);
        if (address == null) {
            return null;
        }
        return request(address, id, Math.toIntExact(bytes), null, mayShare(holder, address), timeoutMillis());
    }

    /** Whether to ask holder for its shared memory: on this host, not this JVM's (those are read locally), and openable so far. */
    private static boolean mayShare(BlockManagerId holder, InetSocketAddress address) {
        SparkEnv env = SparkEnv.get();
        return BlockMemory.sharedMemoryEnabled(env.conf()) && holder.host().equals(env.blockManager().blockManagerId().host())
                && !NOT_SHARED.contains(address);
    }

    /**
     * One request to a holder's server. The holder answers with the bytes (read into {@code
     * into} when given, else into a buffer of ours), or, when {@code share} is asked and the
     * block lies in its shared memory, with where they lie there. A holder that does not answer
     * within {@code timeoutMillis} (a hung or frozen executor) has its connection closed. Null
     * when the block is not there or the request fails (then Spark's fetch is tried).
     */
    private static Lease request(InetSocketAddress address, BlockId id, int bytes, ByteBuffer into, boolean share,
                                 long timeoutMillis) {
        SocketChannel ch = null;
        ScheduledFuture<?> deadline = null;
        ByteBuffer taken = null;
        try {
            ch = connection(address);
            SocketChannel watched = ch;
            // a blocking channel's read has no timeout of its own: closing it ends the read
            deadline = WATCHDOG.schedule(() -> closeQuietly(watched), timeoutMillis, TimeUnit.MILLISECONDS);
            byte[] name = id.name().getBytes(StandardCharsets.UTF_8);
            writeFully(ch, ByteBuffer.allocate(4 + name.length).putInt(share ? -name.length : name.length).put(name).flip());
            ByteBuffer header = ByteBuffer.allocate(8);
            readFully(ch, header, false);
            long size = header.getLong(0);
            if (size != bytes) {
                if (size == -1 && deadline.cancel(false)) { // not there (moved, dropped): in step, Spark's fetch decides
                    keep(address, ch);
                    ch = null;
                }
                return null;
            }
            header.clear().limit(4);
            readFully(ch, header, false);
            if (header.getInt(0) == BYTES_FOLLOW) {
                ByteBuffer target = into != null ? into : (taken = take(bytes));
                if (into == null) {
                    target.clear().limit(bytes);
                }
                readFully(ch, target, false);
                if (!deadline.cancel(false)) {
                    return null;
                }
                keep(address, ch);
                ch = null;
                if (into != null) {
                    return new Lease(into, () -> { });
                }
                ByteBuffer filled = taken.flip().order(ByteOrder.LITTLE_ENDIAN);
                taken = null;
                return new Lease(filled, () -> giveBack(filled));
            }
            ByteBuffer pathLength = ByteBuffer.allocate(4);
            readFully(ch, pathLength, false);
            int n = pathLength.getInt(0);
            if (n <= 0 || n > MAX_NAME_BYTES) {
                throw new IOException("bad answer: a path of " + n + " bytes");
            }
            ByteBuffer where = ByteBuffer.allocate(n + 16);
            readFully(ch, where, false);
            if (!deadline.cancel(false)) {
                return null;
            }
            String path = new String(where.array(), 0, n, StandardCharsets.UTF_8);
            Lease inPlace;
            try {
                inPlace = SharedMemory.read(path, where.getLong(n), where.getLong(n + 8), bytes);
            } catch (IOException e) { // not this host's memory after all: bytes from now on
                LOG.info("block transport: {}'s shared memory cannot be read here ({}); its bytes come over the socket",
                        address, e.toString());
                NOT_SHARED.add(address);
                writeFully(ch, ByteBuffer.allocate(1));
                keep(address, ch);
                ch = null;
                return request(address, id, bytes, into, false, timeoutMillis);
            }
            SocketChannel held = ch;
            ch = null;
            // the holder's watchdog releases the block after spark.network.timeout whatever this side does;
            // a lease is held for one chunk's averaging or copy, milliseconds
            return new Lease(inPlace.bytes(), () -> {
                inPlace.close();
                try {
                    writeFully(held, ByteBuffer.allocate(1)); // done: the holder releases the block
                    keep(address, held);
                } catch (IOException e) {
                    closeQuietly(held); // the holder releases it when the connection ends
                }
            });
        } catch (IOException e) {
            LOG.warn("block transport: {} from {} failed ({}); fetching it through Spark", id.name(), address, e.toString());
            return null;
        } finally {
            if (deadline != null) {
                deadline.cancel(false);
            }
            if (ch != null) {
                closeQuietly(ch);
            }
            if (taken != null) {
                giveBack(taken);
            }
        }
    }

    /** The holder's server, or null when this path is off or the holder runs none. */
    private static InetSocketAddress reachable(BlockManagerId holder) {
        return enabled(SparkEnv.get().conf()) ? address(holder) : null;
    }

    private static long timeoutMillis() {
        return SparkEnv.get().conf().getTimeAsMs("spark.network.timeout", "120s");
    }

    /**
     * As {@link #fetch}, from a server's address; a peer that does not answer within {@code
     * timeoutMillis} (a hung or frozen executor) has its connection closed, and null comes back.
     */
    static ByteBuffer fetchFrom(InetSocketAddress address, BlockId id, long bytes, long timeoutMillis) {
        Lease fetched = request(address, id, Math.toIntExact(bytes), null, false, timeoutMillis);
        return fetched == null ? null : fetched.bytes(); // the caller gives it back
    }

    private static void closeQuietly(SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // closing a broken or timed-out connection
        }
    }

    /** A chunk's buffer from {@link #fetch}, free again. */
    static void giveBack(ByteBuffer b) {
        synchronized (BUFFERS) {
            if (BUFFERS.size() < KEPT_BUFFERS) {
                BUFFERS.push(b);
            }
        }
    }

    /** A native buffer of at least n bytes: a kept one, or a new one (not zeroed: it is read into). */
    private static ByteBuffer take(int n) {
        synchronized (BUFFERS) {
            for (var it = BUFFERS.iterator(); it.hasNext(); ) {
                ByteBuffer b = it.next();
                if (b.capacity() >= n) {
                    it.remove();
                    return b;
                }
            }
        }
        return Platform.allocateDirectBuffer(Math.max(n, 1 << 16));
    }

    private static InetSocketAddress address(BlockManagerId holder) {
        InetSocketAddress known = PEERS.get(holder);
        if (known != null) {
            return known;
        }
        BlockManager bm = SparkEnv.get().blockManager();
        BlockId portId = portBlock(holder.executorId());
        Option<BlockData> local = bm.getLocalBytes(portId);
        int port;
        if (local.isDefined()) {
            try {
                port = local.get().toByteBuffer().getInt(0);
            } finally {
                bm.releaseLock(portId, Option.empty());
            }
        } else {
            Option<ChunkedByteBuffer> remote = bm.getRemoteBytes(portId);
            if (remote.isEmpty()) {
                return null; // that executor runs no server
            }
            port = remote.get().toByteBuffer().getInt(0);
        }
        InetSocketAddress address = new InetSocketAddress(holder.host(), port);
        PEERS.put(holder, address);
        return address;
    }

    private static void keep(InetSocketAddress address, SocketChannel ch) {
        synchronized (IDLE) {
            IDLE.computeIfAbsent(address, k -> new ArrayDeque<>()).offer(ch);
        }
    }

    private static SocketChannel connection(InetSocketAddress address) throws IOException {
        synchronized (IDLE) {
            ArrayDeque<SocketChannel> idle = IDLE.get(address);
            SocketChannel ch = idle == null ? null : idle.poll();
            if (ch != null && ch.isOpen()) {
                return ch;
            }
        }
        SocketChannel ch = SocketChannel.open();
        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        ch.socket().connect(address, 10_000);
        return ch;
    }

    /** Fills b; false at a clean end of stream before its first byte, when {@code endOk}. */
    private static boolean readFully(SocketChannel ch, ByteBuffer b, boolean endOk) throws IOException {
        boolean first = true;
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                if (first && endOk) {
                    return false;
                }
                throw new EOFException(b.remaining() + " bytes short");
            }
            first = false;
        }
        return true;
    }

    private static void writeFully(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
