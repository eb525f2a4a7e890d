#!/usr/bin/env bash
# The floor under a W = 2 exchange on this machine: the reduce-scatter's and the gather's bytes
# between two processes over loopback, 32 MiB a request into native memory, and nothing else (no
# averaging, no Spark), beside one copy of the vector through loopback as bench/sync.sh measures it.
# Usage: bench/exchange-floor.sh [PARAMS (124m: 123849984)] [ROUNDS (8)]
set -euo pipefail
cd "$(dirname "$0")"
params=${1:-123849984} rounds=${2:-8}
[[ $params =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ && $rounds -ge 2 ]] || {
  echo "bench/exchange-floor.sh: PARAMS and ROUNDS (at least 2) must be whole numbers" >&2; exit 2; }
bytes=$((params * 4))
source lib/loopback.sh
ports=$(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
read -r a b <<< "$ports"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(date -u +%F); vector $bytes bytes"
other_log=$(mktemp) other=
trap 'rm -f "$other_log"; [[ -z $other ]] || kill "$other" 2>/dev/null || true' EXIT
java java/ExchangeFloor.java "$bytes" "$a" "$b" "$rounds" > "$other_log" 2>&1 &
other=$!
java java/ExchangeFloor.java "$bytes" "$b" "$a" "$rounds"
wait "$other" || { cat "$other_log" >&2; exit 1; }
grep RESULT "$other_log" | sed 's/^RESULT /RESULT other_side_/'
echo "RESULT loopback_copy_s=$(loopback "$bytes")"
