#!/usr/bin/env python3
"""nanoGPT's CPU setting in plain PyTorch, the same model and step as bench/gpt-cpu.sh.

Decoder, 4 layers, 4 heads, 128 wide, block 64, batch 12, vocab 65; pre-LN, learned positions,
exact GELU, biases, tied head; AdamW (0.9, 0.99, wd 0.1 on matrices), clip 1.0, random tokens.
Ends with: RESULT tokens_per_s=X ms_per_step=Y gemm_gflops=Z mfu=W

Run with Debian's python3-torch (and libopenblas0-pthread, or BLAS runs at reference speed):
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/pytorch/gpt_cpu.py --threads 2
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d, eps=1e-5)
        self.qkv = nn.Linear(d, 3 * d)
        self.o = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=1e-5)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x, mask):
        B, T, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (t.view(B, T, self.h, d // self.h).transpose(1, 2) for t in (q, k, v))
        s = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.h)
        s = s.masked_fill(mask, float("-inf"))
        a = (F.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, d)
        x = x + self.o(a)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab, d, h, layers, block):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(block, d)
        self.blocks = nn.ModuleList(Block(d, h) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d, eps=1e-5)
        self.register_buffer("mask", ~torch.tril(torch.ones(block, block, dtype=torch.bool)))

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos.weight[:T]
        for b in self.blocks:
            x = b(x, self.mask[:T, :T])
        logits = self.ln_f(x) @ self.tok.weight.T
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def gemm_gflops(rows, d, ff, reps=200):
    a, b = torch.rand(rows, d), torch.rand(d, ff)
    c = torch.empty(rows, ff)
    rates = []
    for i in range(reps + 20):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        dt = time.perf_counter() - t0
        if i >= 20:
            rates.append(2.0 * rows * d * ff / dt / 1e9)
    return statistics.median(rates)


def openblas_kernels():
    """Which kernels the OpenBLAS under torch picked (Prescott means it did not know the CPU)."""
    try:
        import ctypes
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1337)
    B, T, V, d, h, L = 12, 64, 65, 128, 4, 4
    model = GPT(V, d, h, L, T)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99), eps=1e-8)
    times = []
    for s in range(-args.warmup, args.steps):
        seq = torch.randint(0, V, (B, T + 1))
        t0 = time.perf_counter()
        loss = model(seq[:, :-1], seq[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if s >= 0:
            times.append(dt * 1000)
    ms = statistics.median(times)
    tps = B * T / (ms / 1000)
    gf = gemm_gflops(B * T, d, 4 * d)
    params = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, threads {args.threads}, OpenBLAS kernels {openblas_kernels()}, params {params},"
          f" last loss {loss.item():.4f}")
    print(f"step ms: median {ms:.1f}, min {min(times):.1f}, max {max(times):.1f} over {len(times)} steps")
    print(f"RESULT tokens_per_s={tps:.0f} ms_per_step={ms:.1f} gemm_gflops={gf:.1f} mfu={6 * params * tps / (gf * 1e9):.3f}")


if __name__ == "__main__":
    main()
