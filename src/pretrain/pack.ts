/**
 * Packing for causal-LM pretraining: documents become one token stream `bos d0 eos bos d1 eos ...`, cut into
 * consecutive sequences of exactly L tokens (a document may straddle two sequences; attention does cross
 * document boundaries inside a sequence, as in GPT-style packing, and bos marks where a new one starts).
 * The last, partial sequence is either dropped (training) or right-padded with pad (evaluation, so every
 * token is scored). Sequences are views into the stream: memory is one Int32 per token.
 */
import { ConfigError } from '../errors.js';

export interface SpecialIds {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
}

/** Appends documents (token ids without specials) to a growable Int32 stream as `bos ... eos`. */
export class StreamBuilder {
  private buf = new Int32Array(1 << 16);
  private n = 0;
  docs = 0;
  constructor(private readonly ids: Pick<SpecialIds, 'bosId' | 'eosId'>) {}
  push(doc: readonly number[]): void {
    this.reserve(doc.length + 2);
    this.buf[this.n++] = this.ids.bosId;
    for (const id of doc) this.buf[this.n++] = id;
    this.buf[this.n++] = this.ids.eosId;
    this.docs += 1;
  }
  private reserve(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    let cap = this.buf.length;
    while (cap < this.n + extra) cap *= 2;
    const next = new Int32Array(cap);
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }
  /** The stream so far (a trimmed copy). */
  finish(): Int32Array {
    return this.buf.slice(0, this.n);
  }
}

/** `bos d eos` for every document, concatenated. */
export function documentStream(docs: Iterable<readonly number[]>, ids: Pick<SpecialIds, 'bosId' | 'eosId'>): Int32Array {
  const b = new StreamBuilder(ids);
  for (const d of docs) b.push(d);
  return b.finish();
}

export type LastSequence = 'drop' | 'pad';

/** A stream cut into sequences of `seqLen` tokens. */
export class PackedSequences {
  /** Number of sequences (the partial last one included when last = 'pad'). */
  readonly count: number;
  /** Real tokens in the last sequence (seqLen unless it was padded). */
  readonly lastLength: number;
  private readonly padded: Int32Array | null;

  constructor(
    readonly stream: Int32Array,
    readonly seqLen: number,
    readonly last: LastSequence,
    readonly padId: number,
  ) {
    if (!Number.isInteger(seqLen) || seqLen < 2) throw new ConfigError(`must be an integer >= 2 (one input and one target), got ${seqLen}`, undefined, 'seqLen');
    const full = Math.floor(stream.length / seqLen);
    const rest = stream.length - full * seqLen;
    if (last === 'pad' && rest > 0) {
      this.count = full + 1;
      this.lastLength = rest;
      this.padded = new Int32Array(seqLen).fill(padId);
      this.padded.set(stream.subarray(full * seqLen));
    } else {
      this.count = full;
      this.lastLength = full > 0 ? seqLen : 0;
      this.padded = null;
    }
  }

  /** Sequence i (a view; do not modify). */
  sequence(i: number): Int32Array {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`sequence ${i} out of [0, ${this.count})`);
    if (this.padded && i === this.count - 1) return this.padded;
    return this.stream.subarray(i * this.seqLen, (i + 1) * this.seqLen);
  }

  /** Real (non-pad) tokens of sequence i. */
  length(i: number): number {
    return this.padded && i === this.count - 1 ? this.lastLength : this.seqLen;
  }
}

/**
 * Weight of each position as a next-token target: ids[t] is predicted from ids[<t], so t = 0 never is one;
 * pad positions are not, and neither is bos (it only follows eos, a fixed separator, not text to predict).
 * The mask of real tokens says which positions are pad (a real token may share the pad id's value only in
 * synthetic tests; the corpus never produces pad).
 */
export function targetWeights(ids: ArrayLike<number>, realLength: number, specials: Pick<SpecialIds, 'bosId'>): number[] {
  const w = new Array<number>(ids.length).fill(0);
  for (let t = 1; t < realLength; t++) if (ids[t] !== specials.bosId) w[t] = 1;
  return w;
}
