#!/usr/bin/env python3
"""A large corpus from a small one: the source's lines drawn at random (seeded) until the output
holds the given number of bytes. Usage: bench/reshuffle-lines.py SOURCE OUTPUT GIGABYTES [SEED]"""
import random
import sys


def main():
    source, output, gigabytes = sys.argv[1], sys.argv[2], float(sys.argv[3])
    rnd = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 2026)
    with open(source, encoding="utf-8") as f:
        lines = [line if line.endswith("\n") else line + "\n" for line in f]
    target = int(gigabytes * 1e9)
    written = 0
    with open(output, "w", encoding="utf-8") as out:
        while written < target:
            chunk = "".join(rnd.choices(lines, k=200_000))
            out.write(chunk)
            written += len(chunk.encode("utf-8"))
    print(f"{output}: {written} bytes from {len(lines)} lines of {source}")


if __name__ == "__main__":
    main()
