/**
 * Decoding with a T5Gemma model: the encoder runs once, then decode.ts's search calls a step
 * function that re-runs the decoder on the whole prefix (no KV cache: simple and exact; the cost is
 * O(T^2) decoder positions, fine for the short targets of classification-as-text).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { T5GemmaModel } from '../models/t5gemma.js';
import type { RunControl } from '../progress/index.js';
import { type Hypothesis, type StepFn, beamSearch, greedyDecode } from './decode.js';

/**
 * A step function over an encoded batch. `inputIds`/`attentionMask` [B][S] (right padding). The
 * caller must call `dispose()` (it holds the encoder states).
 */
export function t5gemmaStepFn(model: T5GemmaModel, inputIds: readonly (readonly number[])[], attentionMask: readonly (readonly number[])[]): { step: StepFn; dispose(): void } {
  const enc = tf.keep(model.encode(inputIds, attentionMask));
  const step: StepFn = async (rows, prefixes) => {
    const T = (prefixes[0] as readonly number[]).length;
    if (prefixes.some((p) => p.length !== T)) throw new RangeError('t5gemmaStepFn: prefixes of one step must have equal lengths');
    const logp = tf.tidy(() => {
      const idx = tf.tensor1d([...rows], 'int32');
      const encRows = tf.gather(enc, idx) as tf.Tensor3D; // [N, S, D_enc]
      const mask = rows.map((r) => [...(attentionMask[r] as readonly number[])]);
      const { logits } = model.decode(prefixes, encRows, mask);
      const last = tf.squeeze(tf.slice(logits as tf.Tensor3D, [0, T - 1, 0], [-1, 1, -1]), [1]); // [N, V]
      return tf.logSoftmax(last) as tf.Tensor2D;
    });
    const data = (await logp.data()) as Float32Array;
    const V = logp.shape[1];
    logp.dispose();
    return rows.map((_, i) => data.subarray(i * V, (i + 1) * V));
  };
  return { step, dispose: () => enc.dispose() };
}

export interface GenerateOptions extends RunControl {
  readonly maxNewTokens: number;
  /** 1 = greedy (default). */
  readonly numBeams?: number;
  /** α of beam scores logP / |y|^α (decode.ts); default 1. */
  readonly lengthPenalty?: number;
}

/** Best hypothesis per row; decoding starts from the config's bos and stops at its eos. */
export async function generate(
  model: T5GemmaModel,
  inputIds: readonly (readonly number[])[],
  attentionMask: readonly (readonly number[])[],
  o: GenerateOptions,
): Promise<Hypothesis[]> {
  const { step, dispose } = t5gemmaStepFn(model, inputIds, attentionMask);
  const base = {
    start: model.config.bosTokenId,
    eos: model.config.eosTokenId,
    maxNewTokens: o.maxNewTokens,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  };
  try {
    if ((o.numBeams ?? 1) === 1) return await greedyDecode(step, inputIds.length, base);
    const all = await beamSearch(step, inputIds.length, { ...base, numBeams: o.numBeams as number, lengthPenalty: o.lengthPenalty ?? 1 });
    return all.map((h) => h[0] as Hypothesis);
  } finally {
    dispose();
  }
}
