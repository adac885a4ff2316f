#!/usr/bin/python3
"""Independent float64 PyTorch reference of the Gemma 1 / 2 / 3 (text) decoders.

Semantics: Hugging Face transformers 4.57 (modeling_gemma.py, modular_gemma2.py, modular_gemma3.py) as
pinned down by docs/conventions.md. Plain functions over a dict of float64 tensors keyed by
the HF tensor names and the raw config.json dict; no transformers import and no code shared with src/
(the TypeScript implementation) or with the T5Gemma reference.

Written for Debian's python3-torch (1.13) and python3-numpy; run with /usr/bin/python3.
make_gemma_fixtures.py uses it (see README.md in this folder for the regeneration command).
"""
import json
import math
import struct

import numpy as np
import torch

F64 = torch.float64
MODES = ("causal", "bidirectional_global", "bidirectional_sliding", "bidirectional_sliding_gemma3_hf")


# ----------------------------------------------------------------------------------------------- config

def layer_types(cfg):
    if cfg.get("layer_types"):
        return list(cfg["layer_types"])
    n = cfg["num_hidden_layers"]
    if cfg["model_type"] == "gemma":
        return ["full_attention"] * n
    if cfg["model_type"] == "gemma3_text":
        pat = cfg.get("sliding_window_pattern", 6)
        return ["sliding_attention" if (i + 1) % pat else "full_attention" for i in range(n)]
    return ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(n)]


def rope_for(cfg, layer_type):
    """(theta, linear factor) of a layer type, from transformers 4.57 keys."""
    scaling = cfg.get("rope_scaling") or {}
    factor = scaling.get("factor", 1.0) if scaling.get("rope_type", scaling.get("type")) == "linear" else 1.0
    if cfg["model_type"] == "gemma3_text" and layer_type == "sliding_attention":
        return cfg.get("rope_local_base_freq", 10000.0), 1.0  # local layers: own base, never scaled
    return cfg.get("rope_theta", 10000.0), factor


def attn_scale(cfg):
    if cfg["model_type"] == "gemma":
        return cfg["head_dim"] ** -0.5
    return cfg["query_pre_attn_scalar"] ** -0.5


# ------------------------------------------------------------------------------------------------- math

def rms_norm(x, w, eps):
    """Gemma RMSNorm: x / sqrt(mean(x^2) + eps) * (1 + w)."""
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * (1.0 + w)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def rotary(x, theta, factor):
    """x [B, H, L, K] at positions 0..L-1, half-split pairs (k, k + K/2)."""
    K, L = x.shape[-1], x.shape[-2]
    inv_freq = 1.0 / theta ** (torch.arange(0, K, 2, dtype=F64) / K) / factor
    ang = torch.outer(torch.arange(L, dtype=F64), inv_freq)  # [L, K/2]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
    x1, x2 = x[..., : K // 2], x[..., K // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def visible(mode, layer_type, window, attention_mask):
    """Boolean [B, L, L]: may query i see key j (positional rule AND key not padding)."""
    B, L = attention_mask.shape
    i = torch.arange(L)[:, None]
    j = torch.arange(L)[None, :]
    sliding = layer_type == "sliding_attention"
    if mode == "causal":
        rule = (j <= i) & ((j > i - window) if sliding else True)
    elif mode == "bidirectional_global":
        rule = torch.ones(L, L, dtype=torch.bool)
    elif mode == "bidirectional_sliding":
        rule = (i - j).abs() < window if sliding else torch.ones(L, L, dtype=torch.bool)
    elif mode == "bidirectional_sliding_gemma3_hf":
        rule = (i - j).abs() < window // 2 + 1 if sliding else torch.ones(L, L, dtype=torch.bool)
    else:
        raise ValueError(mode)
    rule = torch.as_tensor(rule).expand(L, L)
    return rule[None] & attention_mask.bool()[:, None, :]


def self_attention(p, pre, cfg, x, allowed, layer_type):
    B, L, _ = x.shape
    H, G, K = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    q = (x @ p[pre + "q_proj.weight"].T).reshape(B, L, H, K).permute(0, 2, 1, 3)
    k = (x @ p[pre + "k_proj.weight"].T).reshape(B, L, G, K).permute(0, 2, 1, 3)
    v = (x @ p[pre + "v_proj.weight"].T).reshape(B, L, G, K).permute(0, 2, 1, 3)
    if cfg["model_type"] == "gemma3_text":
        q = rms_norm(q, p[pre + "q_norm.weight"], cfg["rms_norm_eps"])
        k = rms_norm(k, p[pre + "k_norm.weight"], cfg["rms_norm_eps"])
    theta, factor = rope_for(cfg, layer_type)
    q, k = rotary(q, theta, factor), rotary(k, theta, factor)
    # GQA: query head h reads kv head h // (H / G); expand explicitly (the TS code reshapes instead).
    kv_of = torch.arange(H) // (H // G)
    k, v = k[:, kv_of], v[:, kv_of]
    s = (q @ k.transpose(-1, -2)) * attn_scale(cfg)
    cap = cfg.get("attn_logit_softcapping")
    if cap:
        s = cap * torch.tanh(s / cap)
    # Replacing masked scores by a huge negative: a query with no visible key averages uniformly (HF eager).
    s = s.masked_fill(~allowed[:, None], -1e300)
    o = torch.softmax(s, -1) @ v  # [B, H, L, K]
    return o.permute(0, 2, 1, 3).reshape(B, L, H * K) @ p[pre + "o_proj.weight"].T


def mlp(p, pre, x):
    return (gelu_tanh(x @ p[pre + "gate_proj.weight"].T) * (x @ p[pre + "up_proj.weight"].T)) @ p[pre + "down_proj.weight"].T


def forward(p, cfg, input_ids, attention_mask, mode, stages=None):
    """-> (hidden_states [B, L, D] after model.norm, logits [B, L, V] with the final softcap).
    `stages`, when a list, receives the residual stream after the embedding and after each layer."""
    eps = cfg["rms_norm_eps"]
    sandwich = cfg["model_type"] not in ("gemma", "vaultgemma")
    pre_only = cfg["model_type"] == "vaultgemma"  # input + pre_feedforward norms, no post norms
    x = p["model.embed_tokens.weight"][input_ids] * math.sqrt(cfg["hidden_size"])
    types = layer_types(cfg)
    if stages is not None:
        stages.append(x)
    for i, lt in enumerate(types):
        pre = f"model.layers.{i}."
        allowed = visible(mode, lt, cfg.get("sliding_window"), attention_mask)
        a = self_attention(p, pre + "self_attn.", cfg, rms_norm(x, p[pre + "input_layernorm.weight"], eps), allowed, lt)
        if sandwich:
            x = x + rms_norm(a, p[pre + "post_attention_layernorm.weight"], eps)
            m = mlp(p, pre + "mlp.", rms_norm(x, p[pre + "pre_feedforward_layernorm.weight"], eps))
            x = x + rms_norm(m, p[pre + "post_feedforward_layernorm.weight"], eps)
        elif pre_only:
            x = x + a
            x = x + mlp(p, pre + "mlp.", rms_norm(x, p[pre + "pre_feedforward_layernorm.weight"], eps))
        else:
            x = x + a
            x = x + mlp(p, pre + "mlp.", rms_norm(x, p[pre + "post_attention_layernorm.weight"], eps))
        if stages is not None:
            stages.append(x)
    h = rms_norm(x, p["model.norm.weight"], eps)
    head = p.get("lm_head.weight", p["model.embed_tokens.weight"])
    logits = h @ head.T
    cap = cfg.get("final_logit_softcapping")
    if cap:
        logits = cap * torch.tanh(logits / cap)
    return h, logits


def pool(h, attention_mask):
    m = attention_mask.to(F64)
    lengths = attention_mask.sum(1)
    return {
        "mean": (h * m[..., None]).sum(1) / m.sum(1, keepdim=True),
        "first": h[:, 0],
        "last_non_pad": h[torch.arange(h.shape[0]), lengths - 1],
    }


# -------------------------------------------------------------------------------------------------- I/O

def read_safetensors(path):
    """F32 / BF16 tensors as float64 torch tensors (BF16 widened exactly: bits << 16)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        b, e = meta["data_offsets"]
        if meta["dtype"] == "F32":
            a = np.frombuffer(blob[b:e], dtype="<f4")
        elif meta["dtype"] == "BF16":
            a = (np.frombuffer(blob[b:e], dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: {name}: unsupported dtype {meta['dtype']}")
        out[name] = torch.tensor(a.astype(np.float64).reshape(meta["shape"]), dtype=F64)
    return out


def bf16_bits(a):
    """float32 -> bfloat16 bit patterns (round to nearest even), as uint16."""
    u = np.ascontiguousarray(a, dtype="<f4").view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")


def bf16_round(a):
    """The float32 values a BF16 file stores for `a`."""
    return (bf16_bits(a).astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path, tensors, dtype="F32"):
    """F32 or BF16 safetensors, tensors ordered by name, header padded with spaces to 8 bytes."""
    header, off, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        if dtype == "BF16":
            a = bf16_bits(a)
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# --------------------------------------------------------------------------------------------- fixtures
# Shared by the make_*_fixtures.py scripts (every family): weight draws, input batches, golden rounding.

def recipe_std(name):
    """docs/conventions.md recipe: std 0.05, q_proj/k_proj/gate_proj 0.15, norm weights 0.1."""
    return 0.1 if name.endswith("norm.weight") else 0.15 if any(k in name for k in ("q_proj", "k_proj", "gate_proj")) else 0.05


def random_params(shapes, seed, std=recipe_std):
    """float32 normal draws times std(name), drawn in name order from one seeded generator."""
    rng = np.random.default_rng(seed)
    return {name: (rng.standard_normal(shape) * std(name)).astype(np.float32) for name, shape in sorted(shapes.items())}


def padded_cases(seed, id_end=256):
    """Three batches as the shared fixtures: no padding, right padding, a short padded first row.
    Rows start with BOS (2), then ids in [3, id_end); pad is 0."""
    rng = np.random.default_rng(seed)

    def row(length, total):
        ids = [2] + [int(t) for t in rng.integers(3, id_end, length - 1)]
        return ids + [0] * (total - length), [1] * length + [0] * (total - length)

    cases = []
    for name, lengths, total in (("nopad", [16, 16], 16), ("right_padded", [16, 11], 16), ("short_first_row_padded", [5, 8], 8)):
        rows = [row(n, total) for n in lengths]
        cases.append({"name": name, "input_ids": [r[0] for r in rows], "attention_mask": [r[1] for r in rows], "lengths": lengths})
    return cases


def f32(x):
    """Nested lists of the shortest decimals of the float32 rounding (numpy prints float32 that way)."""
    a = np.asarray(x.detach().numpy() if torch.is_tensor(x) else x, dtype=np.float64).astype(np.float32)
    if a.ndim == 0:
        return float(str(a))
    return [f32(r) for r in a]


def write_golden(path, obj):
    """A golden file: compact JSON and a final newline."""
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def golden_head(fixture, model_type):
    """The leading keys of a decoder golden over F32 weights in one model.safetensors."""
    return {"fixture": fixture, "model_type": model_type, "weights_dtype": "F32", "weights_files": ["model.safetensors"],
            "numerics": "float64 forward on the stored weights, each value rounded once to float32"}
