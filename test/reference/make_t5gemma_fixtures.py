#!/usr/bin/python3
"""Regenerates test/fixtures/t5gemma-*/ (F32 safetensors with HF T5Gemma names, config.json in HF's
t5gemma layout, golden.json) with the float64 reference in t5gemma_reference.py.

    /usr/bin/python3 test/reference/make_t5gemma_fixtures.py        # from the repo root

Fixtures:
  t5gemma-tiny             balanced: vocab 256, hidden 64, 2+2 layers [sliding, full], W=8, GQA 4/2, seed 201
  t5gemma-tiny-unbalanced  encoder hidden 64 (GQA 4/2) + decoder hidden 32 (MQA 2/1),
                           cross_attention_hidden_size 64, final softcap 30 in the decoder sub-config
                           (the encoder sub-config says 5.0 so reading the wrong one fails), seed 202
  t5gemma-from-gemma2-tiny golden.json only: the balanced T5Gemma built from ../shared/fixtures/gemma2-tiny
                           (cross-attention copied from self-attention), to check toEncoderDecoder numerically.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import t5gemma_reference as ref  # noqa: E402
from gemma_reference import f32, random_params, read_safetensors, write_golden, write_safetensors  # noqa: E402  (shared fixture I/O)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures")
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared"))


def module_config(hidden, ff, heads, kv, qpas, final_cap, is_decoder, cross=None):
    c = {
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attn_logit_softcapping": 10.0,
        "bos_token_id": 2,
        "dropout_rate": 0.0,
        "eos_token_id": 1,
        "final_logit_softcapping": final_cap,
        "head_dim": 16,
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": ff,
        "is_decoder": is_decoder,
        "layer_types": ["sliding_attention", "full_attention"],
        "max_position_embeddings": 512,
        "model_type": "t5_gemma_module",
        "num_attention_heads": heads,
        "num_hidden_layers": 2,
        "num_key_value_heads": kv,
        "pad_token_id": 0,
        "query_pre_attn_scalar": qpas,
        "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0,
        "sliding_window": 8,
        "use_cache": True,
        "vocab_size": 256,
    }
    if cross is not None:
        c["cross_attention_hidden_size"] = cross
    return c


def top_config(enc, dec):
    return {
        "architectures": ["T5GemmaForConditionalGeneration"],
        "attention_dropout": 0.0,
        "bos_token_id": 2,
        "classifier_dropout_rate": 0.0,
        "decoder": dec,
        "dropout_rate": 0.0,
        "dtype": "float32",
        "encoder": enc,
        "eos_token_id": 1,
        "initializer_range": 0.02,
        "is_encoder_decoder": True,
        "model_type": "t5gemma",
        "pad_token_id": 0,
        "tie_word_embeddings": True,
        "transformers_version": "4.57.5",
        "use_cache": True,
        "vocab_size": 256,
    }


def shapes(config):
    enc, dec, V = config["encoder"], config["decoder"], config["vocab_size"]
    out = {}
    for side, c in (("encoder", enc), ("decoder", dec)):
        d, f, hk, gk = c["hidden_size"], c["intermediate_size"], c["num_attention_heads"] * c["head_dim"], c[
            "num_key_value_heads"] * c["head_dim"]
        out[f"model.{side}.embed_tokens.weight"] = (V, d)
        out[f"model.{side}.norm.weight"] = (d,)
        for i in range(c["num_hidden_layers"]):
            p = f"model.{side}.layers.{i}."
            blocks = [("self_attn", d)] + ([("cross_attn", c["cross_attention_hidden_size"])] if side == "decoder" else [])
            for name, kv_in in blocks:
                out[p + f"{name}.q_proj.weight"] = (hk, d)
                out[p + f"{name}.k_proj.weight"] = (gk, kv_in)
                out[p + f"{name}.v_proj.weight"] = (gk, kv_in)
                out[p + f"{name}.o_proj.weight"] = (d, hk)
                short = name.split("_")[0]
                out[p + f"pre_{short}_attn_layernorm.weight"] = (d,)
                out[p + f"post_{short}_attn_layernorm.weight"] = (d,)
            out[p + "mlp.gate_proj.weight"] = (f, d)
            out[p + "mlp.up_proj.weight"] = (f, d)
            out[p + "mlp.down_proj.weight"] = (d, f)
            out[p + "pre_feedforward_layernorm.weight"] = (d,)
            out[p + "post_feedforward_layernorm.weight"] = (d,)
    return out


def random_weights(config, seed):
    return random_params(shapes(config), seed)


def make_cases(seed, L=16, Ld=7):
    rng = np.random.default_rng(seed)

    def ids(n):
        return [2] + [int(t) for t in rng.integers(3, 256, n - 1)]

    cases = []
    for name, lengths in (("nopad", [L, L]), ("right_padded", [L, 11]), ("short_first_row_padded", [5, L])):
        input_ids = [ids(n) + [0] * (L - n) for n in lengths]
        mask = [[1] * n + [0] * (L - n) for n in lengths]
        dec = [ids(Ld) for _ in lengths]
        cases.append({"name": name, "input_ids": input_ids, "attention_mask": mask, "lengths": lengths,
                      "decoder_input_ids": dec})
    return cases


def golden(fixture, params, config, cases, extra):
    p = {k: torch.tensor(np.asarray(v, dtype=np.float64), dtype=torch.float64) for k, v in params.items()}
    out_cases = []
    for c in cases:
        enc, dec, logits = ref.forward(p, config, torch.tensor(c["input_ids"]), torch.tensor(c["attention_mask"]),
                                       torch.tensor(c["decoder_input_ids"]))
        out_cases.append({**c, "outputs": {"encoder_hidden_states": f32(enc), "decoder_hidden_states": f32(dec),
                                           "logits": f32(logits)}})
    return {
        "fixture": fixture,
        "model_type": "t5gemma",
        **extra,
        "numerics": "float64 forward on the stored weights, each value rounded once to float32",
        "positions": "0..L-1 for encoder rows and 0..Ld-1 for decoder rows",
        "modes": {
            "encoder": "bidirectional_sliding: full_attention layers see every non-pad key; sliding_attention layers |query-key| < sliding_window",
            "decoder_self": "causal; sliding_attention layers also need key > query - sliding_window",
            "cross": "every decoder query sees every non-pad encoder position; no RoPE",
        },
        "encoder_hidden_states": "after model.encoder.norm, [batch, seq, encoder.hidden_size]",
        "decoder_hidden_states": "after model.decoder.norm, [batch, dec_seq, decoder.hidden_size]",
        "logits": "decoder_hidden_states @ model.decoder.embed_tokens^T, then decoder.final_logit_softcapping; [batch, dec_seq, vocab]",
        "contract": "compare encoder_hidden_states where attention_mask=1; decoder_hidden_states and logits in full; float32 tolerance 1e-4",
        "cases": out_cases,
    }


def main():
    bal = top_config(module_config(64, 128, 4, 2, 32, 5.0, False), module_config(64, 128, 4, 2, 32, 5.0, True, 64))
    unb = top_config(module_config(64, 128, 4, 2, 32, 5.0, False), module_config(32, 64, 2, 1, 24, 30.0, True, 64))
    for name, config, seed in (("t5gemma-tiny", bal, 201), ("t5gemma-tiny-unbalanced", unb, 202)):
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        params = random_weights(config, seed)
        write_safetensors(os.path.join(d, "model.safetensors"), params)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
        write_golden(os.path.join(d, "golden.json"),
             golden(name, params, config, make_cases(seed + 1000), {"weights_dtype": "F32", "weights_files": ["model.safetensors"]}))

    # Balanced build from the shared Gemma 2 fixture.
    src = os.path.join(SHARED, "fixtures", "gemma2-tiny")
    g = read_safetensors(os.path.join(src, "model.safetensors"))
    gc = json.load(open(os.path.join(src, "config.json")))
    keys = ["attn_logit_softcapping", "final_logit_softcapping", "head_dim", "hidden_size", "intermediate_size",
            "layer_types", "num_attention_heads", "num_hidden_layers", "num_key_value_heads", "query_pre_attn_scalar",
            "rms_norm_eps", "rope_theta", "sliding_window", "vocab_size"]
    m = {k: gc[k] for k in keys}
    config = {"encoder": dict(m), "decoder": {**m, "cross_attention_hidden_size": m["hidden_size"]}, "vocab_size": m["vocab_size"]}
    d = os.path.join(OUT, "t5gemma-from-gemma2-tiny")
    os.makedirs(d, exist_ok=True)
    write_golden(os.path.join(d, "golden.json"),
         golden("t5gemma-from-gemma2-tiny", ref.from_gemma2(g), config, make_cases(1301),
                {"source": "../shared/fixtures/gemma2-tiny (BF16 weights widened exactly)",
                 "build": "encoder and decoder copy the Gemma 2 layers; decoder cross_attn q/k/v/o and pre/post_cross_attn_layernorm copy that layer's self_attn and input/post_attention_layernorm"}))


def check_reference_against_shared_goldens():
    """The reference must reproduce the shared gemma2-tiny goldens (written by another script): the encoder
    of the balanced build is Gemma 2 in bidirectional_sliding mode, and with cross_attn.o_proj zeroed the
    decoder is Gemma 2 in causal mode."""
    src = os.path.join(SHARED, "fixtures", "gemma2-tiny")
    gc = json.load(open(os.path.join(src, "config.json")))
    p = ref.from_gemma2(read_safetensors(os.path.join(src, "model.safetensors")))  # float64 tensors
    no_cross = {k: v * 0 if "cross_attn.o_proj" in k else v for k, v in p.items()}
    for c in json.load(open(os.path.join(src, "golden.json")))["cases"]:
        ids, mask = torch.tensor(c["input_ids"]), torch.tensor(c["attention_mask"])
        real = np.array(c["attention_mask"])[..., None].astype(bool)
        enc = ref.encode(p, gc, ids, mask)
        dec = ref.decode(no_cross, gc, ids, enc, mask)
        for got, mode in ((enc, "bidirectional_sliding"), (dec, "causal")):
            err = np.abs((got.numpy() - np.array(c["outputs"][mode]["hidden_states"])) * real).max()
            print(f"reference vs gemma2-tiny golden {c['name']} {mode}: max err {err:.2e}")
            assert err < 1e-6, err


if __name__ == "__main__":
    check_reference_against_shared_goldens()
    main()
