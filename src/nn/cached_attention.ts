/**
 * q/k/v preparation and key/value caching for decoders that attend to an encoder: T5Gemma's
 * separate cross-attention and T5Gemma 2's merged self+cross attention (one softmax over
 * [decoder keys so far; encoder keys]). The score/softmax/value core is `scaledDotProductAttention`.
 *
 * A decoder step appends n new tokens at positions t..t+n-1 to a cache holding the keys/values of
 * positions 0..t-1 ([N, G, t, K] per layer); the encoder-side keys/values are projected once per
 * generation (`projectKv`) and reused by every step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type AttentionSpec, type AttentionWeights, mergeHeads, scaledDotProductAttention, splitHeads } from './attention.js';
import { linear } from './linear.js';
import { rmsNorm } from './norm.js';
import { applyRope, type RopeTables } from './rope.js';

/** Keys and values of one layer: [N, G, L, K] each (a type alias so tf.dispose works on it). */
export type LayerKv = { readonly k: tf.Tensor4D; readonly v: tf.Tensor4D };

/** x [N, L, D] -> keys (k_norm, then RoPE when given) and values [N, G, L, K]. */
export function projectKv(x: tf.Tensor3D, w: AttentionWeights, spec: AttentionSpec, rope: RopeTables | null): LayerKv {
  return tf.tidy(() => {
    let k = splitHeads(linear(x, w.kProj), spec.numKvHeads);
    const v = splitHeads(linear(x, w.vProj), spec.numKvHeads);
    if (w.kNorm) k = rmsNorm(k, w.kNorm, spec.normEps);
    if (rope) k = applyRope(k, rope);
    return { k, v };
  });
}

/** x [N, n, D] -> queries [N, H, n, K] (q_norm, then RoPE when given). */
export function projectQ(x: tf.Tensor3D, w: AttentionWeights, spec: AttentionSpec, rope: RopeTables | null): tf.Tensor4D {
  return tf.tidy(() => {
    let q = splitHeads(linear(x, w.qProj), spec.numHeads);
    if (w.qNorm) q = rmsNorm(q, w.qNorm, spec.normEps);
    return rope ? applyRope(q, rope) : q;
  });
}

/** [past; new] along the position axis (past null = nothing cached yet). */
export function appendKv(past: LayerKv | null, fresh: LayerKv): LayerKv {
  if (past === null) return { k: tf.clone(fresh.k), v: tf.clone(fresh.v) };
  return { k: tf.concat([past.k, fresh.k], 2), v: tf.concat([past.v, fresh.v], 2) };
}

export interface CachedAttentionInput {
  /** [N, n, D] normed decoder states of the new tokens. */
  readonly x: tf.Tensor3D;
  readonly w: AttentionWeights;
  readonly spec: AttentionSpec;
  /** RoPE tables of the new positions t..t+n-1. */
  readonly rope: RopeTables;
  /** Self keys/values of positions 0..t-1, or null when t = 0. */
  readonly past: LayerKv | null;
  /** [N, 1, n, t+n] additive bias of the self part (causal, sliding window). */
  readonly selfBias: tf.Tensor4D;
  /** Merged attention: the encoder keys/values [N, G, S, K] and their bias [N, 1, n, S] join the same softmax. */
  readonly merged?: { readonly kv: LayerKv; readonly bias: tf.Tensor4D };
  readonly probDropout?: (p: tf.Tensor4D) => tf.Tensor4D;
}

/**
 * Causal self-attention (optionally merged with cross-attention) of n new tokens over the cache.
 * Returns the sub-block output [N, n, D] (after o_proj) and the self keys/values of 0..t+n-1.
 * The caller owns both (the returned `self` replaces `past`).
 */
export function cachedSelfAttention(a: CachedAttentionInput): { out: tf.Tensor3D; self: LayerKv } {
  const self = tf.tidy(() => appendKv(a.past, projectKv(a.x, a.w, a.spec, a.rope)));
  const out = tf.tidy(() => {
    const q = projectQ(a.x, a.w, a.spec, a.rope);
    const k = a.merged ? tf.concat([self.k, a.merged.kv.k], 2) : self.k;
    const v = a.merged ? tf.concat([self.v, a.merged.kv.v], 2) : self.v;
    const bias = a.merged ? tf.concat([a.selfBias, a.merged.bias], 3) : a.selfBias;
    const o = scaledDotProductAttention(q, k as tf.Tensor4D, v as tf.Tensor4D, {
      scale: a.spec.scale,
      softcap: a.spec.softcap,
      bias: bias as tf.Tensor4D,
      ...(a.probDropout ? { probDropout: a.probDropout } : {}),
    });
    return linear(mergeHeads(o), a.w.oProj);
  });
  return { out, self };
}

/** Separate cross-attention (T5Gemma): x [N, n, D] over precomputed encoder keys/values, no RoPE. */
export function crossAttention(x: tf.Tensor3D, w: AttentionWeights, spec: AttentionSpec, kv: LayerKv, bias: tf.Tensor4D, probDropout?: (p: tf.Tensor4D) => tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const q = projectQ(x, w, spec, null);
    const o = scaledDotProductAttention(q, kv.k, kv.v, { scale: spec.scale, softcap: spec.softcap, bias, ...(probDropout ? { probDropout } : {}) });
    return linear(mergeHeads(o), w.oProj);
  });
}

/** Rows `index` of every cached tensor (beam reordering, dropping finished rows). */
export function selectRows(kv: LayerKv, index: tf.Tensor1D): LayerKv {
  return tf.tidy(() => ({ k: tf.gather(kv.k, index) as tf.Tensor4D, v: tf.gather(kv.v, index) as tf.Tensor4D }));
}
