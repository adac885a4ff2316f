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
 * - bidirectional_sliding_gemma4_hf: sliding layers see |i-j| <= floor(W/2)+1 (inclusive), what HF
 *   `Gemma4TextConfig(use_bidirectional_attention="all")` does through the generic bidirectional
 *   sliding-window mask (one key more on each side than the Gemma 3 rule).
 */
export type AttentionMode =
  | 'causal'
  | 'bidirectional_global'
  | 'bidirectional_sliding'
  | 'bidirectional_sliding_gemma3_hf'
  | 'bidirectional_sliding_gemma4_hf';
export const ATTENTION_MODES: readonly AttentionMode[] = [
  'causal',
  'bidirectional_global',
  'bidirectional_sliding',
  'bidirectional_sliding_gemma3_hf',
  'bidirectional_sliding_gemma4_hf',
];

/**
 * A mask as a rule rather than numbers, what the fused attention kernel takes: query i (at key
 * position i + queryOffset) sees key j when keyMask[b][j] != 0, j <= pos if causal, and within the
 * window (causal: j > pos - W, W keys with the query; bidirectional: |pos - j| < W).
 */
export interface MaskRule {
  readonly causal: boolean;
  /** W; null = no window. */
  readonly window: number | null;
  /** [B][S], 0 = invisible key (padding); null = every key. */
  readonly keyMask: readonly (readonly number[])[] | null;
  /** Position of query 0 among the keys (a KV cache holding earlier keys); default 0. */
  readonly queryOffset?: number;
}

/** The predicate a rule stands for (for the dense path and for tests). */
export function rulePredicate(rule: MaskRule): MaskPredicate {
  const off = rule.queryOffset ?? 0;
  const W = rule.window;
  let pos: MaskPredicate;
  if (rule.causal) pos = W === null ? (_b, i, j) => j <= i + off : (_b, i, j) => j <= i + off && j > i + off - W;
  else pos = W === null ? bidirectional : (_b, i, j) => Math.abs(i + off - j) < W;
  return rule.keyMask ? andMasks(pos, padding(rule.keyMask)) : pos;
}

/** The positional rule of a layer: { causal, window } (padding is added by the caller as keyMask). */
export function layerRule(mode: AttentionMode, layerType: LayerType, window: number | null): { causal: boolean; window: number | null } {
  const sliding = layerType === 'sliding_attention';
  if (sliding && window === null) throw new Error('sliding_attention layer without a sliding window');
  const w = window as number;
  switch (mode) {
    case 'causal':
      return { causal: true, window: sliding ? w : null };
    case 'bidirectional_global':
      return { causal: false, window: null };
    case 'bidirectional_sliding':
      return { causal: false, window: sliding ? w : null };
    case 'bidirectional_sliding_gemma3_hf':
      return { causal: false, window: sliding ? Math.floor(w / 2) + 1 : null };
    case 'bidirectional_sliding_gemma4_hf':
      // inclusive |i-j| <= floor(W/2)+1 is the exclusive rule with one more key per side
      return { causal: false, window: sliding ? Math.floor(w / 2) + 2 : null };
    default: {
      const never: never = mode;
      throw new Error(`unknown attention mode ${String(never)}`);
    }
  }
}

/** The positional rule of a layer as a predicate (padding is and-ed on by the caller). window: W (null: no sliding layers). */
export function layerMask(mode: AttentionMode, layerType: LayerType, window: number | null): MaskPredicate {
  return rulePredicate({ ...layerRule(mode, layerType, window), keyMask: null });
}
