/**
 * The one padded token batch every model path consumes: ids and attention mask [B, T], row-major,
 * right-padded. Task data adds fields by composition (`Labelled`), never by a new batch shape.
 */
import { ConfigError } from '../errors.js';

export interface PaddedBatch {
  /** [B, T] token ids, right-padded with the pad id. */
  readonly ids: Int32Array;
  /** [B, T] 1 for real tokens, 0 for padding. */
  readonly mask: Int32Array;
  readonly batch: number;
  readonly length: number;
}

/** A batch with one target per row (class id, score or relevance), or any other per-row payload. */
export type Labelled<B extends PaddedBatch = PaddedBatch, L = readonly number[]> = B & { readonly labels: L };

/**
 * Right-pad sequences to the longest one (at least minLength, at most maxLength; longer ones are
 * truncated on the right).
 */
export function padRight(seqs: readonly (readonly number[])[], padId: number, maxLength = Infinity, minLength = 1): PaddedBatch {
  const T = Math.max(minLength, Math.min(maxLength, Math.max(...seqs.map((s) => s.length))));
  const ids = new Int32Array(seqs.length * T).fill(padId);
  const mask = new Int32Array(seqs.length * T);
  seqs.forEach((s, b) => {
    const n = Math.min(T, s.length);
    for (let t = 0; t < n; t++) {
      ids[b * T + t] = s[t] as number;
      mask[b * T + t] = 1;
    }
  });
  return { ids, mask, batch: seqs.length, length: T };
}

/** Row-major [B, width] values as nested rows [B][width]. */
export function unflatten(a: Int32Array, width: number): number[][] {
  return Array.from({ length: a.length / width }, (_, r) => Array.from(a.subarray(r * width, (r + 1) * width)));
}

/** The batch as nested rows [B][T] (for APIs that take arrays, e.g. T5Gemma encode/generate). */
export function batchRows(b: PaddedBatch): { inputIds: number[][]; attentionMask: number[][] } {
  return { inputIds: unflatten(b.ids, b.length), attentionMask: unflatten(b.mask, b.length) };
}

/** Real (unpadded) ids of row r. */
export function rowIds(b: PaddedBatch, r: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < b.length; t++) if (b.mask[r * b.length + t] !== 0) out.push(b.ids[r * b.length + t] as number);
  return out;
}

/** Rows `rows` of `b`, cut to the longest of them (right padding keeps every real token). */
export function selectRows(b: PaddedBatch, rows: readonly number[]): PaddedBatch {
  const realLength = (r: number) => b.mask.subarray(r * b.length, (r + 1) * b.length).reduce((n, m) => n + (m !== 0 ? 1 : 0), 0);
  const T = Math.max(1, ...rows.map(realLength));
  const ids = new Int32Array(rows.length * T);
  const mask = new Int32Array(rows.length * T);
  rows.forEach((r, i) => {
    ids.set(b.ids.subarray(r * b.length, r * b.length + T), i * T);
    mask.set(b.mask.subarray(r * b.length, r * b.length + T), i * T);
  });
  return { ids, mask, batch: rows.length, length: T };
}

/** A batch from nested rows [B][T] (ids and mask of equal shape). */
export function batchFromRows(inputIds: readonly (readonly number[])[], attentionMask: readonly (readonly number[])[]): PaddedBatch {
  const B = inputIds.length;
  const T = inputIds[0]?.length ?? 0;
  if (attentionMask.length !== B || [...inputIds, ...attentionMask].some((r) => r.length !== T)) {
    throw new ConfigError(`input ids and attention mask must both be ${B}x${T}`, undefined, 'attentionMask');
  }
  return { ids: Int32Array.from(inputIds.flat()), mask: Int32Array.from(attentionMask.flat()), batch: B, length: T };
}
