#!/usr/bin/python3
"""Writes test/fixtures/gemma4-tokenizer/{tokenizer.json, tokenizer_config.json}: a tiny tokenizer in the
Gemma 4 format (no real one can be downloaded here). Same pipeline as Gemma's tokenizer.json (normalizer
' ' -> U+2581, split on ' ' merged with the previous piece, BPE with byte fallback, decoder back to spaces),
with Gemma 4's specials where their ids are known from the transformers source / published configs:
<pad> 0, <eos> 1, <bos> 2, <unk> 3, <mask> 4, <|turn> 105 and <turn|> 106 (the ids Gemma 3 gave
<start_of_turn> / <end_of_turn>; eos_token_id [1, 106] in the published E2B config), and the multimodal
placeholders at the ids Gemma4Config declares (boi 255999, boa 256000, image 258880, audio 258881,
eoi 258882, eoa 258883, video 258884). The other control tokens (<|channel>, <|tool_call>, <|think|>, ...)
exist in Gemma 4 but their ids here (107+) are ours. Ordinary pieces: a few words, the rest byte fallback.

    /usr/bin/python3 test/reference/make_gemma4_tokenizer.py
"""
import json
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "gemma4-tokenizer")

vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4}
for i in range(5, 105):
    vocab[f"<unused{i - 5}>"] = i
CONTROL = ["<|turn>", "<turn|>", "<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>", "<|think|>", '<|"|>']
for i, t in enumerate(CONTROL):
    vocab[t] = 105 + i
BYTES0 = 105 + len(CONTROL)  # 113
for b in range(256):
    vocab[f"<0x{b:02X}>"] = BYTES0 + b
# Pieces and the merges that build them (rank = order).
MERGES = [("▁", "h"), ("e", "l"), ("l", "o"), ("▁h", "el"), ("▁hel", "lo"), ("u", "s"), ("e", "r"), ("us", "er"),
          ("▁", "w"), ("o", "r"), ("▁w", "or"), ("l", "d"), ("▁wor", "ld")]
for ch in ["▁", "h", "e", "l", "o", "u", "s", "r", "w", "d"]:
    vocab.setdefault(ch, len(vocab))
for a, b in MERGES:
    vocab.setdefault(a + b, len(vocab))
MULTIMODAL = {"<|image>": 255999, "<|audio>": 256000, "<|image|>": 258880, "<|audio|>": 258881, "<image|>": 258882, "<audio|>": 258883, "<|video|>": 258884}


def added(content, i):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}


tokenizer = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": [added(t, vocab[t]) for t in ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", *CONTROL]]
    + [added(t, i) for t, i in MULTIMODAL.items()],
    "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
    "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False},
    "post_processor": {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<bos>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}},
    },
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                 {"type": "ByteFallback"}, {"type": "Fuse"}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None, "end_of_word_suffix": None,
              "fuse_unk": True, "byte_fallback": True, "ignore_merges": False, "vocab": vocab, "merges": [list(m) for m in MERGES]},
}
config = {
    "tokenizer_class": "GemmaTokenizer", "add_bos_token": True, "add_eos_token": False,
    "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>",
    "padding_side": "right", "model_max_length": 131072,
}
os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
    json.dump(tokenizer, f, ensure_ascii=False, indent=1)
    f.write("\n")
with open(os.path.join(OUT, "tokenizer_config.json"), "w", encoding="utf-8") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
print(f"wrote {OUT}: {len(vocab)} model pieces, max id {max(MULTIMODAL.values())}")
