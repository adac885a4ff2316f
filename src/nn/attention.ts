/**
 * Gemma attention (HF eager_attention_forward semantics):
 *   s = (q k^T) * scale; [softcap: cap * tanh(s / cap)]; s += mask bias; p = softmax(s); o = p v
 * with GQA (query head h reads kv head floor(h / (H/G))), optional q/k RMSNorm (Gemma 3) before RoPE,
 * and optional RoPE (cross-attention passes none). Query and key/value inputs are separate so
 * T5Gemma's cross-attention is the same function with a different key input, no RoPE and its own mask.
 *
 * Two cores compute the same thing: the fused native kernel (mask as a rule, blockwise online
 * softmax, only the visible band of keys; engine/attention.ts) and the dense tfjs path here (full
 * score matrix plus an additive bias), which is the reference and the fallback (no addon, a dense
 * `bias` given, attention-probability dropout, or GEMMA_LAB_ATTENTION=dense).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedAttention, fusedAttentionAvailable } from '../engine/attention.js';
import { linear } from './linear.js';
import { maskBias, rulePredicate, type MaskRule } from './masks.js';
import { rmsNorm } from './norm.js';
import { applyRope, type RopeTables } from './rope.js';

export interface AttentionWeights {
  /** [H*K, Dq] */
  readonly qProj: tf.Tensor2D;
  /** [G*K, Dkv] */
  readonly kProj: tf.Tensor2D;
  /** [G*K, Dkv] */
  readonly vProj: tf.Tensor2D;
  /** [Dq, H*K] */
  readonly oProj: tf.Tensor2D;
  /** [K] Gemma 3 q_norm (1 + w) */
  readonly qNorm?: tf.Tensor1D;
  /** [K] Gemma 3 k_norm (1 + w) */
  readonly kNorm?: tf.Tensor1D;
}

export interface AttentionSpec {
  /** H */
  readonly numHeads: number;
  /** G */
  readonly numKvHeads: number;
  /** K */
  readonly headDim: number;
  /** Multiplies q k^T: query_pre_attn_scalar^-0.5 (Gemma 1: head_dim^-0.5). */
  readonly scale: number;
  /** Attention logit softcap, applied before the mask; null = none. */
  readonly softcap: number | null;
  /** eps of the q/k norms. */
  readonly normEps: number;
}

export interface AttentionContext {
  /** RoPE tables for the queries ([T, K/2]) and keys ([S, K/2]); null = no RoPE (cross-attention). */
  readonly rope: { readonly q: RopeTables; readonly k: RopeTables } | null;
  /** The mask as a rule (preferred: the fused kernel never materialises it). */
  readonly mask?: MaskRule | null;
  /** Or an additive mask [B, 1, T, S] (see masks.ts `maskBias`); forces the dense path. Neither = everything visible. */
  readonly bias?: tf.Tensor4D | null;
  /** Applied to the attention probabilities [B, H, T, S] (dropout during training). */
  readonly probDropout?: (p: tf.Tensor4D) => tf.Tensor4D;
}

/** x: [B, T, H*K] -> [B, H, T, K] */
export function splitHeads(x: tf.Tensor3D, heads: number): tf.Tensor4D {
  const [B, T, HK] = x.shape;
  return tf.transpose(tf.reshape(x, [B, T, heads, HK / heads]), [0, 2, 1, 3]);
}

/** x: [B, H, T, K] -> [B, T, H*K] */
export function mergeHeads(x: tf.Tensor4D): tf.Tensor3D {
  const [B, H, T, K] = x.shape;
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [B, T, H * K]);
}

/** cap * tanh(x / cap) */
export function softcap<T extends tf.Tensor>(x: T, cap: number): T {
  return tf.tidy(() => tf.mul(tf.tanh(tf.div(x, cap)), cap) as T);
}

export type AttentionImplementation = 'auto' | 'dense';

/** GEMMA_LAB_ATTENTION=dense forces the dense core (comparisons, debugging); default auto. */
function requestedImplementation(): AttentionImplementation {
  const v = process.env.GEMMA_LAB_ATTENTION;
  if (v === undefined || v === '' || v === 'auto' || v === 'fused') return 'auto';
  if (v === 'dense') return 'dense';
  throw new Error(`GEMMA_LAB_ATTENTION='${v}': expected auto, fused or dense`);
}

export interface SdpaOptions {
  readonly scale: number;
  readonly softcap: number | null;
  /** Mask rule (fused kernel when available); ignored when `bias` is given. */
  readonly mask?: MaskRule | null;
  /** Additive bias [B, 1, T, S]: the dense path. */
  readonly bias?: tf.Tensor4D | null;
  readonly probDropout?: (p: tf.Tensor4D) => tf.Tensor4D;
  /** 'dense' forces the reference path; default: GEMMA_LAB_ATTENTION, else auto. */
  readonly implementation?: AttentionImplementation;
}

/** q: [B, H, T, K], k/v: [B, G, S, K] -> [B, H, T, K], by the fused kernel when it can, else densely. */
export function scaledDotProductAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, opts: SdpaOptions): tf.Tensor4D {
  const impl = opts.implementation ?? requestedImplementation();
  const rule = opts.bias ? null : (opts.mask ?? null);
  if (impl === 'auto' && !opts.probDropout && !opts.bias && fusedAttentionAvailable()) {
    return tf.tidy(() => {
      const [B, , , ] = q.shape;
      const S = k.shape[2];
      let keyMask: tf.Tensor2D | null = null;
      if (rule?.keyMask) {
        const rows = rule.keyMask;
        if (rows.length !== B || rows.some((r) => r.length !== S)) throw new RangeError(`attention keyMask: expected [${B}][${S}]`);
        keyMask = tf.tensor2d(rows as number[][], [B, S], 'float32');
      }
      return fusedAttention(q, k, v, keyMask, {
        scale: opts.scale,
        softcap: opts.softcap ?? 0,
        causal: rule?.causal ?? false,
        window: rule?.window ?? 0,
        queryOffset: rule?.queryOffset ?? 0,
      });
    });
  }
  return tf.tidy(() => {
    const bias = opts.bias ?? (rule ? maskBias(rulePredicate(rule), q.shape[0], q.shape[2], k.shape[2]) : null);
    return denseAttention(q, k, v, { scale: opts.scale, softcap: opts.softcap, bias, ...(opts.probDropout ? { probDropout: opts.probDropout } : {}) });
  });
}

/**
 * The reference core. q: [B, H, T, K], k/v: [B, G, S, K], bias [B, 1, T, S] -> [B, H, T, K].
 * GQA without repeating k/v: heads h = g*R + r (R = H/G) are contiguous per kv head, so
 * [B, H, T, K] reshapes to [B, G, R*T, K] and one batched matmul per (b, g) covers all R heads.
 */
export function denseAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  opts: { scale: number; softcap: number | null; bias: tf.Tensor4D | null; probDropout?: (p: tf.Tensor4D) => tf.Tensor4D },
): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, T, K] = q.shape;
    const G = k.shape[1];
    const S = k.shape[2];
    const R = H / G;
    // The scale (and the softcap's 1/cap) is folded into q: [B,H,T,K] is smaller than [B,H,T,S] scores.
    const cap = opts.softcap;
    const qg = tf.reshape(tf.mul(q, cap === null ? opts.scale : opts.scale / cap), [B, G, R * T, K]);
    let s = tf.reshape(tf.matMul(qg, k, false, true), [B, H, T, S]); // [B, H, T, S]
    if (cap !== null) s = tf.mul(tf.tanh(s), cap); // cap * tanh(scale * q k^T / cap)
    if (opts.bias !== null) s = tf.add(s, opts.bias);
    let p = tf.softmax(s, -1) as tf.Tensor4D; // [B, H, T, S]
    if (opts.probDropout) p = opts.probDropout(p);
    const o = tf.matMul(tf.reshape(p, [B, G, R * T, S]), v); // [B, G, R*T, K]
    return tf.reshape(o, [B, H, T, K]);
  });
}

/** Full attention sub-block: xq [B, T, Dq], xkv [B, S, Dkv] -> [B, T, Dq] (after o_proj). */
export function attention(
  xq: tf.Tensor3D,
  xkv: tf.Tensor3D,
  w: AttentionWeights,
  spec: AttentionSpec,
  ctx: AttentionContext,
): tf.Tensor3D {
  return tf.tidy(() => {
    let q = splitHeads(linear(xq, w.qProj), spec.numHeads); // [B, H, T, K]
    let k = splitHeads(linear(xkv, w.kProj), spec.numKvHeads); // [B, G, S, K]
    const v = splitHeads(linear(xkv, w.vProj), spec.numKvHeads); // [B, G, S, K]
    if (w.qNorm) q = rmsNorm(q, w.qNorm, spec.normEps);
    if (w.kNorm) k = rmsNorm(k, w.kNorm, spec.normEps);
    if (ctx.rope) {
      q = applyRope(q, ctx.rope.q);
      k = applyRope(k, ctx.rope.k);
    }
    const o = scaledDotProductAttention(q, k, v, {
      scale: spec.scale,
      softcap: spec.softcap,
      mask: ctx.mask ?? null,
      bias: ctx.bias ?? null,
      ...(ctx.probDropout ? { probDropout: ctx.probDropout } : {}),
    });
    return linear(mergeHeads(o), w.oProj); // [B, T, Dq]
  });
}
