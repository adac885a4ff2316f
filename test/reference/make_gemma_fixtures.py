#!/usr/bin/python3
"""Makes test/fixtures/gemma1-tiny and test/fixtures/gemma3-tiny (config.json, F32 model.safetensors,
golden.json in the format of ../shared/fixtures/gemma2-tiny) with the float64 reference in
gemma_reference.py.

Step 1 proves the reference against the independently made shared goldens (gemma2-tiny, BF16 weights):
every mode, hidden states / logits at real tokens, every pooling, max |err| < 1e-6, else it stops.
Step 2 writes the new fixtures. Run from the repository root:

    /usr/bin/python3 test/reference/make_gemma_fixtures.py

Versions used: Debian python3-torch 1.13.0a0, python3-numpy (see README.md here).
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gemma_reference as ref  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.environ.get("GEMMA_LAB_SHARED", os.path.join(ROOT, "..", "shared"))
OUT = os.path.join(ROOT, "test", "fixtures")


# ---------------------------------------------------------------------------------------------- configs
# Key sets and values as transformers 4.57.5 `save_pretrained` writes these configs (sorted, indent 2).

def gemma1_config():
    """Gemma 1 with MQA (4 query heads, 1 kv head), explicit head_dim, `hidden_act` as 4.57 saves it."""
    return {
        "architectures": ["GemmaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 2, "dtype": "float32", "eos_token_id": 1, "head_dim": 16,
        "hidden_act": "gelu_pytorch_tanh", "hidden_activation": None, "hidden_size": 64,
        "initializer_range": 0.02, "intermediate_size": 128, "max_position_embeddings": 512,
        "model_type": "gemma", "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 1,
        "pad_token_id": 0, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "transformers_version": "4.57.5",
        "use_cache": True, "vocab_size": 256,
    }


def gemma3_config():
    """Gemma 3 text: q/k norm, GQA 4/2, local 1e4 / global 1e6 thetas with linear scaling 8 on global layers,
    layer_types from pattern 3 (s, s, f, s), sliding window 8, query_pre_attn_scalar 24 != head_dim 16."""
    n, pattern = 4, 3
    return {
        "_sliding_window_pattern": pattern, "architectures": ["Gemma3ForCausalLM"], "attention_bias": False,
        "attention_dropout": 0.0, "attn_logit_softcapping": None, "bos_token_id": 2, "dtype": "float32",
        "eos_token_id": 1, "final_logit_softcapping": None, "head_dim": 16,
        "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 64, "initializer_range": 0.02,
        "intermediate_size": 128,
        "layer_types": ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(n)],
        "max_position_embeddings": 512, "model_type": "gemma3_text", "num_attention_heads": 4,
        "num_hidden_layers": n, "num_key_value_heads": 2, "pad_token_id": 0, "query_pre_attn_scalar": 24,
        "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000.0, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "rope_theta": 1000000.0, "sliding_window": 8, "sliding_window_pattern": pattern,
        "transformers_version": "4.57.5", "use_bidirectional_attention": False, "use_cache": True, "vocab_size": 256,
    }


def param_shapes(cfg):
    D, F, H, G, K = (cfg[k] for k in ("hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads", "head_dim"))
    s = {"model.embed_tokens.weight": [cfg["vocab_size"], D], "model.norm.weight": [D]}
    for i in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{i}."
        s.update({pre + "self_attn.q_proj.weight": [H * K, D], pre + "self_attn.k_proj.weight": [G * K, D],
                  pre + "self_attn.v_proj.weight": [G * K, D], pre + "self_attn.o_proj.weight": [D, H * K],
                  pre + "mlp.gate_proj.weight": [F, D], pre + "mlp.up_proj.weight": [F, D],
                  pre + "mlp.down_proj.weight": [D, F], pre + "input_layernorm.weight": [D],
                  pre + "post_attention_layernorm.weight": [D]})
        if cfg["model_type"] != "gemma":
            s.update({pre + "pre_feedforward_layernorm.weight": [D], pre + "post_feedforward_layernorm.weight": [D]})
        if cfg["model_type"] == "gemma3_text":
            s.update({pre + "self_attn.q_norm.weight": [K], pre + "self_attn.k_norm.weight": [K]})
    return s


def random_weights(cfg, seed):
    return ref.random_params(param_shapes(cfg), seed)


# ------------------------------------------------------------------------------------------------ golden

MODE_DOCS = {
    "causal": "decoder as trained: causal; sliding_attention layers also need key > query - sliding_window",
    "bidirectional_global": "every layer attends to every non-pad key (sliding window ignored)",
    "bidirectional_sliding": "full_attention layers bidirectional; sliding_attention layers allow |query-key| < sliding_window (T5Gemma encoder rule)",
    "bidirectional_sliding_gemma3_hf": "full_attention layers bidirectional; sliding_attention layers allow |query-key| < sliding_window // 2 + 1 (HF Gemma3TextConfig use_bidirectional_attention=True)",
}


# Every stage is recorded for one case, so a parity failure names the first divergent layer.
STAGES_CASE = "nopad"


def golden(fixture, cfg, params, cases, modes):
    out = []
    for c in cases:
        ids, mask = torch.tensor(c["input_ids"]), torch.tensor(c["attention_mask"])
        outputs = {}
        for mode in modes:
            stages = [] if c["name"] == STAGES_CASE else None
            h, logits = ref.forward(params, cfg, ids, mask, mode, stages)
            o = {"hidden_states": ref.f32(h)}
            if stages is not None:
                o["layer_states"] = [ref.f32(x) for x in stages]
            if mode == "causal":
                o["logits"] = ref.f32(logits)
            o["pooled"] = {k: ref.f32(v) for k, v in ref.pool(h, mask).items()}
            outputs[mode] = o
        out.append({**c, "outputs": outputs})
    return {
        **ref.golden_head(fixture, cfg["model_type"]),
        "positions": "0..L-1 for every row (right padding leaves real tokens at 0..len-1)",
        "modes": {m: MODE_DOCS[m] for m in modes},
        "hidden_states": "output of the final norm (model.norm), shape [batch, seq, hidden]",
        "logits": "hidden_states @ embed_tokens^T then final_logit_softcapping if set; causal mode only; shape [batch, seq, vocab]",
        "pooled": "mean over positions with attention_mask=1; first = position 0; last_non_pad = position length-1",
        "layer_states": f"case {STAGES_CASE} only: residual stream after the scaled embedding and after each layer (before model.norm), [num_layers + 1][batch, seq, hidden]",
        "contract": "compare per-token tensors only where attention_mask=1; compare pooled vectors in full; recommended float32 tolerance: max |got - want| <= 1e-4",
        "generator": "test/reference/make_gemma_fixtures.py (float64 reference test/reference/gemma_reference.py)",
        "cases": out,
    }


def check_against_shared():
    """Max |reference - shared golden| over real tokens, logits and pooling, for every mode."""
    d = os.path.join(SHARED, "fixtures", "gemma2-tiny")
    cfg = json.load(open(os.path.join(d, "config.json")))
    params = ref.read_safetensors(os.path.join(d, "model.safetensors"))
    worst = 0.0
    for c in json.load(open(os.path.join(d, "golden.json")))["cases"]:
        ids, mask = torch.tensor(c["input_ids"]), torch.tensor(c["attention_mask"])
        for mode, want in c["outputs"].items():
            h, logits = ref.forward(params, cfg, ids, mask, mode)
            pairs = [(h, want["hidden_states"])] + ([(logits, want["logits"])] if "logits" in want else [])
            for got, w in pairs:
                w = torch.tensor(w, dtype=torch.float64)
                for b, n in enumerate(c["lengths"]):
                    worst = max(worst, (got[b, :n] - w[b, :n]).abs().max().item())
            for k, v in ref.pool(h, mask).items():
                worst = max(worst, (v - torch.tensor(want["pooled"][k], dtype=torch.float64)).abs().max().item())
    return worst


def main():
    err = check_against_shared()
    print(f"reference vs shared gemma2-tiny golden: max |err| = {err:.3e}")
    if not err < 1e-6:
        sys.exit("reference does not reproduce the shared goldens; not writing fixtures")
    specs = (
        ("gemma1-tiny", gemma1_config(), 301, ("causal", "bidirectional_global", "bidirectional_sliding")),
        ("gemma3-tiny", gemma3_config(), 303, ref.MODES),
    )
    for name, cfg, seed, modes in specs:
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        weights = random_weights(cfg, seed)
        ref.write_safetensors(os.path.join(d, "model.safetensors"), weights)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        params = {k: torch.tensor(v.astype(np.float64)) for k, v in weights.items()}
        g = golden(name, cfg, params, ref.padded_cases(seed + 1000), modes)
        ref.write_golden(os.path.join(d, "golden.json"), g)
        print(f"wrote {d} ({len(g['cases'])} cases, modes {', '.join(modes)})")


if __name__ == "__main__":
    main()
