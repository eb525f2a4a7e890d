#!/usr/bin/env python3
"""A BERT-base-sized checkpoint with random weights, in Hugging Face layout: 12 layers, hidden 768, 12 heads,
intermediate 3072, 512 positions, 2 token types, the uncased WordPiece vocabulary of 30522 (the tokenizer.json given,
e.g. ../shared/pretrained/all-MiniLM-L6-v2's), BertModel's names and nn.Linear's [out, in] weights, float32,
N(0, 0.02) as BERT initialises (LayerNorm gains 1, biases 0). For measuring memory and time, not accuracy.
Usage: make-bert-base.py OUT_DIR TOKENIZER_JSON [seed]"""
import json, os, shutil, struct, sys

import numpy as np

def save(path, tensors):
    header, off = {}, 0
    for k, a in tensors.items():
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for a in tensors.values():
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())

def main():
    out, tokenizer = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    V, P, T, d, L, H, ff = 30522, 512, 2, 768, 12, 12, 3072
    normal = lambda *s: (rng.standard_normal(s, dtype=np.float32) * 0.02)
    w = {"embeddings.word_embeddings.weight": normal(V, d), "embeddings.position_embeddings.weight": normal(P, d),
         "embeddings.token_type_embeddings.weight": normal(T, d),
         "embeddings.LayerNorm.weight": np.ones(d, np.float32), "embeddings.LayerNorm.bias": np.zeros(d, np.float32)}
    for i in range(L):
        p = f"encoder.layer.{i}."
        for name, (o, n) in {"attention.self.query": (d, d), "attention.self.key": (d, d), "attention.self.value": (d, d),
                             "attention.output.dense": (d, d), "intermediate.dense": (ff, d), "output.dense": (d, ff)}.items():
            w[p + name + ".weight"] = normal(o, n)
            w[p + name + ".bias"] = np.zeros(o, np.float32)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + name + ".weight"] = np.ones(d, np.float32)
            w[p + name + ".bias"] = np.zeros(d, np.float32)
    w["pooler.dense.weight"] = normal(d, d)
    w["pooler.dense.bias"] = np.zeros(d, np.float32)
    os.makedirs(out, exist_ok=True)
    save(os.path.join(out, "model.safetensors"), w)
    json.dump({"model_type": "bert", "architectures": ["BertModel"], "vocab_size": V, "hidden_size": d, "num_hidden_layers": L,
               "num_attention_heads": H, "intermediate_size": ff, "hidden_act": "gelu", "max_position_embeddings": P,
               "type_vocab_size": T, "layer_norm_eps": 1e-12, "pad_token_id": 0, "hidden_dropout_prob": 0.1,
               "attention_probs_dropout_prob": 0.1, "position_embedding_type": "absolute"},
              open(os.path.join(out, "config.json"), "w"), indent=2)
    shutil.copyfile(tokenizer, os.path.join(out, "tokenizer.json"))
    print(f"wrote {out}: {sum(a.size for a in w.values()):,} parameters")

if __name__ == "__main__":
    main()
