#!/usr/bin/env python3
"""Loads an exported Hugging Face checkpoint directory into the plain-PyTorch forward passes of
../shared/golden/hf/make_golden.py (GPT2LMHeadModel; BertForMaskedLM, whose pooler is checked when
exported) and compares the outputs with that case's golden.safetensors.

The forward passes are the published architectures written with make_golden.py's own pieces
(its layer_norm and gelu_new, imported from it), on the exported tensors as they are in the file
(float32, read as float64) under the Hugging Face names. Differences are relative to the largest
expected value and must be below --tol.
Usage: check_hf_export.py EXPORTED_DIR GOLDEN_CASE_DIR [--tol 1e-5]"""
import argparse, importlib.util, json, math, os, sys

import torch

torch.set_default_dtype(torch.float64)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_checkpoint import load as load_with_metadata  # noqa: E402  (the safetensors reader beside this file)


def load(path):
    return load_with_metadata(path)[1]


def reference(golden_case):
    path = os.path.join(os.path.dirname(os.path.abspath(golden_case)), "make_golden.py")
    spec = importlib.util.spec_from_file_location("make_golden", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def gpt2(w, cfg, ids, ref):
    p0 = "transformer." if "transformer.wte.weight" in w else ""
    W = lambda n: w[p0 + n].to(torch.float64)
    B, T = ids.shape
    d, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    x = W("wte.weight")[ids] + W("wpe.weight")[torch.arange(T)]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    hd = d // H
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        a = ref.layer_norm(x, W(p + "ln_1.weight"), W(p + "ln_1.bias"), eps) @ W(p + "attn.c_attn.weight") + W(p + "attn.c_attn.bias")
        q, k, v = (t.view(B, T, H, hd).transpose(1, 2) for t in a.split(d, dim=2))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~causal, torch.finfo(s.dtype).min)
        c = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, d)
        x = x + c @ W(p + "attn.c_proj.weight") + W(p + "attn.c_proj.bias")
        m = ref.layer_norm(x, W(p + "ln_2.weight"), W(p + "ln_2.bias"), eps) @ W(p + "mlp.c_fc.weight") + W(p + "mlp.c_fc.bias")
        x = x + ref.gelu_new(m) @ W(p + "mlp.c_proj.weight") + W(p + "mlp.c_proj.bias")
    return {"logits": ref.layer_norm(x, W("ln_f.weight"), W("ln_f.bias"), eps) @ W("wte.weight").T}


def bert(w, cfg, g, ref):
    W = lambda n: w[n].to(torch.float64)
    ids, types, mask = g["input_ids"], g["token_type_ids"], g["attention_mask"]
    B, T = ids.shape
    d, H, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    e = "bert.embeddings."
    lin = lambda x, n: x @ W(n + ".weight").T + W(n + ".bias")
    x = W(e + "word_embeddings.weight")[ids] + W(e + "position_embeddings.weight")[torch.arange(T)] \
        + W(e + "token_type_embeddings.weight")[types]
    x = ref.layer_norm(x, W(e + "LayerNorm.weight"), W(e + "LayerNorm.bias"), eps)
    ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
    hd = d // H
    for i in range(cfg["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        q, k, v = (lin(x, p + f"attention.self.{n}").view(B, T, H, hd).transpose(1, 2) for n in ("query", "key", "value"))
        c = (torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + ext, -1) @ v).transpose(1, 2).reshape(B, T, d)
        a = ref.layer_norm(lin(c, p + "attention.output.dense") + x, W(p + "attention.output.LayerNorm.weight"),
                           W(p + "attention.output.LayerNorm.bias"), eps)
        f = lin(torch.nn.functional.gelu(lin(a, p + "intermediate.dense")), p + "output.dense")
        x = ref.layer_norm(f + a, W(p + "output.LayerNorm.weight"), W(p + "output.LayerNorm.bias"), eps)
    out = {"last_hidden_state": x}
    t = torch.nn.functional.gelu(lin(x, "cls.predictions.transform.dense"))
    t = ref.layer_norm(t, W("cls.predictions.transform.LayerNorm.weight"), W("cls.predictions.transform.LayerNorm.bias"), eps)
    out["mlm_logits"] = t @ W(e + "word_embeddings.weight").T + W("cls.predictions.bias")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exported")
    ap.add_argument("golden_case")
    ap.add_argument("--tol", type=float, default=1e-5)
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.exported, "config.json")))
    w = load(os.path.join(a.exported, "model.safetensors"))
    g = load(os.path.join(a.golden_case, "golden.safetensors"))
    ref = reference(a.golden_case)
    got = gpt2(w, cfg, g["input_ids"], ref) if cfg["model_type"] == "gpt2" else bert(w, cfg, g, ref)
    worst = 0.0
    for name, value in got.items():
        want = g[name]
        rel = ((value - want).abs().max() / want.abs().max()).item()
        print(f"{os.path.basename(a.golden_case)} {name}: {rel:.2e} of the largest")
        worst = max(worst, rel)
    sys.exit(0 if worst < a.tol else 1)


if __name__ == "__main__":
    main()
