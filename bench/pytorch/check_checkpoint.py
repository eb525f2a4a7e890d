#!/usr/bin/env python3
"""Loads a Sparkformer model.safetensors into the reference PyTorch model and checks the logits.

The file holds the weights by the spec's names (config in the metadata) and, for this check,
tensors input.* and target and the logits the Java model computed (check.logits). The
reference forward of ../shared/golden/generate.py runs on the same weights and batch; the
relative difference of the logits must be below --tol.
Usage: check_checkpoint.py FILE GENERATE_PY_DIR [--tol 1e-4]
"""
import argparse
import json
import struct
import sys

import torch

DTYPES = {"F64": torch.float64, "F32": torch.float32, "I32": torch.int32, "I64": torch.int64}


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:end]), dtype=DTYPES[e["dtype"]])
        tensors[name] = t.reshape(e["shape"])
    return meta, tensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("generate_dir")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    sys.path.insert(0, args.generate_dir)
    import generate  # the reference model, float64

    meta, t = load(args.file)
    cfg = json.loads(meta["config"])
    cfg.pop("dropout", None)
    W = {k: v.double() for k, v in t.items() if not k.startswith(("input.", "check.")) and k != "target"}
    inputs = {k: v for k, v in t.items() if k.startswith("input.")}
    logits = generate.forward(W, cfg, inputs)
    ours = t["check.logits"].double().reshape(logits.shape)
    err = ((logits - ours).abs().max() / logits.abs().max()).item()
    print(f"reference forward on the checkpoint: {len(W)} weights, relative logits difference {err:.3g}")
    sys.exit(0 if err <= args.tol else 1)


if __name__ == "__main__":
    main()
