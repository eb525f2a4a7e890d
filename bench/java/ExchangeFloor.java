import java.io.EOFException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;

/**
 * The bytes of a W = 2 exchange and nothing else: two processes, each holding a vector in native
 * memory, fetch from each other the peer's copy of their own half (the reduce-scatter) and then
 * the peer's half straight into their vector (the gather), 32 MiB a request over one loopback
 * connection, as the exchange's transport does. No averaging, no Spark. Prints the median of the
 * rounds after the first as "RESULT floor_s=X". Run by bench/exchange-floor.sh, one process a
 * side: java ExchangeFloor.java BYTES MY_PORT PEER_PORT ROUNDS
 */
public class ExchangeFloor {
    static final int CHUNK = 32 << 20;

    public static void main(String[] args) throws Exception {
        long vectorBytes = Long.parseLong(args[0]);
        int myPort = Integer.parseInt(args[1]);
        int peerPort = Integer.parseInt(args[2]);
        int rounds = Integer.parseInt(args[3]);
        int half = Math.toIntExact(vectorBytes / 2 / 4 * 4);
        ByteBuffer vector = ByteBuffer.allocateDirect(2 * half);
        for (int i = 0; i < vector.capacity(); i += 8) {
            vector.putLong(i, i); // touched, as a trained replica is
        }
        ByteBuffer arriving = ByteBuffer.allocateDirect(CHUNK);
        ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", myPort));
        Thread serving = new Thread(() -> serve(server, vector), "serve");
        serving.setDaemon(true);
        serving.start();
        SocketChannel peer = connect(peerPort);
        int mine = myPort < peerPort ? 0 : half;
        int theirs = half - mine;
        double[] seconds = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            Thread.sleep(300); // both sides start each round together, give or take
            long t0 = System.nanoTime();
            for (int at = 0; at < half; at += CHUNK) {
                arriving.clear().limit(Math.min(CHUNK, half - at));
                fetch(peer, mine + at, arriving);
            }
            for (int at = 0; at < half; at += CHUNK) {
                fetch(peer, theirs + at, vector.duplicate().position(theirs + at).limit(theirs + at + Math.min(CHUNK, half - at)));
            }
            seconds[r] = (System.nanoTime() - t0) / 1e9;
        }
        peer.close();
        serving.join(60_000); // the peer may still be fetching from this side
        double[] steady = Arrays.copyOfRange(seconds, 1, rounds);
        Arrays.sort(steady);
        System.out.printf("rounds (s): %s%nRESULT floor_s=%.3f%n", Arrays.toString(seconds), steady[steady.length / 2]);
    }

    /** Answers requests (an offset) with 32 MiB of the vector from there, until the peer closes. */
    static void serve(ServerSocketChannel server, ByteBuffer vector) {
        try (SocketChannel peer = server.accept()) {
            ByteBuffer request = ByteBuffer.allocate(8);
            while (true) {
                request.clear();
                while (request.hasRemaining()) {
                    if (peer.read(request) < 0) {
                        return;
                    }
                }
                int at = Math.toIntExact(request.getLong(0));
                ByteBuffer bytes = vector.duplicate().position(at).limit(Math.min(at + CHUNK, vector.capacity()));
                while (bytes.hasRemaining()) {
                    peer.write(bytes);
                }
            }
        } catch (Exception e) {
            // the peer is done
        }
    }

    static SocketChannel connect(int port) throws Exception {
        for (int attempt = 0; ; attempt++) {
            try {
                SocketChannel ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", port));
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                return ch;
            } catch (java.net.ConnectException e) {
                if (attempt > 500) {
                    throw e;
                }
                Thread.sleep(20); // the other side is still starting
            }
        }
    }

    static void fetch(SocketChannel peer, long at, ByteBuffer into) throws Exception {
        ByteBuffer request = ByteBuffer.allocate(8).putLong(0, at);
        while (request.hasRemaining()) {
            peer.write(request);
        }
        while (into.hasRemaining()) {
            if (peer.read(into) < 0) {
                throw new EOFException(into.remaining() + " bytes short");
            }
        }
    }
}
