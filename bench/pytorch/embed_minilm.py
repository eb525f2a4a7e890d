#!/usr/bin/env python3
"""Plain-PyTorch sentence embeddings of SST-2's first N training phrases with all-MiniLM-L6-v2: the
BertModel and WordPiece of ../shared/pretrained/finetune_sst2.py (imported from there, not copied),
float32, in batches of 64 sorted by length (longest first), mean pooled over the real tokens and
L2-normalised as sentence-transformers does. A warm-up pass on 512 phrases comes first.
Prints RESULT torch_sentences_per_s=X.
Usage: embed_minilm.py SHARED_DIR N THREADS"""
import importlib.util, json, os, sys, time

import torch

shared, n, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = importlib.util.spec_from_file_location("finetune_sst2", os.path.join(shared, "pretrained", "finetune_sst2.py"))
ft = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ft)

torch.set_num_threads(threads)
model_dir = os.path.join(shared, "pretrained", "all-MiniLM-L6-v2")
config = json.load(open(os.path.join(model_dir, "config.json")))
model = ft.BertModel(config)
weights = ft.read_safetensors(os.path.join(model_dir, "model.safetensors"))
prefix = "bert." if any(k.startswith("bert.") for k in weights) else ""
model.load_state_dict({k[len(prefix):]: v.float() for k, v in weights.items() if k.startswith(prefix)}, strict=False)
model.eval()
tok = ft.WordPiece(os.path.join(model_dir, "tokenizer.json"))
texts = [s for s, _ in ft.read_tsv(os.path.join(shared, "datasets", "sst2", "train.tsv"), limit=n)]


@torch.no_grad()
def embed(texts):
    ids = [tok.ids(t, 256) for t in texts]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    out = [None] * len(ids)
    for start in range(0, len(order), 64):
        rows = [ids[i] for i in order[start:start + 64]]
        x, mask = ft.make_batch(rows, tok.pad)
        h = model(x, mask)
        m = mask[:, :, None].to(h.dtype)
        v = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
        for k, i in enumerate(order[start:start + 64]):
            out[i] = v[k]
    return out


embed(texts[:512])
t0 = time.time()
embed(texts)
seconds = time.time() - t0
print(f"PyTorch {torch.__version__}: {len(texts)} phrases in {seconds:.1f} s on {threads} threads, batches of 64 sorted by length")
print(f"RESULT torch_sentences_per_s={len(texts) / seconds:.0f}")
