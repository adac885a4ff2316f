#!/usr/bin/python3
"""The PyTorch peer of `npm run bench -- real` (Debian python3-torch, float32, CPU): the same checkpoint,
the same phases and attention rules as bench/real-worker.ts, one `RESULT {json}` line per phase.

    /usr/bin/python3 bench/real_torch.py CKPT_DIR PHASES(comma list)

A compact float32 Gemma 3 text encoder (bidirectional attention, q/k norm, per-layer-type RoPE, GQA),
weights read tensor by tensor from the safetensors shards (BF16 widened to float32).
"""
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(os.cpu_count() or 1)


def max_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(phase, **o):
    print("RESULT " + json.dumps({"phase": phase, "maxRssMiB": round(max_rss_mib()), **o}), flush=True)


def load(dir_):
    cfg = json.load(open(os.path.join(dir_, "config.json")))
    index = json.load(open(os.path.join(dir_, "model.safetensors.index.json")))["weight_map"]
    params = {}
    for shard in sorted(set(index.values())):
        with open(os.path.join(dir_, shard), "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            base = 8 + n
            for name, meta in header.items():
                if name == "__metadata__":
                    continue
                b, e = meta["data_offsets"]
                f.seek(base + b)
                raw = np.frombuffer(f.read(e - b), dtype="<u2")
                a = (raw.astype(np.uint32) << 16).view(np.float32).reshape(meta["shape"])
                key = name if name.startswith("model.") else "model." + name
                params[key] = torch.from_numpy(a.copy())
    return cfg, params


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + w)


def rope(x, theta):
    K, L = x.shape[-1], x.shape[-2]
    inv = 1.0 / theta ** (torch.arange(0, K, 2, dtype=torch.float32) / K)
    ang = torch.outer(torch.arange(L, dtype=torch.float32), inv)
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
    return x * cos + torch.cat([-x[..., K // 2:], x[..., : K // 2]], -1) * sin


def forward(cfg, p, ids, mask, hf_window):
    B, L = ids.shape
    D, H, G, K = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    W = cfg["sliding_window"] // 2 + 1 if hf_window else cfg["sliding_window"]
    i, j = torch.arange(L)[:, None], torch.arange(L)[None, :]
    keys = mask.bool()[:, None, None, :]
    bias = {
        "full_attention": torch.zeros(B, 1, L, L).masked_fill(~keys, -1e30),
        "sliding_attention": torch.zeros(B, 1, L, L).masked_fill(~(keys & ((i - j).abs() < W)), -1e30),
    }
    theta = {"full_attention": cfg["rope_theta"], "sliding_attention": cfg["rope_local_base_freq"]}
    x = F.embedding(ids, p["model.embed_tokens.weight"]) * math.sqrt(D)
    for li, lt in enumerate(cfg["layer_types"]):
        pre = f"model.layers.{li}."
        h = rms(x, p[pre + "input_layernorm.weight"], eps)
        q = F.linear(h, p[pre + "self_attn.q_proj.weight"]).view(B, L, H, K).transpose(1, 2)
        k = F.linear(h, p[pre + "self_attn.k_proj.weight"]).view(B, L, G, K).transpose(1, 2)
        v = F.linear(h, p[pre + "self_attn.v_proj.weight"]).view(B, L, G, K).transpose(1, 2)
        q = rope(rms(q, p[pre + "self_attn.q_norm.weight"], eps), theta[lt])
        k = rope(rms(k, p[pre + "self_attn.k_norm.weight"], eps), theta[lt])
        k, v = k.repeat_interleave(H // G, 1), v.repeat_interleave(H // G, 1)
        s = q @ k.transpose(-1, -2) * cfg["query_pre_attn_scalar"] ** -0.5 + bias[lt]
        o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, L, H * K)
        x = x + rms(F.linear(o, p[pre + "self_attn.o_proj.weight"]), p[pre + "post_attention_layernorm.weight"], eps)
        h = rms(x, p[pre + "pre_feedforward_layernorm.weight"], eps)
        m = F.linear(F.gelu(F.linear(h, p[pre + "mlp.gate_proj.weight"]), approximate="tanh") * F.linear(h, p[pre + "mlp.up_proj.weight"]), p[pre + "mlp.down_proj.weight"])
        x = x + rms(m, p[pre + "post_feedforward_layernorm.weight"], eps)
    return rms(x, p["model.norm.weight"], eps)


def batch(B, T, V):
    g = torch.Generator().manual_seed(12345)
    ids = torch.randint(3, V, (B, T), generator=g)
    ids[:, 0] = 2
    return ids, torch.ones(B, T, dtype=torch.long)


def main():
    dir_, phases = sys.argv[1], set(sys.argv[2].split(","))
    emit("engine", backend=f"torch {torch.__version__} float32", threads=torch.get_num_threads())
    t0 = time.perf_counter()
    cfg, p = load(dir_)
    n = sum(t.numel() for t in p.values())
    emit("load", seconds=time.perf_counter() - t0, params=n, f32MiB=n * 4 / 2**20)
    hf = bool(cfg.get("use_bidirectional_attention"))
    V = cfg["vocab_size"]
    for T in (128, 1024):
        if f"forward{T}" not in phases:
            continue
        ids, mask = batch(8, T, V)
        reps = 3 if T == 128 else 1
        times = []
        try:
            with torch.no_grad():
                for _ in range(reps):
                    s = time.perf_counter()
                    forward(cfg, p, ids, mask, hf)
                    times.append(time.perf_counter() - s)
            timed = times[1:] if reps > 1 else times
            sec = sum(timed) / len(timed)
            emit(f"forward{T}", seconds=sec, tokensPerSecond=8 * T / sec, runs=len(timed), cold=reps == 1)
        except RuntimeError as e:
            emit(f"forward{T}", error=str(e).split("\n")[0])
    for freeze in (True, False):
        phase = "finetune_frozen_embed" if freeze else "finetune_full"
        if phase not in phases:
            continue
        ids, mask = batch(8, 128, V)
        labels = torch.tensor([0, 1] * 4)
        head = torch.nn.Linear(cfg["hidden_size"], 2)
        train = {k: v.requires_grad_(not (freeze and k == "model.embed_tokens.weight")) for k, v in p.items()}
        opt = torch.optim.AdamW([v for v in train.values() if v.requires_grad] + list(head.parameters()), lr=1e-5)
        times = []
        try:
            for _ in range(2):
                s = time.perf_counter()
                h = forward(cfg, train, ids, mask, False)
                pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
                loss = F.cross_entropy(head(pooled), labels)
                opt.zero_grad()
                loss.backward()
                opt.step()
                times.append(time.perf_counter() - s)
            trainable = sum(v.numel() for v in train.values() if v.requires_grad) + sum(q.numel() for q in head.parameters())
            emit(phase, seconds=times[1], firstStepSeconds=times[0], trainableParams=trainable)
        except RuntimeError as e:
            emit(phase, error=str(e).split("\n")[0])
        del opt
        for v in p.values():
            v.requires_grad_(False)
            v.grad = None


if __name__ == "__main__":
    main()
