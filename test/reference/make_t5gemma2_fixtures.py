#!/usr/bin/python3
"""Regenerates the T5Gemma 2 fixtures with the float64 reference in t5gemma2_reference.py.

    /usr/bin/python3 test/reference/make_t5gemma2_fixtures.py        # from the repo root

Fixtures:
  t5gemma2-tiny               config.json in transformers' T5Gemma 2 layout (encoder.text_config, a vision_config,
                              flat decoder), F32 model.safetensors with HF names (tied tensors not stored, two vision
                              tensors stored so the loader must skip them), golden.json. Encoder 3 layers
                              [sliding, sliding, full], decoder 2 layers [sliding, full] (unbalanced depth), hidden 64,
                              GQA 4/2, head_dim 16, query_pre_attn_scalar 24, window 4, RoPE 1e4 local / 1e6 global with
                              linear factor 2, eoi_token_index 257 (inputs contain it), seed 401.
  t5gemma2-from-gemma3-tiny   golden.json only: recipe 't5gemma2' built from test/fixtures/gemma3-tiny (balanced).
  t5gemma-from-gemma3-tiny    golden.json only: recipe 't5gemma' (separate cross-attention copied from
                              self-attention, q/k norms included) built from test/fixtures/gemma3-tiny.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import t5gemma2_reference as ref  # noqa: E402
from gemma_reference import random_params, read_safetensors, recipe_std, write_golden, write_safetensors  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures")
V = 300
EOI = 257


def module_json(model_type, layer_types):
    return {
        "attention_bias": False, "attention_dropout": 0.0, "attn_logit_softcapping": None, "bos_token_id": 2,
        "dropout_rate": 0.0, "eos_token_id": 1, "final_logit_softcapping": None, "head_dim": 16,
        "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 64, "initializer_range": 0.02,
        "intermediate_size": 128, "layer_types": layer_types, "max_position_embeddings": 512, "model_type": model_type,
        "num_attention_heads": 4, "num_hidden_layers": len(layer_types), "num_key_value_heads": 2, "pad_token_id": 0,
        "query_pre_attn_scalar": 24, "rms_norm_eps": 1e-06,
        "rope_parameters": {"full_attention": {"factor": 2.0, "rope_theta": 1000000.0, "rope_type": "linear"},
                            "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}},
        "sliding_window": 4, "tie_word_embeddings": True, "use_cache": True, "vocab_size": V,
    }


def ref_module(j):
    rope = {lt: (d["rope_theta"], d.get("factor", 1.0) if d["rope_type"] == "linear" else 1.0)
            for lt, d in j["rope_parameters"].items()}
    return {**j, "rope": rope}


def tiny_config():
    enc = module_json("t5gemma2_text", ["sliding_attention", "sliding_attention", "full_attention"])
    dec = module_json("t5gemma2_decoder", ["sliding_attention", "full_attention"])
    return {
        "architectures": ["T5Gemma2ForConditionalGeneration"], "attention_dropout": 0.0, "bos_token_id": 2,
        "classifier_dropout_rate": 0.0, "decoder": dec, "dropout_rate": 0.0, "dtype": "float32",
        "encoder": {"boi_token_index": 255, "eoi_token_index": EOI, "image_token_index": 258, "initializer_range": 0.02,
                    "mm_tokens_per_image": 4, "model_type": "t5gemma2_encoder", "text_config": enc,
                    "tie_word_embeddings": True,
                    "vision_config": {"hidden_size": 8, "image_size": 4, "intermediate_size": 16, "model_type": "siglip_vision_model",
                                      "num_attention_heads": 2, "num_hidden_layers": 1, "patch_size": 2}},
        "eoi_token_index": EOI, "eos_token_id": 1, "image_token_index": 258, "initializer_range": 0.02,
        "is_encoder_decoder": True, "model_type": "t5gemma2", "pad_token_id": 0, "tie_word_embeddings": True,
        "transformers_version": "5.0.0", "use_cache": True, "vocab_size": V,
    }


def shapes(c):
    out = {"model.encoder.embed_tokens.weight": (V, 64), "model.encoder.embed_tokens.eoi_embedding": (64,)}
    for side, m in (("encoder", c["encoder"]["text_config"]), ("decoder", c["decoder"])):
        out[f"model.{side}.norm.weight"] = (64,)
        for i in range(m["num_hidden_layers"]):
            p = f"model.{side}.layers.{i}."
            out.update({p + "self_attn.q_proj.weight": (64, 64), p + "self_attn.k_proj.weight": (32, 64),
                        p + "self_attn.v_proj.weight": (32, 64), p + "self_attn.o_proj.weight": (64, 64),
                        p + "self_attn.q_norm.weight": (16,), p + "self_attn.k_norm.weight": (16,),
                        p + "mlp.gate_proj.weight": (128, 64), p + "mlp.up_proj.weight": (128, 64),
                        p + "mlp.down_proj.weight": (64, 128)})
            for n in ("pre_self_attn", "post_self_attn", "pre_feedforward", "post_feedforward"):
                out[p + f"{n}_layernorm.weight"] = (64,)
    return out


def random_weights(c, seed):
    return random_params(shapes(c), seed, lambda name: 0.5 if name.endswith("eoi_embedding") else recipe_std(name))


def f32(x):
    a = np.asarray(x.detach().numpy(), dtype=np.float64).astype(np.float32)
    return a.tolist()


def cases(seed, V, L=12, Ld=6, eoi=None):
    rng = np.random.default_rng(seed)

    def ids(n):
        r = [2] + [int(t) for t in rng.integers(3, V, n - 1)]
        if eoi is not None and n > 3:
            r[2] = eoi
        return r

    out = []
    for name, lengths in (("nopad", [L, L]), ("right_padded", [L, 7]), ("short_first_row_padded", [3, L])):
        out.append({"name": name, "input_ids": [ids(n) + [0] * (L - n) for n in lengths],
                    "attention_mask": [[1] * n + [0] * (L - n) for n in lengths], "lengths": lengths,
                    "decoder_input_ids": [ids(Ld) for _ in lengths]})
    return out


def run(cs, fwd):
    res = []
    for c in cs:
        e, d, logits = fwd(torch.tensor(c["input_ids"]), torch.tensor(c["attention_mask"]), torch.tensor(c["decoder_input_ids"]))
        res.append({**c, "outputs": {"encoder_hidden_states": f32(e), "decoder_hidden_states": f32(d), "logits": f32(logits)}})
    return res


def dump(d, obj):
    os.makedirs(d, exist_ok=True)
    write_golden(os.path.join(d, "golden.json"), obj)


COMMON = {
    "numerics": "float64 forward on the stored weights, each value rounded once to float32",
    "positions": "0..L-1 for encoder rows and 0..Ld-1 for decoder rows",
    "contract": "compare encoder_hidden_states where attention_mask=1; decoder_hidden_states and logits in full; float32 tolerance 1e-4",
}


def main():
    c = tiny_config()
    w = random_weights(c, 401)
    d = os.path.join(OUT, "t5gemma2-tiny")
    os.makedirs(d, exist_ok=True)
    stored = dict(w)
    rng = np.random.default_rng(402)
    stored["model.encoder.vision_tower.vision_model.embeddings.patch_embedding.weight"] = rng.standard_normal((8, 3, 2, 2)).astype(np.float32)
    stored["model.encoder.multi_modal_projector.mm_input_projection_weight"] = rng.standard_normal((8, 64)).astype(np.float32)
    write_safetensors(os.path.join(d, "model.safetensors"), stored)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(json.dumps(c, indent=2, sort_keys=True) + "\n")
    p = {k: torch.tensor(v.astype(np.float64)) for k, v in w.items()}
    enc, dec = ref_module(c["encoder"]["text_config"]), ref_module(c["decoder"])
    dump(d, {"fixture": "t5gemma2-tiny", "model_type": "t5gemma2", **COMMON,
             "modes": {"encoder": "full layers: every non-pad key; sliding layers: 0 <= q-k < (W+1)//2 or 0 < k-q < W//2+1",
                       "decoder": "merged: one softmax over [causal (+window) decoder keys with RoPE; non-pad encoder keys with k_norm, no RoPE]"},
             "cases": run(cases(1401, V, eoi=EOI), lambda i, m, di: ref.forward2(p, enc, dec, i, m, di, EOI))})

    # Builds from the Gemma 3 fixture (gemma3-tiny: 4 layers s,s,f,s, window 8, linear factor 8 on global RoPE).
    src = os.path.join(OUT, "gemma3-tiny")
    g = read_safetensors(os.path.join(src, "model.safetensors"))
    gc = json.load(open(os.path.join(src, "config.json")))
    factor = gc["rope_scaling"]["factor"] if gc.get("rope_scaling") else 1.0
    m = {k: gc[k] for k in ("num_attention_heads", "num_key_value_heads", "head_dim", "hidden_size", "query_pre_attn_scalar",
                            "rms_norm_eps", "sliding_window", "layer_types", "attn_logit_softcapping", "final_logit_softcapping")}
    m["rope"] = {"full_attention": (gc["rope_theta"], factor), "sliding_attention": (gc["rope_local_base_freq"], 1.0)}
    v3 = gc["vocab_size"]
    p2 = ref.t5gemma2_from_gemma3(g, g, 256000, v3)
    dump(os.path.join(OUT, "t5gemma2-from-gemma3-tiny"),
         {"fixture": "t5gemma2-from-gemma3-tiny", "source": "test/fixtures/gemma3-tiny", **COMMON,
          "build": "recipe t5gemma2: one table (encoder source), decoder self-attention merged with cross-attention, eoi_embedding zeros (eoi 256000 >= vocab)",
          "cases": run(cases(1402, v3), lambda i, mk, di: ref.forward2(p2, m, m, i, mk, di, 256000))})
    p1 = ref.t5gemma_from_gemma3(g)
    dump(os.path.join(OUT, "t5gemma-from-gemma3-tiny"),
         {"fixture": "t5gemma-from-gemma3-tiny", "source": "test/fixtures/gemma3-tiny", **COMMON,
          "build": "recipe t5gemma: separate tables, cross_attn (q/k/v/o, q/k norms, pre/post norms) copied from self-attention; encoder sliding |i-j| < W",
          "cases": run(cases(1403, v3), lambda i, mk, di: ref.forward1(p1, m, m, i, mk, di))})


if __name__ == "__main__":
    main()
