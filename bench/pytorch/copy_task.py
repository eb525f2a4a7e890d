"""The Annotated Transformer's copy task in plain PyTorch: a baseline for conf/copy-task.yaml.

Same setting as the project's acceptance config: 2 layers, d_model 512, d_ff 2048, 8 heads,
dropout 0.1, pre-norm with a final LayerNorm per stack, scaled embeddings plus sinusoidal
positions, Xavier-uniform init of every matrix, a separate output layer, Noam schedule (factor,
warmup 400), Adam 0.9/0.98/1e-9, EPOCHS epochs of 20 batches of BATCH (default 30) fresh sequences,
validation on 5 batches of 30 in eval mode after each epoch, then greedy decoding of 100 fresh
sequences. Usage (Debian's python3-torch):
  /usr/bin/python3 bench/pytorch/copy_task.py [--layout published|sparkformer] [--seed S]
      [--epochs 10] [--batch 30] [--factor 1.0] [--threads 2]

--layout published: vocabulary 11 (0 = pad), 10 symbols per sequence drawn from 1..10 with the
  first fixed to 1, which doubles as the decoder's start token (9 tokens to predict).
--layout sparkformer: the project's files: 10 symbols from 10, vocabulary 15 (pad, bos, eos,
  mask, unk first); the decoder reads bos + symbols and predicts symbols + eos (11 tokens).

Prints one line per epoch and
  RESULT layout=L seed=S epochs=E batch=B factor=F val_loss=X exact=N/100
"""
import argparse
import math

import torch
from torch import nn


class CopyModel(nn.Module):
    def __init__(self, vocab, d_model=512, heads=8, layers=2, d_ff=2048, dropout=0.1, max_len=64):
        super().__init__()
        self.d_model = d_model
        self.src_embed = nn.Embedding(vocab, d_model)
        self.tgt_embed = nn.Embedding(vocab, d_model)
        self.core = nn.Transformer(d_model, heads, layers, layers, d_ff, dropout,
                                   batch_first=True, norm_first=True)
        self.out = nn.Linear(d_model, vocab)
        self.drop = nn.Dropout(dropout)
        pos = torch.arange(max_len).unsqueeze(1)
        freq = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq)
        self.register_buffer("pe", pe)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def embed(self, table, ids):
        return self.drop(table(ids) * math.sqrt(self.d_model) + self.pe[: ids.size(1)])

    def forward(self, src, tgt_in):
        causal = self.core.generate_square_subsequent_mask(tgt_in.size(1))
        h = self.core(self.embed(self.src_embed, src), self.embed(self.tgt_embed, tgt_in), tgt_mask=causal)
        return self.out(h)


def batch(layout, n, gen):
    """(src, decoder input, targets, start token) for n fresh sequences."""
    if layout == "published":
        data = torch.randint(1, 11, (n, 10), generator=gen)
        data[:, 0] = 1
        return data, data[:, :-1], data[:, 1:], 1
    bos, eos = 1, 2
    symbols = torch.randint(5, 15, (n, 10), generator=gen)
    col = lambda v: torch.full((n, 1), v)
    return (torch.cat([symbols, col(eos)], 1), torch.cat([col(bos), symbols], 1),
            torch.cat([symbols, col(eos)], 1), bos)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layout", choices=["published", "sparkformer"], default="published")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--factor", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    vocab = 11 if args.layout == "published" else 15
    model = CopyModel(vocab)
    opt = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    noam = lambda step: args.factor * 512 ** -0.5 * min((step + 1) ** -0.5, (step + 1) * 400 ** -1.5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, noam)
    loss_of = nn.CrossEntropyLoss()
    val_loss = float("nan")
    for epoch in range(1, args.epochs + 1):
        model.train()
        for _ in range(20):
            src, tin, tout, _ = batch(args.layout, args.batch, gen)
            loss = loss_of(model(src, tin).reshape(-1, vocab), tout.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            losses = []
            for _ in range(5):
                src, tin, tout, _ = batch(args.layout, 30, gen)
                losses.append(loss_of(model(src, tin).reshape(-1, vocab), tout.reshape(-1)).item())
        val_loss = sum(losses) / len(losses)
        print(f"epoch {epoch} train_loss {loss.item():.4f} val_loss {val_loss:.4f}", flush=True)
    src, _, tout, start = batch(args.layout, 100, gen)
    out = torch.full((100, 1), start)
    with torch.no_grad():
        for _ in range(tout.size(1)):
            nxt = model(src, out)[:, -1].argmax(-1, keepdim=True)
            out = torch.cat([out, nxt], 1)
    exact = int((out[:, 1:] == tout).all(1).sum())
    print(f"RESULT layout={args.layout} seed={args.seed} epochs={args.epochs} batch={args.batch} factor={args.factor} val_loss={val_loss:.4f} exact={exact}/100")


if __name__ == "__main__":
    main()
