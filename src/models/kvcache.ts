/**
 * The decoding state of an encoder-decoder (T5Gemma, T5Gemma 2): per decoder layer the self-attention
 * keys/values of the tokens decoded so far, and the encoder-side keys/values projected once.
 * Rows can be selected (beam reordering, finished rows dropped) without recomputing anything.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerType } from '../config/gemma.js';
import type { AttentionSpec, AttentionWeights } from '../nn/attention.js';
import { type LayerKv, projectKv, selectRows } from '../nn/cached_attention.js';
import { layerMask, maskBias, padding } from '../nn/masks.js';
import { ropeTables, type RopeTables } from '../nn/rope.js';
import type { GemmaStackConfig } from '../config/gemma.js';
import { maskRows, tokenRows } from './base.js';

export class DecoderCache {
  constructor(
    /** t: decoder tokens already cached (their positions are 0..t-1). */
    readonly length: number,
    /** Per layer: self keys/values [N, G, t, K] (null before the first step). */
    readonly self: readonly (LayerKv | null)[],
    /** Per layer: encoder-side keys/values [N, G, S, K]. */
    readonly cross: readonly LayerKv[],
    /** [N][S] encoder padding mask of each row. */
    readonly encoderMask: readonly (readonly number[])[],
    /** Cross-attention biases by query count (built once per row set; moves with the cache). */
    private readonly biases: Map<number, tf.Tensor4D> = new Map(),
  ) {}

  /** The cache after a decoder step: same rows and encoder side, new self keys/values. */
  advance(n: number, self: readonly LayerKv[]): DecoderCache {
    return new DecoderCache(this.length + n, self, this.cross, this.encoderMask, this.biases);
  }

  get rows(): number {
    return this.encoderMask.length;
  }

  /** A new cache holding rows `rows` (repeats allowed) of this one; this cache stays valid. */
  select(rows: readonly number[]): DecoderCache {
    const idx = tf.tensor1d([...rows], 'int32');
    try {
      return new DecoderCache(
        this.length,
        this.self.map((kv) => (kv === null ? null : selectRows(kv, idx))),
        this.cross.map((kv) => selectRows(kv, idx)),
        rows.map((r) => this.encoderMask[r] as readonly number[]),
      );
    } finally {
      idx.dispose();
    }
  }

  /** Additive bias [N, 1, n, S] over encoder keys (pads invisible), for n new queries. */
  crossBias(n: number): tf.Tensor4D {
    let b = this.biases.get(n);
    if (!b) {
      const S = (this.encoderMask[0] as readonly number[]).length;
      b = tf.keep(maskBias(padding(this.encoderMask), this.rows, n, S));
      this.biases.set(n, b);
    }
    return b;
  }

  dispose(): void {
    for (const b of this.biases.values()) b.dispose();
    this.biases.clear();
    for (const kv of this.self) if (kv) tf.dispose(kv);
    for (const kv of this.cross) tf.dispose(kv);
  }
}

/**
 * Self-attention bias [N, 1, n, t+n] and RoPE tables for n new decoder tokens at positions t..t+n-1:
 * causal, plus the sliding window on sliding layers. Shared by the layers of one type; call inside tf.tidy.
 */
export function stepTables(c: GemmaStackConfig, t: number, n: number, N: number): (lt: LayerType) => { bias: tf.Tensor4D; rope: RopeTables } {
  const positions = Array.from({ length: n }, (_, i) => t + i);
  const perType = new Map<LayerType, { bias: tf.Tensor4D; rope: RopeTables }>();
  return (lt) => {
    let e = perType.get(lt);
    if (!e) {
      const rule = layerMask('causal', lt, c.slidingWindow);
      e = { bias: maskBias((b, i, j) => rule(b, i + t, j), N, n, t + n), rope: ropeTables(positions, c.headDim, c.rope[lt]) };
      perType.set(lt, e);
    }
    return e;
  };
}

/**
 * Encoder states [B, S, width] and their padding mask [B][S] -> an empty cache holding each decoder
 * layer's encoder-side keys/values [B, G, S, K], projected once with that layer's `layerWeights`.
 */
export function encoderKvCache(
  encoderHiddenStates: tf.Tensor3D,
  attentionMask: readonly (readonly number[])[],
  spec: AttentionSpec,
  width: number,
  layerWeights: (i: number) => AttentionWeights,
  numLayers: number,
): DecoderCache {
  const [B, S, D] = encoderHiddenStates.shape;
  if (D !== width) throw new RangeError(`encoderHiddenStates: shape [${encoderHiddenStates.shape.join(', ')}], expected [B, S, ${width}]`);
  const mask = maskRows(attentionMask, 'attentionMask', B, S);
  const cross: LayerKv[] = [];
  for (let i = 0; i < numLayers; i++) cross.push(projectKv(encoderHiddenStates, layerWeights(i), spec, null));
  return new DecoderCache(0, cross.map(() => null), cross, mask);
}

/** Checked decoder ids [N][n] for one step on `cache` (one row per cached row), and t, the tokens already cached. */
export function stepIds(decoderIds: readonly (readonly number[])[], vocabSize: number, cache: DecoderCache): { ids: number[][]; N: number; n: number; t: number } {
  const ids = tokenRows(decoderIds, 'decoderInputIds', vocabSize);
  if (ids.length !== cache.rows) throw new RangeError(`decoderInputIds: ${ids.length} rows, the cache holds ${cache.rows}`);
  return { ids, N: ids.length, n: (ids[0] as number[]).length, t: cache.length };
}

/** What cached generation needs from an encoder-decoder model. */
export interface CachedSeq2Seq {
  readonly config: { readonly bosTokenId: number; readonly eosTokenId: number; readonly padTokenId: number; readonly vocabSize: number };
  /** inputIds [B][S], attentionMask [B][S] -> encoder states [B, S, D]. */
  encode(inputIds: readonly (readonly number[])[], attentionMask?: readonly (readonly number[])[]): tf.Tensor3D;
  /** Projects the encoder-side keys/values of every decoder layer once: an empty cache for B rows. */
  startDecoding(encoderHiddenStates: tf.Tensor3D, attentionMask: readonly (readonly number[])[]): DecoderCache;
  /**
   * Appends ids [N][n] at positions t..t+n-1: logits [N, n, V] and the new cache. `cache` is consumed
   * (its self tensors are disposed; the encoder-side ones move to the new cache).
   */
  decodeStep(cache: DecoderCache, ids: readonly (readonly number[])[]): { logits: tf.Tensor3D; cache: DecoderCache };
}
