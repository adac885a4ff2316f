/**
 * Greedy and beam-search decoding over a generic step function, so the search is tested on hand-made
 * distributions and reused by any model (T5Gemma's adapter lives in generate.ts).
 *
 * Scores: a hypothesis y (generated tokens, eos included when it stopped) has
 * logP(y) = Σ log p(y_t | y_<t) and beam score logP(y) / |y|^α (α = lengthPenalty, HF's
 * convention; α = 0 ranks by total log-probability, α > 0 favours longer outputs).
 * A hypothesis ends when it emits eos or reaches maxNewTokens.
 */
import { ConfigError } from '../errors.js';
import { type RunControl, throwIfAborted } from '../progress/index.js';
import { Rng } from '../rng/index.js';

/**
 * Log-probabilities of the next token. `rows[i]` is the example (e.g. encoder row) that prefix i
 * belongs to; `prefixes[i]` starts with the decoder start token. Returns one [V] array per prefix.
 */
export type StepFn = (rows: readonly number[], prefixes: readonly (readonly number[])[]) => Promise<readonly ArrayLike<number>[]>;

export interface DecodeOptions extends RunControl {
  /** Decoder start token (T5Gemma: bos = 2). */
  readonly start: number;
  readonly eos: number;
  readonly maxNewTokens: number;
}

export interface Hypothesis {
  /** Generated tokens, without the start token, with eos if it stopped on eos. */
  readonly tokens: number[];
  /** Σ log p of the generated tokens. */
  readonly logProb: number;
  /** Ranking score: logProb / |tokens|^α. */
  readonly score: number;
}

function checkOptions(o: DecodeOptions): void {
  if (!(Number.isInteger(o.maxNewTokens) && o.maxNewTokens >= 1)) {
    throw new ConfigError(`must be a positive integer, got ${o.maxNewTokens}`, undefined, 'maxNewTokens');
  }
}

function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if ((x[i] as number) > (x[best] as number)) best = i;
  return best;
}

/**
 * One token per live row per step until eos or `maxNewTokens`: `pick(row, logp [V])` chooses the
 * token; `logProb` sums the model's log-probabilities of the chosen tokens.
 */
async function rowwiseDecode(
  step: StepFn,
  numRows: number,
  o: DecodeOptions,
  phase: string,
  pick: (row: number, lp: ArrayLike<number>) => number,
): Promise<Hypothesis[]> {
  const out = Array.from({ length: numRows }, () => ({ tokens: [] as number[], logProb: 0, done: false }));
  for (let t = 0; t < o.maxNewTokens; t++) {
    throwIfAborted(o.signal, t);
    const alive = out.map((h, i) => (h.done ? -1 : i)).filter((i) => i >= 0);
    if (alive.length === 0) break;
    const logp = await step(
      alive,
      alive.map((i) => [o.start, ...(out[i] as { tokens: number[] }).tokens]),
    );
    alive.forEach((row, k) => {
      const h = out[row] as { tokens: number[]; logProb: number; done: boolean };
      const lp = logp[k] as ArrayLike<number>;
      const tok = pick(row, lp);
      h.tokens.push(tok);
      h.logProb += lp[tok] as number;
      if (tok === o.eos) h.done = true;
    });
    o.onProgress?.({ phase, done: t + 1, total: o.maxNewTokens });
  }
  return out.map((h) => ({ tokens: h.tokens, logProb: h.logProb, score: h.logProb }));
}

/** Greedy decoding of `numRows` examples in one batch per step. */
export async function greedyDecode(step: StepFn, numRows: number, o: DecodeOptions): Promise<Hypothesis[]> {
  checkOptions(o);
  return rowwiseDecode(step, numRows, o, 'decode', (_row, lp) => argmax(lp));
}

export interface BeamOptions extends DecodeOptions {
  readonly numBeams: number;
  /** α in logP / |y|^α; default 1 (HF's default). */
  readonly lengthPenalty?: number;
}

/** Indices of the n largest values, largest first (one pass; n is small next to a 256k vocabulary). */
function topIndices(x: ArrayLike<number>, n: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    if (idx.length === n && v <= (x[idx[n - 1] as number] as number)) continue;
    let j = idx.length < n ? idx.length : n - 1;
    while (j > 0 && (x[idx[j - 1] as number] as number) < v) {
      idx[j] = idx[j - 1] as number;
      j--;
    }
    idx[j] = i;
  }
  return idx;
}

interface Beam {
  readonly tokens: number[];
  readonly logProb: number;
}

/**
 * Beam search per example: each step expands every alive beam, keeps the numBeams best unfinished
 * continuations and moves eos-ending ones (ranked among the top numBeams candidates) to the finished
 * list. It stops when numBeams hypotheses are finished and no alive beam can still beat the worst of
 * them (log-probs only decrease, so an alive beam's best reachable score is logP / maxLen^α for α > 0
 * and logP for α = 0), or at maxNewTokens (alive beams then count as finished).
 * Returns, per example, the finished hypotheses best first (at most numBeams).
 */
export async function beamSearch(step: StepFn, numRows: number, o: BeamOptions): Promise<Hypothesis[][]> {
  checkOptions(o);
  const K = o.numBeams;
  if (!(Number.isInteger(K) && K >= 1)) throw new ConfigError(`must be a positive integer, got ${K}`, undefined, 'numBeams');
  const alpha = o.lengthPenalty ?? 1;
  if (!(alpha >= 0)) throw new ConfigError(`must be >= 0, got ${alpha}`, undefined, 'lengthPenalty');
  const score = (b: Beam): number => b.logProb / Math.pow(b.tokens.length, alpha);
  const alive: Beam[][] = Array.from({ length: numRows }, () => [{ tokens: [], logProb: 0 }]);
  const finished: Hypothesis[][] = Array.from({ length: numRows }, () => []);
  const done = new Array<boolean>(numRows).fill(false);
  const addFinished = (row: number, b: Beam): void => {
    const list = finished[row] as Hypothesis[];
    list.push({ tokens: b.tokens, logProb: b.logProb, score: score(b) });
    list.sort((a, c) => c.score - a.score);
    if (list.length > K) list.pop();
  };

  for (let t = 0; t < o.maxNewTokens; t++) {
    throwIfAborted(o.signal, t);
    const rows: number[] = [];
    const prefixes: number[][] = [];
    alive.forEach((beams, r) => {
      if (done[r]) return;
      for (const b of beams) {
        rows.push(r);
        prefixes.push([o.start, ...b.tokens]);
      }
    });
    if (rows.length === 0) break;
    const logp = await step(rows, prefixes);
    let k = 0;
    for (let r = 0; r < numRows; r++) {
      if (done[r]) continue;
      const beams = alive[r] as Beam[];
      const cands: Beam[] = [];
      for (const b of beams) {
        const lp = logp[k++] as ArrayLike<number>;
        // Only the 2K best tokens of a beam can survive (at most K of them are eos-finished).
        const top = topIndices(lp, 2 * K);
        for (const tok of top) cands.push({ tokens: [...b.tokens, tok], logProb: b.logProb + (lp[tok] as number) });
      }
      cands.sort((a, c) => c.logProb - a.logProb);
      const next: Beam[] = [];
      for (const [rank, c] of cands.entries()) {
        if (next.length >= K) break;
        if (c.tokens[c.tokens.length - 1] === o.eos) {
          if (rank < K) addFinished(r, c);
        } else next.push(c);
      }
      const last = t + 1 === o.maxNewTokens;
      if (last) for (const b of next) addFinished(r, b);
      alive[r] = next;
      const fin = finished[r] as Hypothesis[];
      const bestReachable = Math.max(
        ...next.map((b) => (alpha > 0 ? b.logProb / Math.pow(o.maxNewTokens, alpha) : b.logProb)),
      );
      if (last || next.length === 0 || (fin.length >= K && (fin[fin.length - 1] as Hypothesis).score >= bestReachable)) done[r] = true;
    }
    o.onProgress?.({ phase: 'beam', done: t + 1, total: o.maxNewTokens });
  }
  return finished;
}

export interface SampleOptions extends DecodeOptions {
  /** Logits are divided by it before sampling (> 0; default 1). */
  readonly temperature?: number;
  /** Keep only the k most likely tokens (0 or absent: all). */
  readonly topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (nucleus; 1 or absent: all). */
  readonly topP?: number;
  /** Seed of the draws; row r draws from its own stream, so a row's sample does not depend on the batch. */
  readonly seed: number;
}

/**
 * The tokens a draw may pick and their renormalised probabilities, after temperature, then top-k,
 * then top-p (HF's order). `logp` are the model's log-probabilities [V].
 */
export function samplingDistribution(logp: ArrayLike<number>, o: { temperature?: number; topK?: number; topP?: number }): { ids: number[]; probs: number[] } {
  const temp = o.temperature ?? 1;
  const k = o.topK ?? 0;
  const p = o.topP ?? 1;
  const ids = k > 0 && k < logp.length ? topIndices(logp, k) : Array.from({ length: logp.length }, (_, i) => i).sort((a, b) => (logp[b] as number) - (logp[a] as number));
  const top = (logp[ids[0] as number] as number) / temp;
  const w = ids.map((i) => Math.exp((logp[i] as number) / temp - top));
  let total = w.reduce((a, b) => a + b, 0);
  let keep = ids.length;
  if (p < 1) {
    let acc = 0;
    for (keep = 0; keep < ids.length; ) {
      acc += (w[keep] as number) / total;
      keep++;
      if (acc >= p) break;
    }
    total = w.slice(0, keep).reduce((a, b) => a + b, 0);
  }
  return { ids: ids.slice(0, keep), probs: w.slice(0, keep).map((x) => x / total) };
}

function checkSampling(o: SampleOptions): void {
  const t = o.temperature ?? 1;
  if (!(t > 0 && Number.isFinite(t))) throw new ConfigError(`must be a positive number, got ${t}`, undefined, 'temperature');
  const k = o.topK ?? 0;
  if (!(Number.isInteger(k) && k >= 0)) throw new ConfigError(`must be a non-negative integer, got ${k}`, undefined, 'topK');
  const p = o.topP ?? 1;
  if (!(p > 0 && p <= 1)) throw new ConfigError(`must be in (0, 1], got ${p}`, undefined, 'topP');
  if (!Number.isInteger(o.seed)) throw new ConfigError(`must be an integer, got ${o.seed}`, undefined, 'seed');
}

/**
 * Ancestral sampling of `numRows` examples in one batch per step. `logProb` sums the model's
 * log-probabilities of the drawn tokens (before temperature / truncation), as greedy does.
 */
export async function sampleDecode(step: StepFn, numRows: number, o: SampleOptions): Promise<Hypothesis[]> {
  checkOptions(o);
  checkSampling(o);
  const base = new Rng(o.seed);
  const rngs = Array.from({ length: numRows }, (_, r) => base.fork(`row ${r}`));
  return rowwiseDecode(step, numRows, o, 'sample', (row, lp) => {
    const dist = samplingDistribution(lp, o);
    let u = (rngs[row] as Rng).next();
    let pick = dist.ids.length - 1;
    for (let j = 0; j < dist.probs.length; j++) {
      u -= dist.probs[j] as number;
      if (u < 0) {
        pick = j;
        break;
      }
    }
    return dist.ids[pick] as number;
  });
}
