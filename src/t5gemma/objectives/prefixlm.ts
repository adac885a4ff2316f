/**
 * PrefixLM objective (T5Gemma paper §3.3): a token sequence is split once; the encoder reads the
 * prefix, the decoder is trained to continue it (loss on the suffix only).
 *
 * Layout for tokens t[0..n) split at s:
 *   inputIds        = t[0..s)
 *   labels          = t[s..n) (+ eos when `appendEos`)
 *   decoderInputIds = [bos, ...labels[:-1]]
 * The prefix never appears in the labels, so no loss is taken on it; padding labels are IGNORE.
 */
import { ConfigError } from '../../errors.js';
import type { Rng } from '../../rng/index.js';
import { type Seq2SeqExample, type SpecialIds, GEMMA_SPECIAL_IDS, teacherForce } from './seq2seq.js';

export interface PrefixLmOptions {
  /**
   * Where to split: 'half' = floor(n/2) (the paper's equal halves), 'random' = uniform in
   * [minPrefix, n - minTarget] from the given Rng, or a fixed prefix length.
   */
  readonly split?: 'half' | 'random' | number;
  readonly minPrefix?: number;
  readonly minTarget?: number;
  /** Append eos to the target (default true: the decoder learns to stop). */
  readonly appendEos?: boolean;
  readonly special?: SpecialIds;
}

/** The split point s for a sequence of n tokens (prefix = t[0..s)). */
export function prefixSplitPoint(n: number, o: PrefixLmOptions, rng?: Rng): number {
  const minPrefix = o.minPrefix ?? 1;
  const minTarget = o.minTarget ?? 1;
  if (n < minPrefix + minTarget) {
    throw new ConfigError(`sequence of ${n} tokens is shorter than minPrefix + minTarget = ${minPrefix + minTarget}`, undefined, 'tokens');
  }
  const split = o.split ?? 'half';
  let s: number;
  if (split === 'half') s = Math.floor(n / 2);
  else if (split === 'random') {
    if (!rng) throw new ConfigError("split 'random' needs an Rng", undefined, 'split');
    s = minPrefix + rng.int(n - minTarget - minPrefix + 1);
  } else s = split;
  if (!(Number.isInteger(s) && s >= minPrefix && n - s >= minTarget)) {
    throw new ConfigError(`split ${s} leaves prefix/target outside [${minPrefix}, ${n - minTarget}] for ${n} tokens`, undefined, 'split');
  }
  return s;
}

/** One PrefixLM example from raw token ids (no specials are added to the prefix). */
export function prefixLmExample(tokens: readonly number[], o: PrefixLmOptions = {}, rng?: Rng): Seq2SeqExample {
  const special = o.special ?? GEMMA_SPECIAL_IDS;
  const s = prefixSplitPoint(tokens.length, o, rng);
  const target = [...tokens.slice(s), ...((o.appendEos ?? true) ? [special.eos] : [])];
  return { inputIds: tokens.slice(0, s), ...teacherForce(target, special.bos) };
}
