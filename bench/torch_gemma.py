#!/usr/bin/python3
"""PyTorch CPU peer for `npm run bench -- torch`: the same Gemma (1 or 3 text) in float32, written
the way HF transformers' eager path computes it (additive float mask, repeat_kv for GQA, RoPE from
cached cos/sin), random N(0, 0.02) weights, torch.optim.AdamW.

Protocol (one JSON object per line on stdin, one reply per line on stdout), so the Node side can
interleave its own runs with ours in one benchmark:
  {"cmd": "setup", "config": {...config.json keys...}, "B": 16, "T": 128, "seed": 0, "logits": true}
  {"cmd": "forward"} / {"cmd": "train"}  ->  {"seconds": s, "loss": x}
  {"cmd": "rss"}  ->  {"rss_mib": current, "peak_mib": peak}
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F


def layer_types(cfg):
    if cfg.get("layer_types"):
        return list(cfg["layer_types"])
    n = cfg["num_hidden_layers"]
    if cfg["model_type"] == "gemma":
        return ["full_attention"] * n
    pat = cfg.get("sliding_window_pattern", 6)
    return ["sliding_attention" if (i + 1) % pat else "full_attention" for i in range(n)]


class Gemma(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D, F_, H, G, K = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
        self.g3 = cfg["model_type"] == "gemma3_text"
        self.types = layer_types(cfg)
        lin = lambda o, i: torch.nn.Parameter(torch.randn(o, i) * 0.02)
        zeros = lambda n: torch.nn.Parameter(torch.zeros(n))
        self.embed = torch.nn.Parameter(torch.randn(cfg["vocab_size"], D) * 0.02)
        self.layers = torch.nn.ModuleList()
        for _ in self.types:
            p = torch.nn.ParameterDict({"q": lin(H * K, D), "k": lin(G * K, D), "v": lin(G * K, D), "o": lin(D, H * K),
                                        "gate": lin(F_, D), "up": lin(F_, D), "down": lin(D, F_), "ln_in": zeros(D), "ln_post": zeros(D)})
            if self.g3:
                p.update({"q_norm": zeros(K), "k_norm": zeros(K), "ln_pre_ff": zeros(D), "ln_post_ff": zeros(D)})
            self.layers.append(p)
        self.norm = zeros(D)

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg.get("rms_norm_eps", 1e-6)) * (1.0 + w)

    def rope(self, T, K, theta):
        inv = 1.0 / theta ** (torch.arange(0, K, 2, dtype=torch.float32) / K)
        ang = torch.outer(torch.arange(T, dtype=torch.float32), inv)
        emb = torch.cat([ang, ang], -1)
        return emb.cos(), emb.sin()

    def forward(self, ids, logits=True):
        c = self.cfg
        B, T = ids.shape
        H, G, K = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        scale = (c["query_pre_attn_scalar"] if self.g3 else K) ** -0.5
        W = c.get("sliding_window")
        i = torch.arange(T)[:, None]
        j = torch.arange(T)[None, :]
        neg = torch.finfo(torch.float32).min
        masks = {"full_attention": torch.where(j <= i, 0.0, neg)[None, None]}
        if W:
            masks["sliding_attention"] = torch.where((j <= i) & (j > i - W), 0.0, neg)[None, None]
        ropes = {"full_attention": self.rope(T, K, c.get("rope_theta", 10000.0)),
                 "sliding_attention": self.rope(T, K, c.get("rope_local_base_freq", 10000.0) if self.g3 else c.get("rope_theta", 10000.0))}
        x = self.embed[ids] * math.sqrt(c["hidden_size"])
        for p, lt in zip(self.layers, self.types):
            h = self.rms(x, p["ln_in"])
            q = F.linear(h, p["q"]).view(B, T, H, K).transpose(1, 2)
            k = F.linear(h, p["k"]).view(B, T, G, K).transpose(1, 2)
            v = F.linear(h, p["v"]).view(B, T, G, K).transpose(1, 2)
            if self.g3:
                q, k = self.rms(q, p["q_norm"]), self.rms(k, p["k_norm"])
            cos, sin = ropes[lt]
            rot = lambda t: torch.cat([-t[..., K // 2:], t[..., : K // 2]], -1)
            q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
            k, v = k.repeat_interleave(H // G, 1), v.repeat_interleave(H // G, 1)
            s = q @ k.transpose(-1, -2) * scale + masks[lt]
            a = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, H * K)
            a = F.linear(a, p["o"])
            if self.g3:
                x = x + self.rms(a, p["ln_post"])
                h = self.rms(x, p["ln_pre_ff"])
            else:
                x = x + a
                h = self.rms(x, p["ln_post"])
            m = F.linear(F.gelu(F.linear(h, p["gate"]), approximate="tanh") * F.linear(h, p["up"]), p["down"])
            x = x + (self.rms(m, p["ln_post_ff"]) if self.g3 else m)
        x = self.rms(x, self.norm)
        return F.linear(x, self.embed) if logits else x


def lm_loss(out, ids, logits):
    if not logits:
        return out.pow(2).mean()
    V = out.shape[-1]
    return F.cross_entropy(out[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    model = opt = ids = None
    want_logits = True
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        if cmd == "setup":
            torch.manual_seed(msg.get("seed", 0))
            model = Gemma(msg["config"])
            want_logits = msg.get("logits", True)
            ids = torch.randint(0, msg["config"]["vocab_size"], (msg["B"], msg["T"]))
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01) if msg.get("train", True) else None
            with open("/proc/self/maps") as f:
                blas = sorted({l.split()[-1] for l in f if "blas" in l.lower() and ".so" in l})
            reply = {"params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__,
                     "threads": torch.get_num_threads(), "blas": blas}
        elif cmd == "forward":
            t0 = time.perf_counter()
            with torch.no_grad():
                out = model(ids, want_logits)
                loss = (torch.logsumexp(out, -1).mean() if msg.get("lse") else lm_loss(out, ids, want_logits)).item()
                del out
            reply = {"seconds": time.perf_counter() - t0, "loss": loss}
        elif cmd == "train":
            t0 = time.perf_counter()
            loss = lm_loss(model(ids, want_logits), ids, want_logits)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            reply = {"seconds": time.perf_counter() - t0, "loss": loss.item()}
        elif cmd == "rss":
            with open("/proc/self/status") as f:
                st = dict(l.split(":", 1) for l in f if ":" in l)
            reply = {"rss_mib": int(st["VmRSS"].split()[0]) / 1024, "peak_mib": int(st["VmHWM"].split()[0]) / 1024}
        else:
            reply = {"error": f"unknown command {cmd}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
