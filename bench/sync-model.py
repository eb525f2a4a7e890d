#!/usr/bin/env python3
"""Seconds a round spends synchronising at W workers, modelled from bench/sync.sh's measurements.

The all-reduce among executors (train.sync allreduce) moves, per worker and round:
  out: its W-1 raw slices to their owners, its averaged slice to the W-1 peers that fetch it,
       and one replica of that slice (MEMORY_AND_DISK_SER_2 on a cluster): 2(W-1)/W + 1/W vectors
  in:  the W-1 raw slices of its own slice, the W-1 averaged slices it gathers: 2(W-1)/W vectors
plus a fixed cost per round (Spark's job and barrier stage, the block master's polls), measured
on a small model as  fixed = a + b*W.  A ring all-reduce moves 2(W-1)/W vectors each way and pays
2(W-1) network latencies. Links are full duplex: a round takes the larger direction over the
link's rate, plus the fixed cost.

Usage: bench/sync-model.py PARAMS FIXED_A FIXED_B [LATENCY_S]
  e.g. bench/sync-model.py 123849984 0.061 0.0215 0.00005
Prints a Markdown table for W = 2, 4, 8, 16, 64 at 10 and 25 Gbit/s.
"""
import sys


def round_seconds(params, workers, gbit, fixed_a, fixed_b, latency, ring):
    vector = 4.0 * params
    rate = gbit * 1e9 / 8
    share = 2.0 * (workers - 1) / workers
    if ring:
        return share * vector / rate + 2 * (workers - 1) * latency
    out = (share + 1.0 / workers) * vector
    return max(out, share * vector) / rate + fixed_a + fixed_b * workers


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    params, fixed_a, fixed_b = int(argv[1]), float(argv[2]), float(argv[3])
    latency = float(argv[4]) if len(argv) > 4 else 50e-6
    print("| W | bytes out a worker (ours) | ours, 10 Gbit/s | ring, 10 Gbit/s | ours, 25 Gbit/s | ring, 25 Gbit/s |")
    print("|---|---|---|---|---|---|")
    for w in (2, 4, 8, 16, 64):
        out = (2.0 * (w - 1) / w + 1.0 / w) * 4 * params
        cells = [round_seconds(params, w, g, fixed_a, fixed_b, latency, ring) for g in (10, 25) for ring in (False, True)]
        print("| %d | %.0f MB | %.2f s | %.2f s | %.2f s | %.2f s |" % (w, out / 1e6, *cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
