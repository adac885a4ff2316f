/**
 * Decoding with an encoder-decoder (T5Gemma, T5Gemma 2). The encoder runs once; decode.ts's search
 * (greedy, beam, sampling) calls a step function for the next-token log-probabilities.
 *
 * The default step function keeps a KV cache (models/kvcache.ts): the encoder-side keys/values of
 * every decoder layer are projected once, and each step runs the decoder on the one new token per
 * prefix, reusing the self-attention keys/values of the prefix. The search only hands over prefixes,
 * so the cache finds each prefix's parent among the previous step's prefixes (beam reordering, rows
 * that finished) and gathers those rows; a prefix with no parent (the first step) is prefilled whole.
 * `cache: false` reruns the decoder on every whole prefix instead (O(T^2); kept as the reference).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DecoderCache } from '../models/kvcache.js';
import type { T5GemmaModel } from '../models/t5gemma.js';
import type { T5Gemma2Model } from '../models/t5gemma2.js';
import { defaultMask } from '../models/seq2seq_inputs.js';
import { ConfigError } from '../errors.js';
import type { RunControl } from '../progress/index.js';
import { type Hypothesis, type StepFn, beamSearch, greedyDecode, sampleDecode } from './decode.js';

export type EncoderDecoderModel = T5GemmaModel | T5Gemma2Model;

/** [N, T, V] logits -> log-softmax of position `at` as one [V] array per row. */
async function lastLogProbs(logits: tf.Tensor3D, at: number): Promise<Float32Array[]> {
  const logp = tf.tidy(() => tf.logSoftmax(tf.squeeze(tf.slice(logits, [0, at, 0], [-1, 1, -1]), [1])) as tf.Tensor2D);
  const [N, V] = logp.shape;
  const data = (await logp.data()) as Float32Array;
  logp.dispose();
  return Array.from({ length: N }, (_, i) => data.subarray(i * V, (i + 1) * V));
}

/** Uncached: the decoder reruns on whole prefixes. `dispose()` frees the encoder states. */
export function uncachedStepFn(model: EncoderDecoderModel, inputIds: readonly (readonly number[])[], attentionMask: readonly (readonly number[])[]): { step: StepFn; dispose(): void } {
  const enc = tf.keep(model.encode(inputIds, attentionMask));
  const step: StepFn = async (rows, prefixes) => {
    const T = (prefixes[0] as readonly number[]).length;
    if (prefixes.some((p) => p.length !== T)) throw new RangeError('uncachedStepFn: prefixes of one step must have equal lengths');
    const logits = tf.tidy(() => {
      const encRows = tf.gather(enc, tf.tensor1d([...rows], 'int32')) as tf.Tensor3D; // [N, S, D]
      const mask = rows.map((r) => [...(attentionMask[r] as readonly number[])]);
      return model.decode(prefixes, encRows, mask).logits as tf.Tensor3D;
    });
    try {
      return await lastLogProbs(logits, T - 1);
    } finally {
      logits.dispose();
    }
  };
  return { step, dispose: () => enc.dispose() };
}

const key = (row: number, tokens: readonly number[]): string => `${row}|${tokens.join(',')}`;

/** KV-cached step function (see the file comment). `dispose()` frees the cache. */
export function cachedStepFn(model: EncoderDecoderModel, inputIds: readonly (readonly number[])[], attentionMask: readonly (readonly number[])[]): { step: StepFn; dispose(): void } {
  const enc = model.encode(inputIds, attentionMask);
  const root: DecoderCache = model.startDecoding(enc, attentionMask);
  enc.dispose();
  let last: { cache: DecoderCache; index: Map<string, number> } | null = null;
  const step: StepFn = async (rows, prefixes) => {
    const T = (prefixes[0] as readonly number[]).length;
    if (prefixes.some((p) => p.length !== T)) throw new RangeError('cachedStepFn: prefixes of one step must have equal lengths');
    const parents = last !== null && last.cache.length === T - 1 ? prefixes.map((p, i) => last?.index.get(key(rows[i] as number, p.slice(0, -1)))) : null;
    let cache: DecoderCache;
    let ids: number[][];
    const prev = last?.cache ?? null;
    if (prev !== null && parents !== null && parents.every((x) => x !== undefined)) {
      // Same rows in the same order (greedy, sampling until a row finishes): hand the cache over as is.
      const same = parents.length === prev.rows && parents.every((x, i) => x === i);
      cache = same ? prev : prev.select(parents as number[]);
      if (!same) prev.dispose();
      ids = prefixes.map((p) => [p[T - 1] as number]);
    } else {
      cache = root.select(rows);
      prev?.dispose();
      ids = prefixes.map((p) => [...p]);
    }
    last = null;
    const r = model.decodeStep(cache, ids);
    last = { cache: r.cache, index: new Map(prefixes.map((p, i) => [key(rows[i] as number, p), i])) };
    try {
      return await lastLogProbs(r.logits, ids[0]!.length - 1);
    } finally {
      r.logits.dispose();
    }
  };
  return {
    step,
    dispose: () => {
      last?.cache.dispose();
      root.dispose();
    },
  };
}

export interface GenerateOptions extends RunControl {
  readonly maxNewTokens: number;
  /** 1 = greedy (default); > 1 = beam search (no sampling). */
  readonly numBeams?: number;
  /** α of beam scores logP / |y|^α (decode.ts); default 1. */
  readonly lengthPenalty?: number;
  /** Sample instead of taking the argmax (greedy only). */
  readonly sample?: { readonly seed: number; readonly temperature?: number; readonly topK?: number; readonly topP?: number };
  /** KV cache (default true); false reruns the decoder on whole prefixes. */
  readonly cache?: boolean;
}

/**
 * Best hypothesis per row; decoding starts from the config's bos and stops at its eos. Without an
 * attention mask, pad ids are the padding (HF's default); a row of only pad ids is an InputError.
 */
export async function generate(
  model: EncoderDecoderModel,
  inputIds: readonly (readonly number[])[],
  attentionMask: readonly (readonly number[])[] | undefined,
  o: GenerateOptions,
): Promise<Hypothesis[]> {
  const mask = attentionMask ?? defaultMask(inputIds, model.config.padTokenId);
  const { step, dispose } = (o.cache ?? true) ? cachedStepFn(model, inputIds, mask) : uncachedStepFn(model, inputIds, mask);
  const base = {
    start: model.config.bosTokenId,
    eos: model.config.eosTokenId,
    maxNewTokens: o.maxNewTokens,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  };
  try {
    const beams = o.numBeams ?? 1;
    if (o.sample) {
      if (beams !== 1) throw new ConfigError('sampling and beam search are exclusive: pass numBeams 1 with sample', undefined, 'numBeams');
      return await sampleDecode(step, inputIds.length, { ...base, ...o.sample });
    }
    if (beams === 1) return await greedyDecode(step, inputIds.length, base);
    const all = await beamSearch(step, inputIds.length, { ...base, numBeams: beams, lengthPenalty: o.lengthPenalty ?? 1 });
    return all.map((h) => h[0] as Hypothesis);
  } finally {
    dispose();
  }
}
