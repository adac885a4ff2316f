/** Input checks shared by the encoder-decoder families (T5Gemma, T5Gemma 2): shapes, ids, masks. */
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';

/** number[][] from a tensor or nested array, checked to have B rows (when given) of one width T (when given). */
export function toRows(x: tf.Tensor2D | readonly (readonly number[])[], what: string, B?: number, T?: number): number[][] {
  const rows = (Array.isArray(x) ? x : (x as tf.Tensor2D).arraySync()) as number[][];
  if (rows.length === 0 || (B !== undefined && rows.length !== B)) throw new InputError(`${rows.length} rows, expected ${B ?? '>= 1'}`, what);
  const width = T ?? (rows[0] as number[]).length;
  if (width === 0) throw new InputError('empty sequence', what);
  rows.forEach((r, b) => {
    if (!Array.isArray(r) || r.length !== width) throw new InputError(`row ${b} has length ${Array.isArray(r) ? r.length : '?'}, expected ${width}`, what);
  });
  return rows;
}

/**
 * HF `make_default_2d_attention_mask`: 1 where the id is not the pad id. A row made only of pad ids
 * has nothing to attend to (HF would silently average pads); it is refused, naming the row.
 */
export function defaultMask(ids: readonly (readonly number[])[], pad: number, what = 'inputIds'): number[][] {
  const mask = ids.map((row) => row.map((id) => (id === pad ? 0 : 1)));
  mask.forEach((row, b) => {
    if (!row.includes(1)) throw new InputError(`row ${b} holds only the pad id ${pad}; without an attention mask pad ids are padding, so nothing is left to read (pass attentionMask or real tokens)`, what);
  });
  return mask;
}

export function checkMask(rows: number[][], what: string): number[][] {
  rows.forEach((row, b) =>
    row.forEach((m, t) => {
      if (m !== 0 && m !== 1) throw new InputError(`[${b}][${t}] = ${m}, expected 0 or 1`, what);
    }),
  );
  return rows;
}

export function checkIds(rows: readonly (readonly number[])[], V: number, what: string): void {
  rows.forEach((row, b) =>
    row.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new InputError(`[${b}][${t}] = ${id} is not a token id in [0, ${V})`, what);
    }),
  );
}
