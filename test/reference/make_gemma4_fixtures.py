#!/usr/bin/python3
"""Makes test/fixtures/gemma4-e2b-tiny (multimodal `gemma4` wrapper: PLE, KV sharing, k_eq_v, double-wide
MLP, partial RoPE, towers to skip) and test/fixtures/gemma4-moe-tiny (`gemma4_text`: MoE with top-k
routing, k_eq_v, no PLE): config.json, F32 model.safetensors and golden.json (format of
../shared/fixtures/gemma2-tiny) from the float64 reference gemma4_reference.py. From the repository root:

    /usr/bin/python3 test/reference/make_gemma4_fixtures.py
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gemma4_reference as ref  # noqa: E402
from gemma_reference import f32, golden_head, padded_cases, write_golden, write_safetensors  # noqa: E402  (writer and fixture helpers; no model math)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures")

ROPE = {
    "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
    "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1000000.0},
}


def e2b_like():
    """7 layers, the last 3 share K/V (sliding <- layer 3, full <- layer 2), double-wide MLP there."""
    text = {
        "model_type": "gemma4_text", "vocab_size": 256, "hidden_size": 48, "intermediate_size": 64,
        "num_hidden_layers": 7, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "global_head_dim": 32, "num_global_key_value_heads": 1, "attention_k_eq_v": True,
        "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 131072, "rms_norm_eps": 1e-6,
        "initializer_range": 0.02, "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2,
        "tie_word_embeddings": True, "rope_parameters": ROPE, "attention_bias": False, "attention_dropout": 0.0,
        "sliding_window": 6,
        "layer_types": ["sliding_attention", "sliding_attention", "full_attention", "sliding_attention",
                        "sliding_attention", "sliding_attention", "full_attention"],
        "final_logit_softcapping": 0.5, "use_bidirectional_attention": None,
        "vocab_size_per_layer_input": 256, "hidden_size_per_layer_input": 8, "num_kv_shared_layers": 3,
        "enable_moe_block": False, "use_double_wide_mlp": True, "num_experts": None, "top_k_experts": None,
        "moe_intermediate_size": None, "dtype": "float32",
    }
    return {
        "architectures": ["Gemma4ForConditionalGeneration"], "model_type": "gemma4", "text_config": text,
        "vision_config": {"model_type": "gemma4_vision", "hidden_size": 8, "num_hidden_layers": 1},
        "audio_config": None, "boi_token_id": 255, "eoi_token_id": 254, "image_token_id": 253,
        "tie_word_embeddings": True, "dtype": "float32",
    }


def moe_like():
    """26B-A4B-like: MoE (6 experts, top 2) beside the shared dense MLP, k_eq_v full layers, no PLE."""
    return {
        "architectures": ["Gemma4ForCausalLM"], "model_type": "gemma4_text", "vocab_size": 256, "hidden_size": 32,
        "intermediate_size": 24, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "global_head_dim": 32, "num_global_key_value_heads": 1, "attention_k_eq_v": True,
        "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 262144, "rms_norm_eps": 1e-6,
        "initializer_range": 0.02, "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2,
        "tie_word_embeddings": True, "rope_parameters": ROPE, "attention_bias": False, "attention_dropout": 0.0,
        "sliding_window": 6, "layer_types": ["sliding_attention", "sliding_attention", "full_attention", "full_attention"],
        "final_logit_softcapping": 3.0, "use_bidirectional_attention": "vision",
        "vocab_size_per_layer_input": 256, "hidden_size_per_layer_input": 0, "num_kv_shared_layers": 0,
        "enable_moe_block": True, "use_double_wide_mlp": False, "num_experts": 6, "top_k_experts": 2,
        "moe_intermediate_size": 12, "dtype": "float32",
    }


def param_shapes(cfg):
    """HF state_dict names and shapes (what Gemma4ForConditionalGeneration / Gemma4ForCausalLM save)."""
    t, m = ref.text_config(cfg)
    _, layers = ref.derive(t)
    D, H, P, L = t["hidden_size"], t["num_attention_heads"], t["hidden_size_per_layer_input"], t["num_hidden_layers"]
    s = {m + "embed_tokens.weight": (t["vocab_size"], D), m + "norm.weight": (D,)}
    if P:
        s[m + "embed_tokens_per_layer.weight"] = (t["vocab_size_per_layer_input"], L * P)
        s[m + "per_layer_model_projection.weight"] = (L * P, D)
        s[m + "per_layer_projection_norm.weight"] = (P,)
    for i, l in enumerate(layers):
        p, K = f"{m}layers.{i}.", l["hd"]
        for n in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"):
            s[p + n + ".weight"] = (D,)
        s[p + "layer_scalar"] = (1,)
        s[p + "self_attn.q_proj.weight"] = (H * K, D)
        s[p + "self_attn.q_norm.weight"] = (K,)
        s[p + "self_attn.o_proj.weight"] = (D, H * K)
        if not l["shared"]:
            s[p + "self_attn.k_proj.weight"] = (l["kv"] * K, D)
            s[p + "self_attn.k_norm.weight"] = (K,)
            if not l["alt"]:
                s[p + "self_attn.v_proj.weight"] = (l["kv"] * K, D)
        s[p + "mlp.gate_proj.weight"] = (l["inter"], D)
        s[p + "mlp.up_proj.weight"] = (l["inter"], D)
        s[p + "mlp.down_proj.weight"] = (D, l["inter"])
        if P:
            s[p + "per_layer_input_gate.weight"] = (P, D)
            s[p + "per_layer_projection.weight"] = (D, P)
            s[p + "post_per_layer_input_norm.weight"] = (D,)
        if t.get("enable_moe_block"):
            E, I = t["num_experts"], t["moe_intermediate_size"]
            s[p + "router.proj.weight"] = (E, D)
            s[p + "router.scale"] = (D,)
            s[p + "router.per_expert_scale"] = (E,)
            s[p + "experts.gate_up_proj"] = (E, 2 * I, D)
            s[p + "experts.down_proj"] = (E, D, I)
            for n in ("post_feedforward_layernorm_1", "post_feedforward_layernorm_2", "pre_feedforward_layernorm_2"):
                s[p + n + ".weight"] = (D,)
    return s


def random_weights(cfg, seed):
    """Norm weights 0.5 + 0.1 N (they multiply directly), layer_scalar U(0.5, 1.5), router scales around 1,
    router.proj 2.0 (decisive routing), q/k/gate 0.15, everything else 0.05; in name order."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in sorted(param_shapes(cfg).items()):
        if name.endswith("layer_scalar"):
            a = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("norm.weight") or "layernorm_" in name or name.endswith("router.scale") or name.endswith("per_expert_scale"):
            # Norm weights around 0.5 (not 1): they still multiply directly (a 1 + w reading is off by 3x), and
            # the residual stream and the unscaled q.k scores stay small enough for float32 to hold 1e-4.
            centre = 1.0 if "router" in name else 0.5
            a = centre + rng.standard_normal(shape) * (0.2 if name.endswith("per_expert_scale") else 0.1)
        elif name.endswith("router.proj.weight"):
            a = rng.standard_normal(shape) * 2.0
        else:
            std = 0.15 if any(k in name for k in ("q_proj", "k_proj", "gate_proj", "gate_up_proj", "per_layer_input_gate")) else 0.05
            a = rng.standard_normal(shape) * std
        out[name] = a.astype(np.float32)
    return out


MODE_DOCS = {
    "causal": "decoder as trained: causal; sliding_attention layers also need key > query - sliding_window",
    "bidirectional_global": "every layer attends to every non-pad key (sliding window ignored)",
    "bidirectional_sliding": "full layers bidirectional; sliding layers allow |query-key| < sliding_window (T5Gemma encoder rule)",
    "bidirectional_sliding_gemma4_hf": "HF use_bidirectional_attention='all': full layers bidirectional; sliding layers allow |query-key| <= sliding_window // 2 + 1",
}


def min_router_gap(params, cfg, cases):
    """Smallest gap between the k-th and (k+1)-th router probability over every token the goldens route
    (a near-tie could flip between float32 and float64 and make parity meaningless)."""
    t, m = ref.text_config(cfg)
    if not t.get("enable_moe_block"):
        return float("inf")
    gap = float("inf")
    orig = ref.moe

    def spy(p, pre, tt, r, eps):
        nonlocal gap
        D = r.shape[-1]
        x = r.reshape(-1, D)
        g = ref.rms_norm(x, None, eps) * p[pre + "router.scale"] * D ** -0.5
        probs = torch.softmax(g @ p[pre + "router.proj.weight"].T, -1).sort(-1, descending=True).values
        k = tt["top_k_experts"]
        gap = min(gap, (probs[:, k - 1] - probs[:, k]).min().item())
        return orig(p, pre, tt, r, eps)

    ref.moe = spy
    try:
        for c in cases:
            for mode in ref.MODES:
                ref.forward(params, cfg, torch.tensor(c["input_ids"]), torch.tensor(c["attention_mask"]), mode)
    finally:
        ref.moe = orig
    return gap


def golden(fixture, cfg, params, cases):
    out = []
    for c in cases:
        ids, mask = torch.tensor(c["input_ids"]), torch.tensor(c["attention_mask"])
        outputs = {}
        for mode in ref.MODES:
            stages = [] if c["name"] == "nopad" else None
            h, logits = ref.forward(params, cfg, ids, mask, mode, stages)
            o = {"hidden_states": f32(h), "logits": f32(logits), "pooled": {k: f32(v) for k, v in ref.pool(h, mask).items()}}
            if stages is not None:
                o["layer_states"] = [f32(x) for x in stages]
            outputs[mode] = o
        out.append({**c, "outputs": outputs})
    return {
        **golden_head(fixture, cfg["model_type"]),
        "positions": "0..L-1 for every row",
        "modes": MODE_DOCS,
        "hidden_states": "output of the final norm, [batch, seq, hidden]",
        "logits": "hidden_states @ embed_tokens^T, then final_logit_softcapping; every mode; [batch, seq, vocab]",
        "pooled": "mean over positions with attention_mask=1; first = position 0; last_non_pad = position length-1",
        "layer_states": "case nopad only: residual stream after the scaled embedding and after each layer (after layer_scalar)",
        "contract": "compare per-token tensors only where attention_mask=1; pooled in full; float32 tolerance 1e-4",
        "generator": "test/reference/make_gemma4_fixtures.py (float64 reference test/reference/gemma4_reference.py)",
        "cases": out,
    }


def main():
    for name, cfg, seed, extra in (
        # Tensors HF skips: a vision tower weight (wrapper) and a stale k_proj on a KV-shared layer.
        ("gemma4-e2b-tiny", e2b_like(), 401, {"model.vision_tower.encoder.layers.0.mlp.up_proj.weight": (8, 8),
                                              "model.language_model.layers.5.self_attn.k_proj.weight": (32, 48)}),
        ("gemma4-moe-tiny", moe_like(), 403, {}),
    ):
        # The first seed (stepping by 2) whose routing has no near-tie anywhere in the goldens.
        for seed in range(seed, seed + 200, 2):
            weights = random_weights(cfg, seed)
            params = {k: torch.tensor(v.astype(np.float64)) for k, v in weights.items()}
            cases = padded_cases(seed + 1000, id_end=250)
            gap = min_router_gap(params, cfg, cases)
            if gap >= 1e-4:
                break
        else:
            sys.exit(f"{name}: no seed without a router near-tie")
        print(f"{name}: seed {seed}, min router top-k gap {gap:.3e}")
        rng = np.random.default_rng(seed + 7)
        for k, shape in extra.items():
            weights[k] = (rng.standard_normal(shape) * 0.05).astype(np.float32)
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        write_safetensors(os.path.join(d, "model.safetensors"), weights)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        write_golden(os.path.join(d, "golden.json"), golden(name, cfg, params, cases))
        print(f"wrote {d}")


if __name__ == "__main__":
    main()
