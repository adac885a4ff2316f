/**
 * Causal-LM objective and held-out perplexity.
 *
 * HF `ForCausalLMLoss` semantics: logits at position t predict the token at t+1; the mean is over the
 * targets that count (weights, see pack.ts `targetWeights`). Perplexity = exp(total NLL / target count)
 * over all counted held-out targets (not a mean of per-batch perplexities).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GemmaModel } from '../models/gemma.js';
import { tokenNllSum } from '../nn/cross_entropy.js';
import { throwIfAborted, type RunControl } from '../progress/index.js';
import { targetWeights, type PackedSequences, type SpecialIds } from './pack.js';

/**
 * Summed NLL and number of counted targets.
 * logits [B, T, V]; ids [B, T] int32; weights [B, T] (weights[b][t] = 1 when ids[b][t] is a target; t = 0 ignored).
 */
export function causalLmNll(logits: tf.Tensor3D, ids: tf.Tensor2D, weights: tf.Tensor2D): { sum: tf.Scalar; count: tf.Scalar } {
  return tf.tidy(() => {
    const [B, T, V] = logits.shape;
    const N = B * (T - 1);
    const x = logits.slice([0, 0, 0], [B, T - 1, V]).reshape([N, V]) as tf.Tensor2D; // [N, V]
    const target = ids.slice([0, 1], [B, T - 1]).reshape([N]).toInt() as tf.Tensor1D; // [N]
    const w = weights.slice([0, 1], [B, T - 1]).reshape([N]).toFloat() as tf.Tensor1D;
    return { sum: tokenNllSum(x, target, w), count: tf.sum(w) as tf.Scalar };
  });
}

/** Mean next-token cross-entropy over counted targets (differentiable). */
export function causalLmLoss(logits: tf.Tensor3D, ids: tf.Tensor2D, weights: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const { sum, count } = causalLmNll(logits, ids, weights);
    return tf.div(sum, tf.maximum(count, 1)) as tf.Scalar;
  });
}

/** Rows of a packed set as model inputs: ids [B][T], attention mask [B][T], target weights [B][T]. */
export function batchRows(packed: PackedSequences, indices: readonly number[], specials: SpecialIds): { ids: number[][]; mask: number[][]; weights: number[][] } {
  const ids: number[][] = [];
  const mask: number[][] = [];
  const weights: number[][] = [];
  for (const i of indices) {
    const seq = packed.sequence(i);
    const n = packed.length(i);
    ids.push(Array.from(seq));
    mask.push(Array.from(seq, (_, t) => (t < n ? 1 : 0)));
    weights.push(targetWeights(seq, n, specials));
  }
  return { ids, mask, weights };
}

/** Loss of the model on packed rows (what the trainer differentiates). */
export function modelLoss(model: Pick<GemmaModel, 'forward'>, rows: { ids: number[][]; mask: number[][]; weights: number[][] }, o: { training?: boolean; dropout?: number; seed?: number } = {}): tf.Scalar {
  return tf.tidy(() => {
    const rate = o.dropout ?? 0;
    const { logits } = model.forward(rows.ids, {
      attentionMask: rows.mask,
      attention: 'causal',
      logits: true,
      training: (o.training ?? false) && rate > 0,
      dropout: { embedding: rate, attention: rate, residual: rate },
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    });
    const T = rows.ids[0]?.length ?? 0;
    return causalLmLoss(logits as tf.Tensor3D, tf.tensor2d(rows.ids, [rows.ids.length, T], 'int32'), tf.tensor2d(rows.weights, [rows.ids.length, T], 'float32'));
  });
}

export interface NllTotal {
  /** Summed NLL (nats) over the counted targets. */
  readonly nll: number;
  readonly tokens: number;
}

export const perplexity = (t: NllTotal): number => Math.exp(t.nll / t.tokens);

export interface EvalOptions extends RunControl {
  /** Sequences per forward (default 8). */
  readonly batchSize?: number;
  /** Which sequences (default all, in order). */
  readonly indices?: readonly number[];
}

/** Total NLL of `model` over packed sequences; sums in float64 on the host. */
export async function evaluateNll(model: Pick<GemmaModel, 'forward'>, packed: PackedSequences, specials: SpecialIds, o: EvalOptions = {}): Promise<NllTotal> {
  const all = o.indices ?? Array.from({ length: packed.count }, (_, i) => i);
  const bs = o.batchSize ?? 8;
  let nll = 0;
  let tokens = 0;
  for (let s = 0; s < all.length; s += bs) {
    throwIfAborted(o.signal, s);
    const rows = batchRows(packed, all.slice(s, s + bs), specials);
    const T = packed.seqLen;
    const B = rows.ids.length;
    const [sum, count] = tf.tidy(() => {
      const { logits } = model.forward(rows.ids, { attentionMask: rows.mask, attention: 'causal', logits: true });
      const r = causalLmNll(logits as tf.Tensor3D, tf.tensor2d(rows.ids, [B, T], 'int32'), tf.tensor2d(rows.weights, [B, T], 'float32'));
      return [r.sum, r.count];
    });
    nll += (await sum.data())[0] as number;
    tokens += (await count.data())[0] as number;
    tf.dispose([sum, count]);
    o.onProgress?.({ phase: 'eval', done: Math.min(all.length, s + bs), total: all.length });
  }
  return { nll, tokens };
}

/**
 * Unigram baseline: token frequencies of the training stream (bos excluded, add-one smoothed over the
 * vocabulary), scored on exactly the targets `evaluateNll` counts. Float64 throughout.
 */
export function unigramNll(trainStream: Int32Array, vocabSize: number, heldout: PackedSequences, specials: SpecialIds, indices?: readonly number[]): NllTotal {
  const counts = new Float64Array(vocabSize).fill(1);
  let total = vocabSize;
  for (const id of trainStream) {
    if (id === specials.bosId) continue;
    counts[id] = (counts[id] as number) + 1;
    total += 1;
  }
  let nll = 0;
  let tokens = 0;
  for (const i of indices ?? Array.from({ length: heldout.count }, (_, k) => k)) {
    const seq = heldout.sequence(i);
    const w = targetWeights(seq, heldout.length(i), specials);
    for (let t = 0; t < seq.length; t++) {
      if (w[t] === 0) continue;
      nll -= Math.log((counts[seq[t] as number] as number) / total);
      tokens += 1;
    }
  }
  return { nll, tokens };
}
