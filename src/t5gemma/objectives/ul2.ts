/**
 * UL2 mixture-of-denoisers objective (Tay et al. 2022), as used to adapt T5Gemma (paper §3.3).
 *
 * Neither T5Gemma paper documents sentinel or mode tokens for the Gemma vocabulary (models.md §4.3),
 * so this module states its own, using Gemma's reserved `<unused*>` ids (7 = `<unused0>` … 105 =
 * `<unused98>`), which the tokenizer never produces from text:
 *   mode tokens  [R] = 7 (`<unused0>`), [X] = 8 (`<unused1>`), [S] = 9 (`<unused2>`)
 *   sentinels    sentinel k = 10 + k (`<unused3+k>`), k = 0..95  (96 sentinels)
 * A sequence that would need more spans than there are sentinels gets fewer, longer spans (the
 * corrupted-token count is kept).
 *
 * Default mixture (T5Gemma 2 paper §3.1, the only stated one): span corruption (μ=3, r=0.15) [R],
 * (μ=12, r=0.5) [X], (μ=32, r=0.15) [X], (μ=32, r=0.5) [X], and the sequential denoiser
 * (target = last 75% of the tokens) [S], sampled with weights 1:1:1:1:4.
 *
 * Layouts (tokens t, mode token m, sentinels s0, s1, …; noise spans chosen by the Rng):
 *   span corruption: inputIds = [m, kept…, s0, kept…, s1, kept…]   (each noise span -> one sentinel)
 *                    labels   = [s0, span0…, s1, span1…, eos]
 *   sequential [S]:  inputIds = [m, t[0..s)],  labels = [t[s..n), eos],  s = n - round(r·n)
 *   decoderInputIds = [bos, ...labels[:-1]] in both cases.
 */
import { ConfigError } from '../../errors.js';
import type { Rng } from '../../rng/index.js';
import { type Seq2SeqExample, type SpecialIds, GEMMA_SPECIAL_IDS, teacherForce } from './seq2seq.js';

export type DenoiserMode = 'R' | 'X' | 'S';

export interface SpanDenoiser {
  readonly kind: 'span';
  readonly mode: DenoiserMode;
  /** Mean noise-span length μ. */
  readonly meanSpan: number;
  /** Fraction r of tokens corrupted. */
  readonly rate: number;
  /** Relative sampling weight in the mixture. */
  readonly weight: number;
}

export interface SequentialDenoiser {
  readonly kind: 'sequential';
  readonly mode: DenoiserMode;
  /** Fraction of the sequence (at its end) that becomes the target. */
  readonly rate: number;
  readonly weight: number;
}

export type Denoiser = SpanDenoiser | SequentialDenoiser;

export interface Ul2Tokens {
  readonly mode: Readonly<Record<DenoiserMode, number>>;
  /** Id of sentinel k (k = 0 … maxSentinels-1). */
  readonly firstSentinel: number;
  readonly maxSentinels: number;
}

/** The ids stated in the module comment. */
export const GEMMA_UL2_TOKENS: Ul2Tokens = { mode: { R: 7, X: 8, S: 9 }, firstSentinel: 10, maxSentinels: 96 };

/** T5Gemma 2's mixture, weights 1:1:1:1:4. */
export const T5GEMMA2_MIXTURE: readonly Denoiser[] = [
  { kind: 'span', mode: 'R', meanSpan: 3, rate: 0.15, weight: 1 },
  { kind: 'span', mode: 'X', meanSpan: 12, rate: 0.5, weight: 1 },
  { kind: 'span', mode: 'X', meanSpan: 32, rate: 0.15, weight: 1 },
  { kind: 'span', mode: 'X', meanSpan: 32, rate: 0.5, weight: 1 },
  { kind: 'sequential', mode: 'S', rate: 0.75, weight: 4 },
];

export interface Ul2Options {
  readonly mixture?: readonly Denoiser[];
  readonly tokens?: Ul2Tokens;
  readonly special?: SpecialIds;
}

/** Picks a denoiser with probability proportional to its weight. */
export function sampleDenoiser(mixture: readonly Denoiser[], rng: Rng): Denoiser {
  const total = mixture.reduce((s, d) => s + d.weight, 0);
  if (!(total > 0) || mixture.some((d) => !(d.weight >= 0))) throw new ConfigError('mixture weights must be >= 0 with a positive sum', undefined, 'mixture');
  let u = rng.next() * total;
  for (const d of mixture) {
    u -= d.weight;
    if (u < 0) return d;
  }
  return mixture[mixture.length - 1] as Denoiser;
}

/** Splits `total` items into `parts` positive segment lengths, uniformly over compositions. */
function randomSegmentation(total: number, parts: number, rng: Rng): number[] {
  // Choose parts-1 distinct cut points in 1..total-1.
  const cuts = rng
    .shuffle(Array.from({ length: total - 1 }, (_, i) => i + 1))
    .slice(0, parts - 1)
    .sort((a, b) => a - b);
  const bounds = [0, ...cuts, total];
  return bounds.slice(1).map((b, i) => b - (bounds[i] as number));
}

/**
 * Noise mask for n tokens (true = corrupted), T5's `random_spans_noise_mask`: round(n·r) noise tokens
 * (at least 1, at most n-1) in round(noise/μ) spans (at least 1, at most maxSpans), alternating
 * kept/noise segments starting with a kept one.
 */
export function spanNoiseMask(n: number, meanSpan: number, rate: number, maxSpans: number, rng: Rng): boolean[] {
  if (n < 2) throw new ConfigError(`span corruption needs at least 2 tokens, got ${n}`, undefined, 'tokens');
  if (!(rate > 0 && rate < 1) || !(meanSpan > 0)) throw new ConfigError(`bad denoiser (μ=${meanSpan}, r=${rate})`, undefined, 'mixture');
  const noise = Math.min(n - 1, Math.max(1, Math.round(n * rate)));
  const spans = Math.min(maxSpans, noise, n - noise, Math.max(1, Math.round(noise / meanSpan)));
  const noiseLens = randomSegmentation(noise, spans, rng);
  const keptLens = randomSegmentation(n - noise, spans, rng);
  const mask: boolean[] = [];
  for (let i = 0; i < spans; i++) {
    for (let k = 0; k < (keptLens[i] as number); k++) mask.push(false);
    for (let k = 0; k < (noiseLens[i] as number); k++) mask.push(true);
  }
  return mask;
}

/** Applies one denoiser to raw token ids (no specials inside `tokens`). */
export function ul2Example(tokens: readonly number[], denoiser: Denoiser, rng: Rng, o: Ul2Options = {}): Seq2SeqExample {
  const special = o.special ?? GEMMA_SPECIAL_IDS;
  const tok = o.tokens ?? GEMMA_UL2_TOKENS;
  const mode = tok.mode[denoiser.mode];
  const n = tokens.length;
  if (denoiser.kind === 'sequential') {
    if (n < 2) throw new ConfigError(`the sequential denoiser needs at least 2 tokens, got ${n}`, undefined, 'tokens');
    const targetLen = Math.min(n - 1, Math.max(1, Math.round(n * denoiser.rate)));
    const s = n - targetLen;
    return { inputIds: [mode, ...tokens.slice(0, s)], ...teacherForce([...tokens.slice(s), special.eos], special.bos) };
  }
  const mask = spanNoiseMask(n, denoiser.meanSpan, denoiser.rate, tok.maxSentinels, rng);
  const inputIds = [mode];
  const target: number[] = [];
  let span = -1;
  for (let i = 0; i < n; i++) {
    if (mask[i]) {
      if (i === 0 || !mask[i - 1]) {
        span++;
        inputIds.push(tok.firstSentinel + span);
        target.push(tok.firstSentinel + span);
      }
      target.push(tokens[i] as number);
    } else inputIds.push(tokens[i] as number);
  }
  target.push(special.eos);
  return { inputIds, ...teacherForce(target, special.bos) };
}

/** Samples a denoiser from the mixture (default T5GEMMA2_MIXTURE) and applies it. */
export function ul2MixtureExample(tokens: readonly number[], rng: Rng, o: Ul2Options = {}): Seq2SeqExample & { denoiser: Denoiser } {
  const denoiser = sampleDenoiser(o.mixture ?? T5GEMMA2_MIXTURE, rng);
  return { ...ul2Example(tokens, denoiser, rng, o), denoiser };
}
