/** Pieces every Gemma-style stack (Gemma 1/2/3 decoder, T5Gemma encoder and decoder) builds the same way. */
import type * as tf from '@tensorflow/tfjs-core';
import type { GemmaStackConfig, LayerType } from '../config/gemma.js';
import type { AttentionSpec } from '../nn/attention.js';
import { andMasks, layerMask, maskBias, padding, type AttentionMode } from '../nn/masks.js';
import { ropeTables, type RopeTables } from '../nn/rope.js';

/** Attention hyper-parameters of one stack: scale = query_pre_attn_scalar^-0.5. */
export function attentionSpec(c: GemmaStackConfig): AttentionSpec {
  return {
    numHeads: c.numAttentionHeads,
    numKvHeads: c.numKeyValueHeads,
    headDim: c.headDim,
    scale: 1 / Math.sqrt(c.queryPreAttnScalar),
    softcap: c.attnLogitSoftcapping,
    normEps: c.rmsNormEps,
  };
}

/**
 * Self-attention inputs per layer type: mask bias [B, 1, T, T] (the mode's rule for that type, and-ed
 * with the right-padding `attentionMask` [B, T] when given) and RoPE tables for positions 0..T-1.
 * Built on first use and shared by the layers of that type, so call it inside the caller's tf.tidy.
 */
export function selfAttentionTables(
  c: GemmaStackConfig,
  mode: AttentionMode,
  attentionMask: readonly (readonly number[])[] | null,
  B: number,
  T: number,
): (lt: LayerType) => { bias: tf.Tensor4D; rope: RopeTables } {
  const positions = Array.from({ length: T }, (_, t) => t);
  const perType = new Map<LayerType, { bias: tf.Tensor4D; rope: RopeTables }>();
  return (lt) => {
    let e = perType.get(lt);
    if (!e) {
      const rule = layerMask(mode, lt, c.slidingWindow);
      e = { bias: maskBias(attentionMask ? andMasks(rule, padding(attentionMask)) : rule, B, T, T), rope: ropeTables(positions, c.headDim, c.rope[lt]) };
      perType.set(lt, e);
    }
    return e;
  };
}
