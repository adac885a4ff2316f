#!/usr/bin/python3
"""Makes the Gemma-family layout fixtures with the float64 references (gemma_reference.py,
embedding_reference.py). Run from the repository root:

    /usr/bin/python3 test/reference/make_family_fixtures.py

- test/fixtures/gemma3-mm-tiny: `model_type: gemma3` (Gemma3ForConditionalGeneration) with a SPARSE
  text_config (head_dim, query_pre_attn_scalar, rope thetas, max positions, vocab... left to
  Gemma3TextConfig's defaults; layer_types derived from `sliding_window_pattern` 3), BF16 weights in the
  transformers < 5 key layout (`language_model.model.*`) plus vision tower / projector tensors that a text
  model must skip. Goldens: causal and the HF bidirectional mode.
- test/fixtures/embeddinggemma-tiny: a sentence-transformers folder as EmbeddingGemma is published
  (Gemma3TextModel keys without `model.`, `use_bidirectional_attention: true`, modules.json,
  1_Pooling, 2_Dense, 3_Dense, 4_Normalize, prompts). Goldens: the pipeline embeddings for every pooling
  mode, and with 3_Dense's activation switched to Tanh.
- test/fixtures/vaultgemma-tiny: `model_type: vaultgemma` (two norms per layer: input + pre-feedforward),
  Gemma 2 defaults for what the config leaves out (softcaps, alternating layer types).
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import embedding_reference as emb  # noqa: E402
import gemma_reference as ref  # noqa: E402
from gemma_reference import f32, padded_cases, random_params  # noqa: E402
from make_gemma_fixtures import param_shapes  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures")


def vault_shapes(cfg):
    s = param_shapes(dict(cfg, model_type="gemma"))  # Gemma 1 shapes, then rename the pre-MLP norm
    return {k.replace("post_attention_layernorm", "pre_feedforward_layernorm"): v for k, v in s.items()}


def write_json(path, obj):
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def to_params(weights, dtype):
    """float64 tensors of exactly what the file stores."""
    conv = ref.bf16_round if dtype == "BF16" else (lambda a: a)
    return {k: torch.tensor(conv(v).astype(np.float64)) for k, v in weights.items()}


def decoder_golden(fixture, cfg, params, cases, modes, dtype):
    out = []
    for c in cases:
        ids, mask = torch.tensor(c["input_ids"]), torch.tensor(c["attention_mask"])
        outputs = {}
        for mode in modes:
            h, logits = ref.forward(params, cfg, ids, mask, mode)
            o = {"hidden_states": f32(h), "pooled": {k: f32(v) for k, v in ref.pool(h, mask).items()}}
            if mode == "causal":
                o["logits"] = f32(logits)
            outputs[mode] = o
        out.append({**c, "outputs": outputs})
    return {
        "fixture": fixture, "model_type": cfg["model_type"], "weights_dtype": dtype,
        "numerics": "float64 forward on the stored weights, each value rounded once to float32",
        "contract": "per-token tensors where attention_mask=1, pooled in full; max |got - want| <= 1e-4",
        "generator": "test/reference/make_family_fixtures.py", "cases": out,
    }


# ------------------------------------------------------------------------------------ gemma3 multimodal

def gemma3_mm():
    text_config = {
        "hidden_size": 64, "intermediate_size": 128, "model_type": "gemma3_text", "num_attention_heads": 2,
        "num_hidden_layers": 3, "num_key_value_heads": 1, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "sliding_window": 8, "sliding_window_pattern": 3, "vocab_size": 256,
    }
    cfg = {
        "architectures": ["Gemma3ForConditionalGeneration"], "boi_token_index": 255999, "eoi_token_index": 256000,
        "eos_token_id": [1, 106], "image_token_index": 262144, "initializer_range": 0.02, "mm_tokens_per_image": 256,
        "model_type": "gemma3", "text_config": text_config, "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0",
        "vision_config": {"hidden_size": 8, "image_size": 4, "intermediate_size": 16, "model_type": "siglip_vision_model",
                          "num_attention_heads": 2, "num_hidden_layers": 1, "patch_size": 2, "vision_use_head": False},
    }
    full = emb.gemma3_text_config(text_config)
    assert full["head_dim"] == 256 and full["layer_types"] == ["sliding_attention", "sliding_attention", "full_attention"]
    weights = random_params(param_shapes(full), 401)
    rng = np.random.default_rng(402)
    vision = {
        "vision_tower.vision_model.embeddings.patch_embedding.weight": [8, 3, 2, 2],
        "vision_tower.vision_model.embeddings.patch_embedding.bias": [8],
        "vision_tower.vision_model.post_layernorm.weight": [8],
        "multi_modal_projector.mm_input_projection_weight": [8, 64],
        "multi_modal_projector.mm_soft_emb_norm.weight": [8],
    }
    stored = {"language_model." + k: v for k, v in weights.items()}
    stored.update({k: (rng.standard_normal(s) * 0.05).astype(np.float32) for k, s in vision.items()})
    d = os.path.join(OUT, "gemma3-mm-tiny")
    os.makedirs(d, exist_ok=True)
    ref.write_safetensors(os.path.join(d, "model.safetensors"), stored, "BF16")
    write_json(os.path.join(d, "config.json"), cfg)
    g = decoder_golden("gemma3-mm-tiny", full, to_params(weights, "BF16"), padded_cases(1401), ("causal", "bidirectional_sliding_gemma3_hf"), "BF16")
    g["text_config_resolved"] = {k: full[k] for k in ("head_dim", "query_pre_attn_scalar", "rope_theta", "rope_local_base_freq", "max_position_embeddings", "layer_types", "sliding_window")}
    ref.write_golden(os.path.join(d, "golden.json"), g)
    print(f"wrote {d}")


# ------------------------------------------------------------------------------------ embeddinggemma

def embeddinggemma():
    n = 4
    cfg = {
        "_sliding_window_pattern": 6, "architectures": ["Gemma3TextModel"], "attention_bias": False, "attention_dropout": 0.0,
        "attn_logit_softcapping": None, "bos_token_id": 2, "dtype": "float32", "eos_token_id": 1,
        "final_logit_softcapping": None, "head_dim": 16, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 64,
        "initializer_range": 0.02, "intermediate_size": 96,
        "layer_types": ["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"],
        "max_position_embeddings": 64, "model_type": "gemma3_text", "num_attention_heads": 3, "num_hidden_layers": n,
        "num_key_value_heads": 1, "pad_token_id": 0, "query_pre_attn_scalar": 16, "rms_norm_eps": 1e-06,
        "rope_local_base_freq": 10000.0, "rope_scaling": None, "rope_theta": 1000000.0, "sliding_window": 8,
        "transformers_version": "4.57.0.dev0", "use_bidirectional_attention": True, "use_cache": True, "vocab_size": 256,
    }
    weights = random_params(param_shapes(cfg), 501)
    d = os.path.join(OUT, "embeddinggemma-tiny")
    for sub in ("", "1_Pooling", "2_Dense", "3_Dense", "4_Normalize"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    # Gemma3TextModel state dict: no `model.` prefix.
    ref.write_safetensors(os.path.join(d, "model.safetensors"), {k[len("model."):]: v for k, v in weights.items()})
    write_json(os.path.join(d, "config.json"), cfg)
    write_json(os.path.join(d, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
        {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"},
        {"idx": 4, "name": "4", "path": "4_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    write_json(os.path.join(d, "sentence_bert_config.json"), {"do_lower_case": False, "max_seq_length": 64})
    write_json(os.path.join(d, "config_sentence_transformers.json"), {
        "__version__": {"pytorch": "2.8.0", "sentence_transformers": "5.1.0", "transformers": "4.57.0.dev0"},
        "default_prompt_name": None, "model_type": "SentenceTransformer", "similarity_fn_name": "cosine",
        "prompts": {"query": "task: search result | query: ", "document": "title: none | text: ", "STS": "task: sentence similarity | query: "},
    })
    pooling = {"word_embedding_dimension": 64, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
               "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
               "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False, "include_prompt": True}
    write_json(os.path.join(d, "1_Pooling", "config.json"), pooling)
    rng = np.random.default_rng(502)
    w2 = (rng.standard_normal([128, 64]) * 0.1).astype(np.float32)
    w3 = (rng.standard_normal([64, 128]) * 0.1).astype(np.float32)
    b3 = (rng.standard_normal([64]) * 0.1).astype(np.float32)
    identity = "torch.nn.modules.linear.Identity"
    write_json(os.path.join(d, "2_Dense", "config.json"), {"in_features": 64, "out_features": 128, "bias": False, "activation_function": identity})
    ref.write_safetensors(os.path.join(d, "2_Dense", "model.safetensors"), {"linear.weight": w2})
    write_json(os.path.join(d, "3_Dense", "config.json"), {"in_features": 128, "out_features": 64, "bias": True, "activation_function": identity})
    ref.write_safetensors(os.path.join(d, "3_Dense", "model.safetensors"), {"linear.weight": w3, "linear.bias": b3})

    params = to_params(weights, "F32")
    W2, W3, B3 = (torch.tensor(a.astype(np.float64)) for a in (w2, w3, b3))
    cases = []
    for c in padded_cases(1501):
        ids, mask = torch.tensor(c["input_ids"]), torch.tensor(c["attention_mask"])
        h, _ = ref.forward(params, cfg, ids, mask, "bidirectional_sliding_gemma3_hf")

        def pipeline(modes, act3):
            x = emb.st_pool(h, mask, modes)
            x = emb.dense(x, W2, None, identity)
            return emb.normalize(emb.dense(x, W3, B3, act3))

        by_mode = {m: f32(pipeline([m], identity)) for m in emb.POOLING_ORDER}
        cases.append({**c, "hidden_states": f32(h), "embeddings": by_mode["mean"], "embeddings_by_pooling": by_mode,
                      "embeddings_tanh": f32(pipeline(["mean"], "torch.nn.modules.activation.Tanh"))})
    g = {"fixture": "embeddinggemma-tiny", "model_type": "gemma3_text", "weights_dtype": "F32",
         "pipeline": "Transformer (bidirectional, window |i-j| < 8//2+1) -> Pooling -> Dense(64->128, no bias, Identity) -> Dense(128->64, bias, Identity) -> Normalize",
         "embeddings_by_pooling": "the same pipeline with 1_Pooling set to one mode", "embeddings_tanh": "3_Dense activation Tanh",
         "contract": "max |got - want| <= 1e-4", "generator": "test/reference/make_family_fixtures.py", "cases": cases}
    ref.write_golden(os.path.join(d, "golden.json"), g)
    print(f"wrote {d}")


# ------------------------------------------------------------------------------------ vaultgemma

def vaultgemma():
    cfg = {
        "architectures": ["VaultGemmaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 2,
        "dtype": "float32", "eos_token_id": 1, "final_logit_softcapping": 30.0, "head_dim": 16,
        "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 64, "initializer_range": 0.02, "intermediate_size": 128,
        "max_position_embeddings": 1024, "model_type": "vaultgemma", "num_attention_heads": 4, "num_hidden_layers": 4,
        "num_key_value_heads": 2, "pad_token_id": 0, "query_pre_attn_scalar": 24, "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0, "sliding_window": 8, "transformers_version": "4.57.0", "use_cache": True, "vocab_size": 256,
    }
    # Left out on purpose (VaultGemmaConfig defaults): attn_logit_softcapping 50.0, layer_types alternating from sliding.
    full = dict(cfg, attn_logit_softcapping=50.0)
    weights = random_params(vault_shapes(cfg), 601)
    d = os.path.join(OUT, "vaultgemma-tiny")
    os.makedirs(d, exist_ok=True)
    ref.write_safetensors(os.path.join(d, "model.safetensors"), weights)
    write_json(os.path.join(d, "config.json"), cfg)
    g = decoder_golden("vaultgemma-tiny", full, to_params(weights, "F32"), padded_cases(1601), ("causal", "bidirectional_global"), "F32")
    ref.write_golden(os.path.join(d, "golden.json"), g)
    print(f"wrote {d}")


if __name__ == "__main__":
    gemma3_mm()
    embeddinggemma()
    vaultgemma()
