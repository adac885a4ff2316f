/**
 * Encoder-decoder pretraining (PrefixLM or UL2) on top of src/train's loop.
 *
 * Loss: mean token cross-entropy over label positions != IGNORE (teacher forcing, logits after the
 * final softcap, as HF T5GemmaForConditionalGeneration computes it).
 * Unbalanced builds (random cross-attention) first run `crossAttentionWarmupSteps` steps training
 * only the cross-attention sub-blocks (everything else frozen: it is simply not handed to the
 * optimizer), then train every parameter (T5Gemma paper §4.2: K = 1000 for 9B-2B).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, TrainingError } from '../errors.js';
import type { EncoderDecoderModel } from './generate.js';
import { tokenNllSum } from '../nn/cross_entropy.js';
import type { Rng } from '../rng/index.js';
import { latestCheckpoint } from '../train/checkpoint.js';
import { type TrainData, type TrainOptions, type TrainResult, type Trainable, train } from '../train/trainer.js';
import { crossAttentionParams } from './build.js';
import { type PrefixLmOptions, prefixLmExample } from './objectives/prefixlm.js';
import { IGNORE, type Seq2SeqBatch, type Seq2SeqExample, collateSeq2Seq } from './objectives/seq2seq.js';
import { type Ul2Options, ul2MixtureExample } from './objectives/ul2.js';
import { batchRows } from '../tokenize/batch.js';

export type Objective = { readonly kind: 'prefixlm'; readonly options?: PrefixLmOptions } | { readonly kind: 'ul2'; readonly options?: Ul2Options };

/** Mean cross-entropy over labels != IGNORE. logits [B, T, V], labels [B][T]. */
/** labels: [B][T] rows, or row-major [B * T] (a Seq2SeqBatch's). */
export function seq2seqCrossEntropy(logits: tf.Tensor3D, labels: readonly (readonly number[])[] | Int32Array): tf.Scalar {
  return tf.tidy(() => {
    const [B, T, V] = logits.shape;
    const flat = labels instanceof Int32Array ? Array.from(labels) : labels.flat();
    if (flat.length !== B * T) throw new RangeError(`labels: ${flat.length} values for logits [${B}, ${T}, ${V}]`);
    const keep: number[] = flat.map((l) => (l === IGNORE ? 0 : 1));
    const n = keep.reduce((a, b) => a + b, 0);
    if (n === 0) throw new RangeError('labels: every position is IGNORE');
    const targets = tf.tensor1d(flat.map((l) => (l === IGNORE ? 0 : l)), 'int32'); // [B*T]
    return tf.div(tokenNllSum(tf.reshape(logits, [B * T, V]), targets, tf.tensor1d(keep)), n) as tf.Scalar;
  });
}

/** The model as a trainer `Trainable` over `params` (all of them, or a subset to freeze the rest). */
export function seq2seqTrainable(model: EncoderDecoderModel, params: ReadonlyMap<string, tf.Variable> = model.params): Trainable<Seq2SeqBatch> {
  return {
    params,
    loss(batch, { seed }) {
      return tf.tidy(() => {
        const enc = batchRows(batch);
        const dec = batchRows(batch.decoder);
        const out = model.forward(enc.inputIds, dec.inputIds, {
          attentionMask: enc.attentionMask,
          decoderAttentionMask: dec.attentionMask,
          training: true,
          seed,
        });
        return seq2seqCrossEntropy(out.logits, batch.labels);
      });
    },
  };
}

/** One training example by the objective (randomness from `rng`; PrefixLM splits in half unless told otherwise, as the paper). */
export function objectiveExample(tokens: readonly number[], objective: Objective, rng: Rng): Seq2SeqExample {
  if (objective.kind === 'prefixlm') return prefixLmExample(tokens, objective.options, rng);
  const { denoiser: _d, ...ex } = ul2MixtureExample(tokens, rng, objective.options);
  return ex;
}

/**
 * Token sequences -> batches: each epoch shuffles the sequences and re-applies the objective with
 * that epoch's Rng, so random splits / corruptions are redrawn every epoch, reproducibly.
 */
export function pretrainData(sequences: readonly (readonly number[])[], objective: Objective, batchSize: number, pad: number): TrainData<Seq2SeqBatch> {
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new ConfigError(`must be a positive integer, got ${batchSize}`, undefined, 'batchSize');
  if (sequences.length === 0) throw new ConfigError('no pretraining sequences', undefined, 'sequences');
  return {
    epoch(_epoch, rng) {
      const order = rng.shuffle(sequences.map((_, i) => i));
      const batches: Seq2SeqBatch[] = [];
      for (let b = 0; b < order.length; b += batchSize) {
        batches.push(collateSeq2Seq(order.slice(b, b + batchSize).map((i) => objectiveExample(sequences[i] as number[], objective, rng)), pad));
      }
      return batches;
    },
    size: (b) => b.batch,
  };
}

export interface PretrainOptions extends TrainOptions {
  readonly objective: Objective;
  readonly batchSize: number;
  /** Steps that train only cross-attention before `maxSteps` steps of full training (default 0). */
  readonly crossAttentionWarmupSteps?: number;
}

async function hasCheckpoint(dir: string): Promise<boolean> {
  try {
    await latestCheckpoint(dir);
    return true;
  } catch (err) {
    if (err instanceof TrainingError) return false;
    throw err;
  }
}

/**
 * Runs the optional cross-attention warm-up, then full training. Checkpoints go to `<dir>/warmup`
 * and `<dir>/main`; with `resume`, each phase continues from its own newest checkpoint (a phase
 * without one starts fresh, and a run that reached the main phase skips the warm-up, whose result
 * the main checkpoints contain).
 */
export async function pretrain(model: EncoderDecoderModel, sequences: readonly (readonly number[])[], o: PretrainOptions): Promise<{ warmup?: TrainResult; main: TrainResult }> {
  const data = pretrainData(sequences, o.objective, o.batchSize, model.config.padTokenId);
  const { objective: _o, batchSize: _b, crossAttentionWarmupSteps, resume: _r, ...trainOpts } = o;
  const phase = async (name: string): Promise<TrainOptions> => {
    const dir = o.checkpoint ? `${o.checkpoint.dir}/${name}` : undefined;
    return {
      ...trainOpts,
      ...(o.checkpoint ? { checkpoint: { ...o.checkpoint, dir: dir as string } } : {}),
      resume: Boolean(o.resume && dir && (await hasCheckpoint(dir))),
    };
  };
  const mainOpts = await phase('main');
  let warmup: TrainResult | undefined;
  const k = crossAttentionWarmupSteps ?? 0;
  if (k > 0 && !mainOpts.resume) {
    const cross = crossAttentionParams(model);
    if (cross.size === 0) throw new ConfigError('the model has no cross-attention parameters', model.config.sourcePath, 'crossAttentionWarmupSteps');
    warmup = await train(seq2seqTrainable(model, cross), data, {
      ...(await phase('warmup')),
      maxSteps: k,
      seed: o.seed + 1,
      schedule: { ...o.schedule, totalSteps: k, ...(o.schedule.warmupSteps !== undefined ? { warmupSteps: Math.min(o.schedule.warmupSteps, k - 1) } : {}) },
    });
  }
  const main = await train(seq2seqTrainable(model), data, mainOpts);
  return warmup ? { warmup, main } : { main };
}
