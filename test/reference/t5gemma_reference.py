#!/usr/bin/python3
"""Independent float64 torch reference of T5Gemma (HF transformers 4.57 semantics, see
docs/conventions.md). Plain functions over a dict of float64 tensors keyed by the HF
names (`model.encoder.*`, `model.decoder.*`); no transformers import, no code shared with src/.

Used by make_t5gemma_fixtures.py; run that script to regenerate the goldens.
"""
import math

import torch

F64 = torch.float64


def rms_norm(x, w, eps):
    # Gemma: normalise, then scale by (1 + w); w is stored as the offset.
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * (1.0 + w)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def rope(x, theta):
    """x [B,H,L,K]; half-split rotation (pairs k, k+K/2) at positions 0..L-1."""
    k = x.shape[-1]
    inv = 1.0 / theta ** (torch.arange(0, k, 2, dtype=F64) / k)
    ang = torch.arange(x.shape[-2], dtype=F64)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)
    sin = torch.cat([ang.sin(), ang.sin()], -1)
    rot = torch.cat([-x[..., k // 2:], x[..., : k // 2]], -1)
    return x * cos + rot * sin


def attention(p, prefix, cfg, xq, xkv, allowed, use_rope):
    """xq [B,T,Dq], xkv [B,S,Dkv], allowed [B,T,S] bool -> [B,T,Dq]."""
    h, g, k = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    b, t, _ = xq.shape
    s = xkv.shape[1]
    q = (xq @ p[prefix + "q_proj.weight"].T).view(b, t, h, k).transpose(1, 2)
    kk = (xkv @ p[prefix + "k_proj.weight"].T).view(b, s, g, k).transpose(1, 2)
    v = (xkv @ p[prefix + "v_proj.weight"].T).view(b, s, g, k).transpose(1, 2)
    if use_rope:
        q, kk = rope(q, cfg["rope_theta"]), rope(kk, cfg["rope_theta"])
    kk = kk.repeat_interleave(h // g, dim=1)  # query head i reads kv head i // (H/G)
    v = v.repeat_interleave(h // g, dim=1)
    scores = (q @ kk.transpose(-1, -2)) * cfg["query_pre_attn_scalar"] ** -0.5
    cap = cfg.get("attn_logit_softcapping")
    if cap is not None:
        scores = cap * torch.tanh(scores / cap)
    # Replacing (not adding) makes a query with no visible key average uniformly, as HF eager does.
    scores = scores.masked_fill(~allowed[:, None], -1e300)
    probs = torch.softmax(scores, -1)
    o = (probs @ v).transpose(1, 2).reshape(b, t, h * k)
    return o @ p[prefix + "o_proj.weight"].T


def mlp(p, prefix, x):
    return (gelu_tanh(x @ p[prefix + "gate_proj.weight"].T) * (x @ p[prefix + "up_proj.weight"].T)) @ p[
        prefix + "down_proj.weight"
    ].T


def embed_scale(hidden):
    # HF casts sqrt(hidden) to the activation dtype (float32 for these F32 checkpoints).
    return float(torch.tensor(hidden ** 0.5, dtype=torch.float32))


def encoder_mask(cfg, layer_type, attention_mask):
    """bidirectional_sliding: full layers see every non-pad key; sliding layers |i-j| < W."""
    L = attention_mask.shape[1]
    i = torch.arange(L)[:, None]
    j = torch.arange(L)[None, :]
    rule = torch.ones(L, L, dtype=torch.bool)
    if layer_type == "sliding_attention":
        rule = (i - j).abs() < cfg["sliding_window"]
    return rule[None] & attention_mask[:, None, :].bool()


def decoder_self_mask(cfg, layer_type, batch, L):
    i = torch.arange(L)[:, None]
    j = torch.arange(L)[None, :]
    rule = j <= i
    if layer_type == "sliding_attention":
        rule = rule & (j > i - cfg["sliding_window"])
    return rule[None].expand(batch, L, L)


def encode(p, enc, input_ids, attention_mask):
    pre = "model.encoder."
    x = p[pre + "embed_tokens.weight"][input_ids] * embed_scale(enc["hidden_size"])
    eps = enc["rms_norm_eps"]
    for li, lt in enumerate(enc["layer_types"]):
        lp = f"{pre}layers.{li}."
        allowed = encoder_mask(enc, lt, attention_mask)
        a = attention(p, lp + "self_attn.", enc, rms_norm(x, p[lp + "pre_self_attn_layernorm.weight"], eps),
                      rms_norm(x, p[lp + "pre_self_attn_layernorm.weight"], eps), allowed, True)
        x = x + rms_norm(a, p[lp + "post_self_attn_layernorm.weight"], eps)
        m = mlp(p, lp + "mlp.", rms_norm(x, p[lp + "pre_feedforward_layernorm.weight"], eps))
        x = x + rms_norm(m, p[lp + "post_feedforward_layernorm.weight"], eps)
    return rms_norm(x, p[pre + "norm.weight"], eps)


def decode(p, dec, decoder_input_ids, enc_out, attention_mask):
    pre = "model.decoder."
    b, L = decoder_input_ids.shape
    x = p[pre + "embed_tokens.weight"][decoder_input_ids] * embed_scale(dec["hidden_size"])
    eps = dec["rms_norm_eps"]
    cross_allowed = attention_mask[:, None, :].bool().expand(b, L, attention_mask.shape[1])
    for li, lt in enumerate(dec["layer_types"]):
        lp = f"{pre}layers.{li}."
        h = rms_norm(x, p[lp + "pre_self_attn_layernorm.weight"], eps)
        a = attention(p, lp + "self_attn.", dec, h, h, decoder_self_mask(dec, lt, b, L), True)
        x = x + rms_norm(a, p[lp + "post_self_attn_layernorm.weight"], eps)
        h = rms_norm(x, p[lp + "pre_cross_attn_layernorm.weight"], eps)
        c = attention(p, lp + "cross_attn.", dec, h, enc_out, cross_allowed, False)
        x = x + rms_norm(c, p[lp + "post_cross_attn_layernorm.weight"], eps)
        m = mlp(p, lp + "mlp.", rms_norm(x, p[lp + "pre_feedforward_layernorm.weight"], eps))
        x = x + rms_norm(m, p[lp + "post_feedforward_layernorm.weight"], eps)
    return rms_norm(x, p[pre + "norm.weight"], eps)


def forward(p, config, input_ids, attention_mask, decoder_input_ids):
    """Returns (encoder_hidden_states, decoder_hidden_states, logits), all float64."""
    enc, dec = config["encoder"], config["decoder"]
    enc_out = encode(p, enc, input_ids, attention_mask)
    dec_out = decode(p, dec, decoder_input_ids, enc_out, attention_mask)
    head = p.get("lm_head.out_proj.weight", p["model.decoder.embed_tokens.weight"])
    logits = dec_out @ head.T
    cap = dec.get("final_logit_softcapping")  # HF reads the decoder sub-config's cap
    if cap is not None:
        logits = cap * torch.tanh(logits / cap)
    return enc_out, dec_out, logits


def from_gemma2(g):
    """Balanced T5Gemma parameters from a Gemma 2 decoder-only state dict (T5Gemma paper §3.2):
    both halves copy the decoder; cross-attention (and its norms) copy that layer's self-attention."""
    out = {}
    n = 1 + max(int(k.split(".")[2]) for k in g if k.startswith("model.layers."))
    for side in ("encoder", "decoder"):
        out[f"model.{side}.embed_tokens.weight"] = g["model.embed_tokens.weight"]
        out[f"model.{side}.norm.weight"] = g["model.norm.weight"]
        for i in range(n):
            s, d = f"model.layers.{i}.", f"model.{side}.layers.{i}."
            for w in ("q", "k", "v", "o"):
                out[f"{d}self_attn.{w}_proj.weight"] = g[f"{s}self_attn.{w}_proj.weight"]
                if side == "decoder":
                    out[f"{d}cross_attn.{w}_proj.weight"] = g[f"{s}self_attn.{w}_proj.weight"]
            for w in ("gate", "up", "down"):
                out[f"{d}mlp.{w}_proj.weight"] = g[f"{s}mlp.{w}_proj.weight"]
            out[f"{d}pre_self_attn_layernorm.weight"] = g[f"{s}input_layernorm.weight"]
            out[f"{d}post_self_attn_layernorm.weight"] = g[f"{s}post_attention_layernorm.weight"]
            out[f"{d}pre_feedforward_layernorm.weight"] = g[f"{s}pre_feedforward_layernorm.weight"]
            out[f"{d}post_feedforward_layernorm.weight"] = g[f"{s}post_feedforward_layernorm.weight"]
            if side == "decoder":
                out[f"{d}pre_cross_attn_layernorm.weight"] = g[f"{s}input_layernorm.weight"]
                out[f"{d}post_cross_attn_layernorm.weight"] = g[f"{s}post_attention_layernorm.weight"]
    return out
