/**
 * The example and batch layout every T5Gemma objective produces, and the collator that pads them.
 *
 * Teacher forcing: `decoderInputIds = [bos, ...labels[:-1]]` (HF `shift_right` with start token = bos),
 * so position t of the decoder predicts `labels[t]`. Ignored label positions hold IGNORE (-100, HF's
 * `ignore_index`); padding is on the right for both encoder and decoder.
 */
import { ConfigError } from '../../errors.js';
import { padRight, type Labelled, type PaddedBatch } from '../../tokenize/batch.js';

/** Label id that contributes no loss (HF convention). */
export const IGNORE = -100;

export interface SpecialIds {
  readonly pad: number;
  readonly bos: number;
  readonly eos: number;
}

/** Gemma's ids (models.md §1): pad 0, eos 1, bos 2. */
export const GEMMA_SPECIAL_IDS: SpecialIds = { pad: 0, bos: 2, eos: 1 };

export interface Seq2SeqExample {
  /** Encoder input (no padding). */
  readonly inputIds: readonly number[];
  /** Decoder input, same length as labels: bos + labels shifted right. */
  readonly decoderInputIds: readonly number[];
  /** Targets per decoder position; IGNORE where no loss is taken. */
  readonly labels: readonly number[];
}

/**
 * A seq2seq batch: the encoder side is the padded batch itself, the decoder inputs and the targets
 * [B, T] (row-major, IGNORE on padding) come by composition.
 */
export type Seq2SeqBatch = Labelled<PaddedBatch, Int32Array> & { readonly decoder: PaddedBatch };

/** Teacher-forcing pair for a target: decoder input = bos + target[:-1], labels = target. */
export function teacherForce(target: readonly number[], bos: number): { decoderInputIds: number[]; labels: number[] } {
  if (target.length === 0) throw new ConfigError('a seq2seq target needs at least one token', undefined, 'target');
  return { decoderInputIds: [bos, ...target.slice(0, -1)], labels: [...target] };
}

/** Right-pads a list of examples into one batch (encoder and decoder padded separately). */
export function collateSeq2Seq(examples: readonly Seq2SeqExample[], pad: number): Seq2SeqBatch {
  if (examples.length === 0) throw new ConfigError('cannot collate an empty batch', undefined, 'examples');
  const decoder = padRight(examples.map((e) => e.decoderInputIds), pad);
  return {
    ...padRight(examples.map((e) => e.inputIds), pad),
    decoder,
    // Labels have the decoder's length (teacherForce), so they pad to the same width.
    labels: padRight(examples.map((e) => e.labels), IGNORE).ids,
  };
}
