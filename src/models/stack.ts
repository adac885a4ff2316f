/** Pieces every Gemma-style stack (Gemma 1/2/3 decoder, T5Gemma encoder and decoder) builds the same way. */
import type { GemmaStackConfig, LayerType } from '../config/gemma.js';
import type { AttentionSpec } from '../nn/attention.js';
import { layerRule, type AttentionMode, type MaskRule } from '../nn/masks.js';
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
 * Self-attention inputs per layer type: the mask rule (the mode's rule for that type, with the
 * padding `attentionMask` [B, T] as key mask when given) and RoPE tables for positions 0..T-1.
 * Built on first use and shared by the layers of that type, so call it inside the caller's tf.tidy.
 */
export function selfAttentionTables(
  c: GemmaStackConfig,
  mode: AttentionMode,
  attentionMask: readonly (readonly number[])[] | null,
  B: number,
  T: number,
): (lt: LayerType) => { mask: MaskRule; rope: RopeTables } {
  if (attentionMask && (attentionMask.length !== B || attentionMask.some((r) => r.length !== T)))
    throw new RangeError(`attentionMask: expected [${B}][${T}]`);
  const positions = Array.from({ length: T }, (_, t) => t);
  const perType = new Map<LayerType, { mask: MaskRule; rope: RopeTables }>();
  return (lt) => {
    let e = perType.get(lt);
    if (!e) {
      e = { mask: { ...layerRule(mode, lt, c.slidingWindow), keyMask: attentionMask }, rope: ropeTables(positions, c.headDim, c.rope[lt]) };
      perType.set(lt, e);
    }
    return e;
  };
}
