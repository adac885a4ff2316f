#!/usr/bin/python3
"""Independent float64 PyTorch reference of the Gemma 4 text decoder (full sequence, no cache).

Written from the Hugging Face transformers source (models/gemma4/configuration_gemma4.py and
modeling_gemma4.py: Gemma4TextConfig.__post_init__, Gemma4RMSNorm, Gemma4TextRotaryEmbedding with
modeling_rope_utils._compute_proportional_rope_parameters, Gemma4TextAttention, Gemma4TextMLP,
Gemma4TextRouter, Gemma4TextExperts, Gemma4TextDecoderLayer, Gemma4TextModel, Gemma4ForCausalLM;
masking_utils for the masks), not from src/. No transformers import. Plain functions over a dict of
float64 tensors keyed by HF tensor names and the raw config.json dict.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-numpy); make_gemma4_fixtures.py uses it.
"""
import math

import torch

from gemma_reference import pool  # noqa: F401  (masked mean / first / last pooling: the same for every family)

F64 = torch.float64
MODES = ("causal", "bidirectional_global", "bidirectional_sliding", "bidirectional_sliding_gemma4_hf")


# ----------------------------------------------------------------------------------------------- config

def text_config(cfg):
    """(text config dict, tensor prefix): gemma4 nests the decoder under text_config."""
    if cfg["model_type"] == "gemma4":
        return cfg["text_config"], "model.language_model."
    return cfg, "model."


def derive(t):
    """Per-layer facts exactly as Gemma4TextConfig.__post_init__ and the modules' __init__ derive them."""
    n = t.get("num_hidden_layers", 30)
    types = list(t["layer_types"]) if t.get("layer_types") else [
        "sliding_attention" if (i + 1) % 6 else "full_attention" for i in range(n)]
    types[-1] = "full_attention"
    head_dim, global_head_dim = t.get("head_dim", 256), t.get("global_head_dim", 512)
    k_eq_v = t.get("attention_k_eq_v", False)
    shared_n = t.get("num_kv_shared_layers", 0)
    first_shared = n - shared_n
    layers = []
    for i, ty in enumerate(types):
        sliding = ty == "sliding_attention"
        hd = global_head_dim if (not sliding and global_head_dim) else head_dim
        alt = k_eq_v and not sliding
        kv = t["num_global_key_value_heads"] if alt else t.get("num_key_value_heads", 4)
        is_shared = i >= first_shared >= 0 and shared_n > 0
        prev = types[:first_shared]
        source = (len(prev) - 1 - prev[::-1].index(ty)) if is_shared else None
        wide = t.get("use_double_wide_mlp", False) and (i >= first_shared > 0)
        layers.append(dict(type=ty, hd=hd, kv=kv, alt=alt, shared=is_shared, source=source,
                           inter=t.get("intermediate_size", 9216) * (2 if wide else 1)))
    return types, layers


def inv_freq(t, layer_type, hd):
    rp = (t.get("rope_parameters") or {
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
        "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1000000.0},
    })[layer_type]
    base = rp["rope_theta"]
    if rp.get("rope_type", "default") == "default":
        dim = t.get("head_dim", 256)
        return 1.0 / base ** (torch.arange(0, dim, 2, dtype=F64) / dim)
    # proportional: int(f * head_dim // 2) rotated angles with exponent over the whole head_dim, zeros after
    rotated = int(rp.get("partial_rotary_factor", 1.0) * hd // 2)
    inv = torch.zeros(hd // 2, dtype=F64)
    inv[:rotated] = 1.0 / base ** (torch.arange(0, 2 * rotated, 2, dtype=F64) / hd)
    return inv / rp.get("factor", 1.0)


# ------------------------------------------------------------------------------------------------- math

def rms_norm(x, w, eps):
    """Gemma4RMSNorm: x * (mean(x^2) + eps)^-0.5, times w when it has one (no 1 + w)."""
    y = x * torch.pow(x.pow(2).mean(-1, keepdim=True) + eps, -0.5)
    return y if w is None else y * w


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def rope(x, inv, positions):
    """x [B, S, h, K]; rotate_half pairs dim i with i + K/2."""
    freqs = positions[:, None].to(F64) * inv[None, :]
    emb = torch.cat([freqs, freqs], -1)
    cos, sin = emb.cos()[None, :, None, :], emb.sin()[None, :, None, :]
    half = x.shape[-1] // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rot * sin


def allowed(mode, layer_type, window, attention_mask):
    """Bool [B, S, S]: may query q see key k (masking_utils semantics)."""
    S = attention_mask.shape[1]
    q = torch.arange(S)[:, None]
    k = torch.arange(S)[None, :]
    sliding = layer_type == "sliding_attention"
    if mode == "causal":
        rule = (k <= q) & ((k > q - window) if sliding else True)
    elif mode == "bidirectional_global":
        rule = torch.ones(S, S, dtype=torch.bool)
    elif mode == "bidirectional_sliding":
        rule = ((q - k).abs() < window) if sliding else torch.ones(S, S, dtype=torch.bool)
    elif mode == "bidirectional_sliding_gemma4_hf":
        # use_bidirectional_attention="all": sliding_window := W // 2 + 1, overlay |q - k| <= it (inclusive)
        rule = ((q - k).abs() <= window // 2 + 1) if sliding else torch.ones(S, S, dtype=torch.bool)
    else:
        raise ValueError(mode)
    return rule[None] & attention_mask.bool()[:, None, :]


def attention(q, k, v, ok):
    """q [B,S,H,K], k/v [B,S,G,K] (GQA: head h uses kv head h // (H/G)), scale 1.0, no softcap."""
    H, G = q.shape[2], k.shape[2]
    k = k.repeat_interleave(H // G, dim=2)
    v = v.repeat_interleave(H // G, dim=2)
    s = torch.einsum("bqhd,bkhd->bhqk", q, k)
    s = s.masked_fill(~ok[:, None], torch.finfo(F64).min)
    p = torch.softmax(s, -1)
    return torch.einsum("bhqk,bkhd->bqhd", p, v).reshape(q.shape[0], q.shape[1], -1)


def moe(p, pre, t, r, eps):
    """Router on the un-normed residual r, experts on pre_feedforward_layernorm_2(r); loop over tokens."""
    D = r.shape[-1]
    x = r.reshape(-1, D)
    g = rms_norm(x, None, eps) * p[pre + "router.scale"] * D ** -0.5
    probs = torch.softmax(g @ p[pre + "router.proj.weight"].T, -1)
    w, idx = torch.topk(probs, t["top_k_experts"], dim=-1)
    w = w / w.sum(-1, keepdim=True)
    w = w * p[pre + "router.per_expert_scale"][idx]
    u = rms_norm(x, p[pre + "pre_feedforward_layernorm_2.weight"], eps)
    gu, dn = p[pre + "experts.gate_up_proj"], p[pre + "experts.down_proj"]
    I = dn.shape[-1]
    out = torch.zeros_like(x)
    for n in range(x.shape[0]):
        for j in range(idx.shape[1]):
            e = idx[n, j]
            h = gu[e] @ u[n]
            out[n] += w[n, j] * (dn[e] @ (gelu_tanh(h[:I]) * h[I:]))
    return out.reshape(r.shape)


def forward(p, cfg, input_ids, attention_mask, mode, stages=None):
    """-> (final-norm hidden states [B,S,D], logits [B,S,V] after the final softcap)."""
    t, m = text_config(cfg)
    types, layers = derive(t)
    eps = t.get("rms_norm_eps", 1e-6)
    D = t["hidden_size"]
    L = len(layers)
    P = t.get("hidden_size_per_layer_input", 256)
    window = t.get("sliding_window", 512)
    B, S = input_ids.shape
    pos = torch.arange(S)

    x = p[m + "embed_tokens.weight"][input_ids] * math.sqrt(D)
    if P:
        tok = (p[m + "embed_tokens_per_layer.weight"][input_ids] * math.sqrt(P)).reshape(B, S, L, P)
        ctx = (x @ p[m + "per_layer_model_projection.weight"].T * D ** -0.5).reshape(B, S, L, P)
        ctx = rms_norm(ctx, p[m + "per_layer_projection_norm.weight"], eps)
        per_layer = (ctx + tok) * 2 ** -0.5
    if stages is not None:
        stages.append(x)
    shared = {}
    H = t.get("num_attention_heads", 8)
    for i, l in enumerate(layers):
        pre = f"{m}layers.{i}."
        inv = inv_freq(t, l["type"], l["hd"])
        r = x
        a = rms_norm(x, p[pre + "input_layernorm.weight"], eps)
        q = (a @ p[pre + "self_attn.q_proj.weight"].T).reshape(B, S, H, l["hd"])
        q = rope(rms_norm(q, p[pre + "self_attn.q_norm.weight"], eps), inv, pos)
        if l["shared"]:
            k, v = shared[l["source"]]
        else:
            k = (a @ p[pre + "self_attn.k_proj.weight"].T).reshape(B, S, l["kv"], l["hd"])
            v = k if l["alt"] else (a @ p[pre + "self_attn.v_proj.weight"].T).reshape(B, S, l["kv"], l["hd"])
            k = rope(rms_norm(k, p[pre + "self_attn.k_norm.weight"], eps), inv, pos)
            v = rms_norm(v, None, eps)
            shared[i] = (k, v)
        o = attention(q, k, v, allowed(mode, l["type"], window, attention_mask)) @ p[pre + "self_attn.o_proj.weight"].T
        x = r + rms_norm(o, p[pre + "post_attention_layernorm.weight"], eps)
        r = x
        h = rms_norm(r, p[pre + "pre_feedforward_layernorm.weight"], eps)
        f = (gelu_tanh(h @ p[pre + "mlp.gate_proj.weight"].T) * (h @ p[pre + "mlp.up_proj.weight"].T)) @ p[pre + "mlp.down_proj.weight"].T
        if t.get("enable_moe_block", False):
            f1 = rms_norm(f, p[pre + "post_feedforward_layernorm_1.weight"], eps)
            f2 = rms_norm(moe(p, pre, t, r, eps), p[pre + "post_feedforward_layernorm_2.weight"], eps)
            f = f1 + f2
        x = r + rms_norm(f, p[pre + "post_feedforward_layernorm.weight"], eps)
        if P:
            g = gelu_tanh(x @ p[pre + "per_layer_input_gate.weight"].T) * per_layer[:, :, i, :]
            x = x + rms_norm(g @ p[pre + "per_layer_projection.weight"].T, p[pre + "post_per_layer_input_norm.weight"], eps)
        x = x * p[pre + "layer_scalar"]
        if stages is not None:
            stages.append(x)
    h = rms_norm(x, p[m + "norm.weight"], eps)
    head = p.get("lm_head.weight", p[m + "embed_tokens.weight"])
    logits = h @ head.T
    c = t.get("final_logit_softcapping")
    if c is not None:
        logits = c * torch.tanh(logits / c)
    return h, logits
