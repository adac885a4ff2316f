/**
 * Attention masks as composable predicates (HF masking_utils.py style): a predicate says whether
 * query i of row b may see key j. Families and modes differ only in which predicates they combine;
 * `maskBias` is the one place a predicate becomes numbers.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerType } from '../config/gemma.js';

/** (b, i, j) -> may query i of batch row b attend to key j? */
export type MaskPredicate = (b: number, i: number, j: number) => boolean;

/** Added to masked scores. Large and finite (not -inf): a query with no visible key (a pad query
 * in a narrow window) then averages all values uniformly instead of producing NaN, matching HF
 * eager attention; it dwarfs any real score and cannot overflow when added to one. */
export const MASK_NEG = -1e30;

export const causal: MaskPredicate = (_b, i, j) => j <= i;
export const bidirectional: MaskPredicate = () => true;

/** Causal with a window of W keys, the query included: j <= i and j > i - W (HF sliding_window_overlay). */
export function slidingWindowCausal(w: number): MaskPredicate {
  return (_b, i, j) => j <= i && j > i - w;
}

/** Symmetric window: |i - j| < W, i.e. 2W-1 keys (T5Gemma encoder rule). */
export function slidingWindowBidirectional(w: number): MaskPredicate {
  return (_b, i, j) => Math.abs(i - j) < w;
}

/** Keys with attentionMask[b][j] == 0 (pads) are invisible. attentionMask: [B][S]. */
export function padding(attentionMask: readonly (readonly number[])[]): MaskPredicate {
  return (b, _i, j) => (attentionMask[b] as readonly number[])[j] !== 0;
}

export function andMasks(...preds: MaskPredicate[]): MaskPredicate {
  return (b, i, j) => preds.every((p) => p(b, i, j));
}

export function orMasks(...preds: MaskPredicate[]): MaskPredicate {
  return (b, i, j) => preds.some((p) => p(b, i, j));
}

/** 0/1 matrix [B][T][S] of a predicate (for tests and inspection). */
export function maskMatrix(pred: MaskPredicate, B: number, T: number, S: number): number[][][] {
  return Array.from({ length: B }, (_, b) =>
    Array.from({ length: T }, (_, i) => Array.from({ length: S }, (_, j) => (pred(b, i, j) ? 1 : 0))),
  );
}

/** Additive bias [B, 1, T, S]: 0 where visible, MASK_NEG where masked (broadcast over heads). */
export function maskBias(pred: MaskPredicate, B: number, T: number, S: number): tf.Tensor4D {
  const out = new Float32Array(B * T * S);
  let o = 0;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < T; i++) for (let j = 0; j < S; j++) out[o++] = pred(b, i, j) ? 0 : MASK_NEG;
  return tf.tensor4d(out, [B, 1, T, S]);
}

/**
 * How a decoder stack attends:
 * - causal: the decoder as trained (sliding layers: causal window of W).
 * - bidirectional_global: every layer sees every key (window ignored).
 * - bidirectional_sliding: sliding layers see |i-j| < W (T5Gemma encoder rule).
 * - bidirectional_sliding_gemma3_hf: sliding layers see |i-j| < floor(W/2)+1, what HF
 *   `Gemma3TextConfig(use_bidirectional_attention=True)` does (EmbeddingGemma).
 */
export type AttentionMode = 'causal' | 'bidirectional_global' | 'bidirectional_sliding' | 'bidirectional_sliding_gemma3_hf';
export const ATTENTION_MODES: readonly AttentionMode[] = [
  'causal',
  'bidirectional_global',
  'bidirectional_sliding',
  'bidirectional_sliding_gemma3_hf',
];

/** The positional rule of a layer (padding is and-ed on by the caller). window: W (null: no sliding layers). */
export function layerMask(mode: AttentionMode, layerType: LayerType, window: number | null): MaskPredicate {
  const sliding = layerType === 'sliding_attention';
  if (sliding && window === null) throw new Error('sliding_attention layer without a sliding window');
  const w = window as number;
  switch (mode) {
    case 'causal':
      return sliding ? slidingWindowCausal(w) : causal;
    case 'bidirectional_global':
      return bidirectional;
    case 'bidirectional_sliding':
      return sliding ? slidingWindowBidirectional(w) : bidirectional;
    case 'bidirectional_sliding_gemma3_hf':
      return sliding ? slidingWindowBidirectional(Math.floor(w / 2) + 1) : bidirectional;
    default: {
      const never: never = mode;
      throw new Error(`unknown attention mode ${String(never)}`);
    }
  }
}
