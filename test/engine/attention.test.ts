/**
 * Fused attention (native kernel, mask rules, online softmax) against a float64 reference written
 * here with plain loops, and against the dense tfjs path, forward and gradients, for every mask rule,
 * softcap, GQA, padding, a KV-cache query offset and rows that see no key.
 * Tolerance: 1e-4 relative to max(1, |reference|) (float32 accumulation over up to 150 keys and
 * head dims up to 64; the observed errors are ~1e-6).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { fusedAttentionAvailable } from '../../src/engine/attention.js';
import { denseAttention, scaledDotProductAttention } from '../../src/nn/attention.js';
import { layerRule, maskBias, rulePredicate, type MaskRule } from '../../src/nn/masks.js';
import { Rng } from '../../src/rng/index.js';

const TOL = 1e-4;

interface Case {
  name: string;
  B: number;
  H: number;
  G: number;
  T: number;
  S: number;
  d: number;
  rule: MaskRule;
  scale: number;
  softcap: number | null;
}

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i] as number;
    const w = want[i] as number;
    assert.ok(Number.isFinite(g), `non-finite value at ${i}`);
    worst = Math.max(worst, Math.abs(g - w) / Math.max(1, Math.abs(w)));
  }
  return worst;
}

/** Float64 attention and its gradients for loss = sum(o * dO). */
function reference(c: Case, q: Float64Array, k: Float64Array, v: Float64Array, dO: Float64Array) {
  const { B, H, G, T, S, d, scale, softcap } = c;
  const R = H / G;
  const vis = rulePredicate(c.rule);
  const o = new Float64Array(B * H * T * d);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / R);
      for (let i = 0; i < T; i++) {
        const qi = ((b * H + h) * T + i) * d;
        const kv = (j: number) => ((b * G + g) * S + j) * d;
        const seen = Array.from({ length: S }, (_, j) => vis(b, i, j));
        const p = new Float64Array(S);
        const th = new Float64Array(S);
        if (!seen.some(Boolean)) {
          // no visible key: uniform over all keys, constant in q and k
          for (let j = 0; j < S; j++)
            for (let x = 0; x < d; x++) {
              o[qi + x]! += (v[kv(j) + x] as number) / S;
              dv[kv(j) + x]! += (dO[qi + x] as number) / S;
            }
          continue;
        }
        let mx = -Infinity;
        const logit = new Float64Array(S);
        for (let j = 0; j < S; j++) {
          if (!seen[j]) continue;
          let dot = 0;
          for (let x = 0; x < d; x++) dot += (q[qi + x] as number) * (k[kv(j) + x] as number);
          let l = dot * scale;
          if (softcap !== null) {
            th[j] = Math.tanh(l / softcap);
            l = softcap * (th[j] as number);
          }
          logit[j] = l;
          mx = Math.max(mx, l);
        }
        let sum = 0;
        for (let j = 0; j < S; j++) if (seen[j]) sum += p[j] = Math.exp((logit[j] as number) - mx);
        for (let j = 0; j < S; j++) p[j] = (p[j] as number) / sum;
        const dp = new Float64Array(S);
        let pdp = 0;
        for (let j = 0; j < S; j++) {
          if (!seen[j]) continue;
          for (let x = 0; x < d; x++) {
            o[qi + x]! += (p[j] as number) * (v[kv(j) + x] as number);
            dv[kv(j) + x]! += (p[j] as number) * (dO[qi + x] as number);
            dp[j]! += (dO[qi + x] as number) * (v[kv(j) + x] as number);
          }
          pdp += (p[j] as number) * (dp[j] as number);
        }
        for (let j = 0; j < S; j++) {
          if (!seen[j]) continue;
          let ds = (p[j] as number) * ((dp[j] as number) - pdp) * scale;
          if (softcap !== null) ds *= 1 - (th[j] as number) ** 2;
          for (let x = 0; x < d; x++) {
            dq[qi + x]! += ds * (k[kv(j) + x] as number);
            dk[kv(j) + x]! += ds * (q[qi + x] as number);
          }
        }
      }
    }
  return { o, dq, dk, dv };
}

function padRows(B: number, S: number, lengths: number[]): number[][] {
  return Array.from({ length: B }, (_, b) => Array.from({ length: S }, (_, j) => (j < (lengths[b] as number) ? 1 : 0)));
}

const CASES: Case[] = [
  { name: 'causal, one block', B: 2, H: 2, G: 2, T: 9, S: 9, d: 8, rule: { causal: true, window: null, keyMask: null }, scale: 0.35, softcap: null },
  { name: 'bidirectional, multi-block, d=64', B: 1, H: 2, G: 1, T: 70, S: 70, d: 64, rule: { causal: false, window: null, keyMask: null }, scale: 0.125, softcap: null },
  { name: 'causal sliding W=5 (GQA 4:2)', B: 2, H: 4, G: 2, T: 150, S: 150, d: 16, rule: { causal: true, window: 5, keyMask: null }, scale: 0.25, softcap: null },
  { name: 'causal sliding W=100 spanning blocks, softcap', B: 1, H: 2, G: 1, T: 140, S: 140, d: 32, rule: { causal: true, window: 100, keyMask: null }, scale: 0.3, softcap: 5 },
  { name: 'bidirectional sliding W=7 with padding', B: 3, H: 2, G: 1, T: 80, S: 80, d: 24, rule: { causal: false, window: 7, keyMask: padRows(3, 80, [80, 41, 3]) }, scale: 0.2, softcap: null },
  { name: 'gemma3_hf bidirectional sliding (W=10 -> 6), softcap, padding', B: 2, H: 2, G: 2, T: 33, S: 33, d: 8, rule: { ...layerRule('bidirectional_sliding_gemma3_hf', 'sliding_attention', 10), keyMask: padRows(2, 33, [33, 20]) }, scale: 1, softcap: 3 },
  { name: 'causal with padding, Gemma 4 scale 1.0', B: 2, H: 2, G: 1, T: 20, S: 20, d: 16, rule: { causal: true, window: null, keyMask: padRows(2, 20, [20, 11]) }, scale: 1, softcap: null },
  { name: 'cross-attention T != S with key padding', B: 2, H: 4, G: 1, T: 13, S: 75, d: 16, rule: { causal: false, window: null, keyMask: padRows(2, 75, [75, 30]) }, scale: 0.25, softcap: 50 },
  // d=256 > one 64-column chunk, S*d > one 16K-float reduction chunk; band edges cut 32-key blocks mid-vector.
  { name: 'causal sliding W=100, d=256, GQA 2:1', B: 1, H: 2, G: 1, T: 150, S: 150, d: 256, rule: { causal: true, window: 100, keyMask: null }, scale: 0.0625, softcap: null },
  // Three query heads per kv head (EmbeddingGemma): the backward pairs heads 0-1 and leaves head 2 alone.
  { name: 'GQA 3:1, bidirectional sliding W=20 with padding, d=48', B: 2, H: 3, G: 1, T: 90, S: 90, d: 48, rule: { causal: false, window: 20, keyMask: padRows(2, 90, [90, 50]) }, scale: 0.2, softcap: null },
  { name: 'KV cache: queries at positions 60.. of 70 keys, causal window 16', B: 1, H: 2, G: 1, T: 10, S: 70, d: 16, rule: { causal: true, window: 16, keyMask: null, queryOffset: 60 }, scale: 0.25, softcap: null },
];

function tensors(c: Case, rng: Rng) {
  const gen = (n: number, s: number) => Float64Array.from({ length: n }, () => Math.fround(rng.normal() * s));
  const q = gen(c.B * c.H * c.T * c.d, 1);
  const k = gen(c.B * c.G * c.S * c.d, 1);
  const v = gen(c.B * c.G * c.S * c.d, 1);
  const dO = gen(c.B * c.H * c.T * c.d, 1);
  return { q, k, v, dO };
}

describe('fused attention', async () => {
  await initEngine('native');
  const rng = new Rng('fused-attention');

  it('is registered on the native engine', () => assert.ok(fusedAttentionAvailable()));

  for (const c of CASES) {
    it(`${c.name}: forward and gradients match float64 and the dense path`, () => {
      const { q, k, v, dO } = tensors(c, rng);
      const want = reference(c, q, k, v, dO);
      const qT = tf.tensor4d(Float32Array.from(q), [c.B, c.H, c.T, c.d]);
      const kT = tf.tensor4d(Float32Array.from(k), [c.B, c.G, c.S, c.d]);
      const vT = tf.tensor4d(Float32Array.from(v), [c.B, c.G, c.S, c.d]);
      const dOT = tf.tensor4d(Float32Array.from(dO), [c.B, c.H, c.T, c.d]);
      const opts = { scale: c.scale, softcap: c.softcap, mask: c.rule };
      const fused = (a: tf.Tensor, b: tf.Tensor, cc: tf.Tensor) => scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, cc as tf.Tensor4D, opts);
      const bias = maskBias(rulePredicate(c.rule), c.B, c.T, c.S);
      const dense = (a: tf.Tensor, b: tf.Tensor, cc: tf.Tensor) => denseAttention(a as tf.Tensor4D, b as tf.Tensor4D, cc as tf.Tensor4D, { scale: c.scale, softcap: c.softcap, bias });
      for (const [which, f] of [['fused', fused], ['dense', dense]] as const) {
        const o = f(qT, kT, vT);
        const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, cc: tf.Tensor) => tf.sum(tf.mul(f(a, b, cc), dOT)))([qT, kT, vT]);
        const [gq, gk, gv] = grads.map((g) => g.dataSync());
        const errs = {
          o: maxRelErr(o.dataSync(), want.o),
          dv: maxRelErr(gv as Float32Array, want.dv),
          // the dense path's bias lets gradient reach q and k of rows that see no key (its
          // output is constant in them); the reference and the fused kernel give 0 there
          ...(which === 'fused' || !hasEmptyRow(c) ? { dq: maxRelErr(gq as Float32Array, want.dq), dk: maxRelErr(gk as Float32Array, want.dk) } : {}),
        };
        for (const [name, e] of Object.entries(errs)) assert.ok(e < TOL, `${which} ${name}: max rel err ${e}`);
        tf.dispose([o, ...grads]);
      }
      tf.dispose([qT, kT, vT, dOT, bias]);
    });
  }

  it('fused and dense agree on a sliding layer far longer than its window (and the fused path stores no [T, S] tensor)', () => {
    const c: Case = { name: 'long', B: 1, H: 2, G: 1, T: 512, S: 512, d: 32, rule: { causal: true, window: 16, keyMask: null }, scale: 0.2, softcap: null };
    const { q, k, v } = tensors(c, rng);
    const qT = tf.tensor4d(Float32Array.from(q), [1, 2, 512, 32]);
    const kT = tf.tensor4d(Float32Array.from(k), [1, 1, 512, 32]);
    const vT = tf.tensor4d(Float32Array.from(v), [1, 1, 512, 32]);
    const before = tf.memory().numBytes;
    let peak = 0;
    const fused = tf.tidy(() => {
      const o = scaledDotProductAttention(qT, kT, vT, { scale: c.scale, softcap: null, mask: c.rule });
      peak = tf.memory().numBytes - before;
      return o;
    });
    assert.ok(peak < 2 * 2 * 512 * 32 * 4 + 512 * 2 * 4 + 1024, `fused attention held ${peak} bytes (a [T,S] matrix is ${512 * 512 * 4})`);
    const dense = scaledDotProductAttention(qT, kT, vT, { scale: c.scale, softcap: null, mask: c.rule, implementation: 'dense' });
    assert.ok(maxRelErr(fused.dataSync(), dense.dataSync()) < TOL);
    tf.dispose([qT, kT, vT, fused, dense]);
  });

  it('rejects mismatched shapes with a message naming them', () => {
    const q = tf.zeros([1, 3, 4, 8]) as tf.Tensor4D;
    const k = tf.zeros([1, 2, 4, 8]) as tf.Tensor4D;
    assert.throws(() => scaledDotProductAttention(q, k, k, { scale: 1, softcap: null, mask: null }), /multiple of kv heads/);
    tf.dispose([q, k]);
  });
});

function hasEmptyRow(c: Case): boolean {
  const vis = rulePredicate(c.rule);
  for (let b = 0; b < c.B; b++)
    for (let i = 0; i < c.T; i++) {
      let any = false;
      for (let j = 0; j < c.S && !any; j++) any = vis(b, i, j);
      if (!any) return true;
    }
  return false;
}
