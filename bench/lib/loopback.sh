# Sourced by the benchmarks that compare with one copy through loopback TCP.
# one copy of n bytes through 127.0.0.1, in seconds (median of 3)
loopback() {
  python3 - "$1" <<'EOF'
import socket, sys, threading, time, statistics
n = int(sys.argv[1]); chunk = bytes(1 << 20)
def once():
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
    def send():
        c = socket.create_connection(srv.getsockname()); left = n
        while left > 0:
            k = min(left, len(chunk)); c.sendall(chunk[:k]); left -= k
        c.close()
    t = threading.Thread(target=send); t0 = time.perf_counter(); t.start()
    conn, _ = srv.accept(); got = 0
    while True:
        b = conn.recv(1 << 20)
        if not b: break
        got += len(b)
    t.join(); dt = time.perf_counter() - t0; conn.close(); srv.close()
    assert got == n
    return dt
print("%.3f" % statistics.median(once() for _ in range(3)))
EOF
}
