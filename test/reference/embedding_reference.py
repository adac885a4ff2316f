#!/usr/bin/python3
"""Independent float64 reference of the sentence-transformers modules that follow a Gemma backbone
(Pooling, Dense, Normalize), as the sentence-transformers library computes them, and of the Hugging Face
config defaults the Gemma family files rely on (Gemma3TextConfig, VaultGemmaConfig).

No code shared with src/. Written for Debian's python3-torch (1.13); run with /usr/bin/python3.
"""
import torch

F64 = torch.float64

# Gemma3TextConfig.__init__ defaults (transformers 4.57): what a sparse `text_config` falls back to.
GEMMA3_TEXT_DEFAULTS = {
    "vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
    "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
    "max_position_embeddings": 131072, "initializer_range": 0.02, "rms_norm_eps": 1e-6, "pad_token_id": 0,
    "eos_token_id": 1, "bos_token_id": 2, "tie_word_embeddings": True, "rope_theta": 1000000.0,
    "attention_bias": False, "attention_dropout": 0.0, "query_pre_attn_scalar": 256, "sliding_window": 4096,
    "final_logit_softcapping": None, "attn_logit_softcapping": None, "rope_scaling": None,
    "rope_local_base_freq": 10000.0, "sliding_window_pattern": 6, "use_bidirectional_attention": False,
}


def gemma3_text_config(text_config):
    """A multimodal checkpoint's sparse text_config with every absent key at its HF default."""
    cfg = dict(GEMMA3_TEXT_DEFAULTS)
    cfg.update({k: v for k, v in text_config.items()})
    cfg["model_type"] = "gemma3_text"
    if not cfg.get("layer_types"):
        pat = cfg["sliding_window_pattern"]
        cfg["layer_types"] = ["sliding_attention" if (i + 1) % pat else "full_attention" for i in range(cfg["num_hidden_layers"])]
    return cfg


# Pooling output order when several modes are on: cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken.
POOLING_ORDER = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")


def st_pool(h, mask, modes):
    """h [B, L, D] float64, mask [B, L] 0/1 -> [B, D * len(modes)]."""
    m = mask.to(F64)[..., None]
    out = []
    for mode in POOLING_ORDER:
        if mode not in modes:
            continue
        if mode == "cls":
            out.append(h[:, 0])
        elif mode == "max":
            out.append(torch.where(m > 0, h, torch.full_like(h, -1e9)).max(1).values)
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            s = (h * m).sum(1)
            n = m.sum(1).clamp(min=1e-9)
            out.append(s / n if mode == "mean" else s / n.sqrt())
        elif mode == "weightedmean":
            w = m * torch.arange(1, h.shape[1] + 1, dtype=F64)[None, :, None]
            out.append((h * w).sum(1) / w.sum(1).clamp(min=1e-9))
        elif mode == "lasttoken":
            L = h.shape[1]
            # rightmost position with mask 1 (last position when a row has none), masked states
            last = torch.tensor([max([t for t in range(L) if mask[b, t]] or [L - 1]) for b in range(h.shape[0])])
            out.append((h * m)[torch.arange(h.shape[0]), last])
    return torch.cat(out, 1)


ACTIVATIONS = {
    "torch.nn.modules.linear.Identity": lambda x: x,
    "torch.nn.modules.activation.Tanh": torch.tanh,
}


def dense(x, weight, bias, activation):
    y = x @ weight.T
    if bias is not None:
        y = y + bias
    return ACTIVATIONS[activation](y)


def normalize(x):
    """F.normalize(p=2, dim=1): x / max(||x||, 1e-12)."""
    return x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)
