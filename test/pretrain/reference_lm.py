#!/usr/bin/python3
"""Independent float64 reference for src/pretrain: causal-LM loss and held-out perplexity.

Regenerate (from the repository root):

    /usr/bin/python3 test/pretrain/reference_lm.py

Writes test/pretrain/golden_lm.json with
- "loss": a hand-made logits tensor, ids and target weights, and the numpy mean next-token NLL;
- "perplexity": a token stream of three documents packed (bos/eos at document boundaries, sequences of
  L tokens, the partial last one right-padded) and scored by the Gemma 3 fixture test/fixtures/gemma3-tiny
  with the torch float64 reference test/reference/gemma_reference.py: summed NLL, target count, perplexity.
The packing and the target rule (t >= 1, not pad, not bos) are re-implemented here, not shared with src/.
"""
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "test", "reference"))
import gemma_reference as ref  # noqa: E402

PAD, EOS, BOS = 0, 1, 2


def log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def mean_nll(logits, ids, weights):
    """logits [B, T, V] predict ids[:, 1:]; weights[b, t] says whether ids[b, t] counts."""
    lp = log_softmax(logits[:, :-1])
    tgt = ids[:, 1:]
    w = weights[:, 1:]
    picked = np.take_along_axis(lp, tgt[..., None], -1)[..., 0]
    return float(-(picked * w).sum() / w.sum()), float(-(picked * w).sum()), float(w.sum())


def loss_case():
    B, T, V = 2, 4, 5
    logits = np.array([[[math.sin(1 + b * 31 + t * 7 + v * 3) * (1 + v) for v in range(V)] for t in range(T)] for b in range(B)])
    ids = np.array([[2, 3, 4, 1], [2, 4, 0, 0]])
    weights = np.array([[0, 1, 1, 1], [0, 1, 0, 0]], dtype=np.float64)
    mean, total, count = mean_nll(logits, ids, weights)
    return {"logits": logits.tolist(), "ids": ids.tolist(), "weights": weights.tolist(), "mean_nll": mean, "sum_nll": total, "count": count}


def perplexity_case():
    d = os.path.join(ROOT, "test", "fixtures", "gemma3-tiny")
    cfg = json.load(open(os.path.join(d, "config.json")))
    params = ref.read_safetensors(os.path.join(d, "model.safetensors"))
    docs = [[(7 * i + 13 * k) % 250 + 5 for i in range(n)] for k, n in enumerate([5, 11, 3])]
    stream = []
    for doc in docs:
        stream += [BOS] + doc + [EOS]
    L = 7
    rows, lengths = [], []
    for s in range(0, len(stream), L):
        chunk = stream[s:s + L]
        lengths.append(len(chunk))
        rows.append(chunk + [PAD] * (L - len(chunk)))
    ids = torch.tensor(rows)
    mask = torch.tensor([[1 if t < n else 0 for t in range(L)] for n in lengths])
    _, logits = ref.forward(params, cfg, ids, mask, "causal")
    weights = np.array([[1.0 if 1 <= t < n and rows[b][t] != BOS else 0.0 for t in range(L)] for b, n in enumerate(lengths)])
    _, total, count = mean_nll(logits.numpy(), ids.numpy(), weights)
    return {
        "fixture": "test/fixtures/gemma3-tiny",
        "docs": docs,
        "seq_len": L,
        "stream": stream,
        "rows": rows,
        "lengths": lengths,
        "sum_nll": total,
        "count": count,
        "perplexity": math.exp(total / count),
    }


def main():
    out = {
        "generator": "test/pretrain/reference_lm.py (numpy float64; torch float64 Gemma reference test/reference/gemma_reference.py)",
        "loss": loss_case(),
        "perplexity": perplexity_case(),
    }
    with open(os.path.join(HERE, "golden_lm.json"), "w") as f:
        f.write(json.dumps(out, indent=1) + "\n")
    p = out["perplexity"]
    print(f"loss mean_nll {out['loss']['mean_nll']:.12f}; perplexity {p['perplexity']:.9f} over {p['count']:.0f} targets")


if __name__ == "__main__":
    main()
