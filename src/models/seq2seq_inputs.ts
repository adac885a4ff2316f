/** Encoder inputs of the encoder-decoders (T5Gemma, T5Gemma 2), with the mask they use when the caller gives none. */
import type * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../errors.js';
import { maskRows, tokenRows } from './base.js';

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

/** Checked encoder ids [B][S] and padding mask [B][S] (HF default when `attentionMask` is undefined: ids != pad). */
export function encoderInputs(
  inputIds: tf.Tensor2D | readonly (readonly number[])[],
  attentionMask: tf.Tensor2D | readonly (readonly number[])[] | undefined,
  vocabSize: number,
  pad: number,
): { ids: number[][]; B: number; S: number; mask: number[][] } {
  const ids = tokenRows(inputIds, 'inputIds', vocabSize);
  const B = ids.length;
  const S = (ids[0] as number[]).length;
  const mask = attentionMask === undefined ? defaultMask(ids, pad) : maskRows(attentionMask, 'attentionMask', B, S);
  return { ids, B, S, mask };
}
