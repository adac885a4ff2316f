#!/usr/bin/python3
"""Independent float64 torch reference of T5Gemma 2 (text) and of the T5Gemma layout with Gemma 3
blocks, written from the T5Gemma 2 paper (arXiv 2512.14856, merged attention, tied embeddings) and the
transformers T5Gemma 2 modeling semantics (sliding masks, eoi embedding, k_norm on encoder keys).
Plain functions over dicts of float64 tensors keyed by HF names; no transformers import, no code shared
with src/. Used by make_t5gemma2_fixtures.py.

A module config here is a plain dict: num_attention_heads, num_key_value_heads, head_dim, hidden_size,
query_pre_attn_scalar, rms_norm_eps, sliding_window, layer_types, rope {layer_type: (theta, factor)},
attn_logit_softcapping, final_logit_softcapping.
"""
import math

import torch

F64 = torch.float64
NEG = -1e300


def norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * (1.0 + w)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def rotary(x, positions, theta, factor):
    """x [B, H, L, K]; half-split pairs (k, k + K/2); angle = pos / theta^(2k/K) / factor."""
    K = x.shape[-1]
    inv = 1.0 / theta ** (torch.arange(0, K, 2, dtype=F64) / K) / factor
    ang = torch.outer(torch.as_tensor(positions, dtype=F64), inv)
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
    return x * cos + torch.cat([-x[..., K // 2:], x[..., : K // 2]], -1) * sin


def heads(x, w, n, k):
    B, L, _ = x.shape
    return (x @ w.T).reshape(B, L, n, k).permute(0, 2, 1, 3)


def softmax_attend(cfg, q, k, v, allowed):
    """q [B,H,T,K], k/v [B,G,S,K], allowed [B,T,S] -> [B,T,H*K]."""
    H, G = q.shape[1], k.shape[1]
    idx = torch.arange(H) // (H // G)
    s = (q @ k[:, idx].transpose(-1, -2)) * cfg["query_pre_attn_scalar"] ** -0.5
    cap = cfg.get("attn_logit_softcapping")
    if cap:
        s = cap * torch.tanh(s / cap)
    s = s.masked_fill(~allowed[:, None], NEG)
    o = torch.softmax(s, -1) @ v[:, idx]
    B, _, T, K = o.shape
    return o.permute(0, 2, 1, 3).reshape(B, T, H * K)


def qkv(p, pre, cfg, x, positions, layer_type, qk_norm, rope=True):
    H, G, K, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"], cfg["rms_norm_eps"]
    q, k, v = heads(x, p[pre + "q_proj.weight"], H, K), heads(x, p[pre + "k_proj.weight"], G, K), heads(x, p[pre + "v_proj.weight"], G, K)
    if qk_norm:
        q, k = norm(q, p[pre + "q_norm.weight"], eps), norm(k, p[pre + "k_norm.weight"], eps)
    if rope:
        theta, factor = cfg["rope"][layer_type]
        q, k = rotary(q, positions, theta, factor), rotary(k, positions, theta, factor)
    return q, k, v


def mlp(p, pre, x):
    return (gelu_tanh(x @ p[pre + "gate_proj.weight"].T) * (x @ p[pre + "up_proj.weight"].T)) @ p[pre + "down_proj.weight"].T


def causal_rule(cfg, lt, T):
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    rule = j <= i
    if lt == "sliding_attention":
        rule = rule & (j > i - cfg["sliding_window"])
    return rule


def encoder_rule(cfg, lt, S, recipe):
    i, j = torch.arange(S)[:, None], torch.arange(S)[None, :]
    if lt != "sliding_attention":
        return torch.ones(S, S, dtype=torch.bool)
    W = cfg["sliding_window"]
    if recipe == "t5gemma":
        return (i - j).abs() < W
    # T5Gemma 2: left window (W+1)//2 including the query, right window W//2 (exclusive bound W//2+1).
    d = i - j
    return ((d >= 0) & (d < (W + 1) // 2)) | ((d < 0) & (-d < W // 2 + 1))


# ------------------------------------------------------------------------------------------- T5Gemma 2

def embed2(p, ids, D, eoi):
    x = p["model.encoder.embed_tokens.weight"][ids] * float(torch.tensor(D ** 0.5, dtype=torch.float32))
    x[ids == eoi] = p["model.encoder.embed_tokens.eoi_embedding"]
    return x


def encode2(p, enc, ids, mask, eoi):
    eps, S = enc["rms_norm_eps"], ids.shape[1]
    x = embed2(p, ids, enc["hidden_size"], eoi)
    pos = list(range(S))
    for li, lt in enumerate(enc["layer_types"]):
        lp = f"model.encoder.layers.{li}."
        allowed = encoder_rule(enc, lt, S, "t5gemma2")[None] & mask.bool()[:, None, :]
        h = norm(x, p[lp + "pre_self_attn_layernorm.weight"], eps)
        q, k, v = qkv(p, lp + "self_attn.", enc, h, pos, lt, True)
        a = softmax_attend(enc, q, k, v, allowed) @ p[lp + "self_attn.o_proj.weight"].T
        x = x + norm(a, p[lp + "post_self_attn_layernorm.weight"], eps)
        m = mlp(p, lp + "mlp.", norm(x, p[lp + "pre_feedforward_layernorm.weight"], eps))
        x = x + norm(m, p[lp + "post_feedforward_layernorm.weight"], eps)
    return norm(x, p["model.encoder.norm.weight"], eps)


def decode2(p, dec, ids, enc_out, mask, eoi):
    """Merged attention: one softmax over [decoder keys (causal, RoPE); encoder keys (k_norm, no RoPE)]."""
    eps, (B, T) = dec["rms_norm_eps"], ids.shape
    S = enc_out.shape[1]
    x = embed2(p, ids, dec["hidden_size"], eoi)
    pos = list(range(T))
    cross_ok = mask.bool()[:, None, :].expand(B, T, S)
    for li, lt in enumerate(dec["layer_types"]):
        lp = f"model.decoder.layers.{li}."
        h = norm(x, p[lp + "pre_self_attn_layernorm.weight"], eps)
        q, k, v = qkv(p, lp + "self_attn.", dec, h, pos, lt, True)
        _, ck, cv = qkv(p, lp + "self_attn.", dec, enc_out, None, lt, True, rope=False)
        allowed = torch.cat([causal_rule(dec, lt, T)[None].expand(B, T, T), cross_ok], -1)
        a = softmax_attend(dec, q, torch.cat([k, ck], 2), torch.cat([v, cv], 2), allowed) @ p[lp + "self_attn.o_proj.weight"].T
        x = x + norm(a, p[lp + "post_self_attn_layernorm.weight"], eps)
        m = mlp(p, lp + "mlp.", norm(x, p[lp + "pre_feedforward_layernorm.weight"], eps))
        x = x + norm(m, p[lp + "post_feedforward_layernorm.weight"], eps)
    return norm(x, p["model.decoder.norm.weight"], eps)


def forward2(p, enc, dec, ids, mask, dec_ids, eoi):
    e = encode2(p, enc, ids, mask, eoi)
    d = decode2(p, dec, dec_ids, e, mask, eoi)
    logits = d @ p["model.encoder.embed_tokens.weight"].T  # tied everywhere
    cap = dec.get("final_logit_softcapping")
    if cap:
        logits = cap * torch.tanh(logits / cap)
    return e, d, logits


def t5gemma2_from_gemma3(ge, gd, eoi, vocab):
    """Recipe T5Gemma 2: encoder from ge, decoder from gd, one table (ge's), eoi row * sqrt(D) or zeros."""
    out = {"model.encoder.embed_tokens.weight": ge["model.embed_tokens.weight"]}
    D = ge["model.embed_tokens.weight"].shape[1]
    scale = float(torch.tensor(D ** 0.5, dtype=torch.float32))
    out["model.encoder.embed_tokens.eoi_embedding"] = (
        ge["model.embed_tokens.weight"][eoi] * scale if eoi < vocab else torch.zeros(D, dtype=F64))
    for side, g in (("encoder", ge), ("decoder", gd)):
        for name, t in g.items():
            if not name.startswith("model.layers.") and name != "model.norm.weight":
                continue
            new = name.replace("model.", f"model.{side}.", 1).replace("input_layernorm", "pre_self_attn_layernorm")
            out[new.replace("post_attention_layernorm", "post_self_attn_layernorm")] = t
    return out


# ------------------------------------------------------------------ T5Gemma layout with Gemma 3 blocks

def forward1(p, enc, dec, ids, mask, dec_ids):
    """T5Gemma: separate cross-attention (q/k norm, no RoPE); encoder |i-j| < W; separate tables."""
    eps = enc["rms_norm_eps"]
    B, S = ids.shape
    T = dec_ids.shape[1]
    x = p["model.encoder.embed_tokens.weight"][ids] * math.sqrt(enc["hidden_size"])
    for li, lt in enumerate(enc["layer_types"]):
        lp = f"model.encoder.layers.{li}."
        allowed = encoder_rule(enc, lt, S, "t5gemma")[None] & mask.bool()[:, None, :]
        h = norm(x, p[lp + "pre_self_attn_layernorm.weight"], eps)
        q, k, v = qkv(p, lp + "self_attn.", enc, h, list(range(S)), lt, True)
        x = x + norm(softmax_attend(enc, q, k, v, allowed) @ p[lp + "self_attn.o_proj.weight"].T, p[lp + "post_self_attn_layernorm.weight"], eps)
        m = mlp(p, lp + "mlp.", norm(x, p[lp + "pre_feedforward_layernorm.weight"], eps))
        x = x + norm(m, p[lp + "post_feedforward_layernorm.weight"], eps)
    e = norm(x, p["model.encoder.norm.weight"], eps)
    eps = dec["rms_norm_eps"]
    x = p["model.decoder.embed_tokens.weight"][dec_ids] * math.sqrt(dec["hidden_size"])
    cross_ok = mask.bool()[:, None, :].expand(B, T, S)
    for li, lt in enumerate(dec["layer_types"]):
        lp = f"model.decoder.layers.{li}."
        h = norm(x, p[lp + "pre_self_attn_layernorm.weight"], eps)
        q, k, v = qkv(p, lp + "self_attn.", dec, h, list(range(T)), lt, True)
        a = softmax_attend(dec, q, k, v, causal_rule(dec, lt, T)[None].expand(B, T, T)) @ p[lp + "self_attn.o_proj.weight"].T
        x = x + norm(a, p[lp + "post_self_attn_layernorm.weight"], eps)
        h = norm(x, p[lp + "pre_cross_attn_layernorm.weight"], eps)
        cq, _, _ = qkv(p, lp + "cross_attn.", dec, h, None, lt, True, rope=False)
        _, ck, cv = qkv(p, lp + "cross_attn.", dec, e, None, lt, True, rope=False)
        c = softmax_attend(dec, cq, ck, cv, cross_ok) @ p[lp + "cross_attn.o_proj.weight"].T
        x = x + norm(c, p[lp + "post_cross_attn_layernorm.weight"], eps)
        m = mlp(p, lp + "mlp.", norm(x, p[lp + "pre_feedforward_layernorm.weight"], eps))
        x = x + norm(m, p[lp + "post_feedforward_layernorm.weight"], eps)
    d = norm(x, p["model.decoder.norm.weight"], eps)
    logits = d @ p["model.decoder.embed_tokens.weight"].T
    cap = dec.get("final_logit_softcapping")
    if cap:
        logits = cap * torch.tanh(logits / cap)
    return e, d, logits


def t5gemma_from_gemma3(g):
    """Recipe T5Gemma, balanced: both halves copy g; cross-attention (and its norms, q/k norms) copy self-attention."""
    out = {}
    for side in ("encoder", "decoder"):
        out[f"model.{side}.embed_tokens.weight"] = g["model.embed_tokens.weight"]
        out[f"model.{side}.norm.weight"] = g["model.norm.weight"]
        for name, t in g.items():
            if not name.startswith("model.layers."):
                continue
            new = name.replace("model.", f"model.{side}.", 1).replace("input_layernorm", "pre_self_attn_layernorm")
            new = new.replace("post_attention_layernorm", "post_self_attn_layernorm")
            out[new] = t
            if side == "decoder" and ".self_attn." in new:
                out[new.replace(".self_attn.", ".cross_attn.")] = t
            if side == "decoder" and "_self_attn_layernorm" in new:
                out[new.replace("_self_attn_layernorm", "_cross_attn_layernorm")] = t
    return out
