"""Independent reference for the Gemma 3 tokenizer: a plain-Python reading of tokenizer.json
(added tokens split leftmost-longest on the raw text, normalizer ' ' -> '\u2581', BPE by merge rank with
leftmost tie-break, byte fallback). Writes the expected ids for test/tokenize/tokenizer.test.ts.

Regenerate (the tokenizer ships brotli-compressed; Python's stdlib has no brotli, so node inflates it):
  node -e "process.stdout.write(require('zlib').brotliDecompressSync(require('fs').readFileSync('data/tokenizers/gemma3/tokenizer.json.br')))" > /tmp/gemma3-tokenizer.json
  python3 test/tokenize/reference_bpe.py /tmp/gemma3-tokenizer.json > test/tokenize/expected_ids.json
"""
import json, sys

STRINGS = [
    "Hello, my dog is cute",
    " leading  spaces\n\nnewlines",
    "naïve café 日本語 🤗",
    "The quick brown fox jumps over the lazy dog.",
    "<mask> x <start_of_turn>",
    "tab\there\r\nand\u00a0nbsp",
    "a" * 40,
    "Zürich's 1999 GDP was $3.5bn (≈ €3bn).",
    "",
    "\n\n\n",
    "unbelievably antidisestablishmentarianism",
    "😀 emoji 🏳️‍🌈",
]

tok = json.load(open(sys.argv[1], encoding="utf-8"))
model = tok["model"]
vocab = model["vocab"]
ranks = {}
for i, m in enumerate(model["merges"]):
    a, b = m if isinstance(m, list) else m.split(" ", 1)
    ranks.setdefault((a, b), i)
added = {t["content"]: t["id"] for t in tok["added_tokens"]}
max_added = max(len(k) for k in added)


def split_added(text):
    out, i, start = [], 0, 0
    while i < len(text):
        for L in range(min(max_added, len(text) - i), 0, -1):
            if text[i:i + L] in added:
                if start < i:
                    out.append((False, text[start:i]))
                out.append((True, text[i:i + L]))
                i += L
                start = i
                break
        else:
            i += 1
    if start < len(text):
        out.append((False, text[start:]))
    return out


def bpe(word):
    syms = []
    for ch in word:
        if ch in vocab:
            syms.append(ch)
        else:
            syms.extend("<0x%02X>" % b for b in ch.encode("utf-8"))
    while True:
        best = None
        for i in range(len(syms) - 1):
            r = ranks.get((syms[i], syms[i + 1]))
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        syms[i:i + 2] = [syms[i] + syms[i + 1]]
    return [vocab[s] for s in syms]


def encode(text):
    ids = []
    for is_added, piece in split_added(text):
        ids.extend([added[piece]] if is_added else bpe(piece.replace(" ", "\u2581")))
    return ids


json.dump([{"text": s, "ids": encode(s)} for s in STRINGS], sys.stdout, ensure_ascii=False, indent=1)
print()
