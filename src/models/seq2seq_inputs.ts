/** The encoder mask encoder-decoders (T5Gemma, T5Gemma 2) use when the caller gives none. */
import { InputError } from '../errors.js';

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
