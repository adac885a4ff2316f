/**
 * SuperGLUE from the T5Gemma side (paper §4.4), two ways, producing the predictions that
 * src/eval/superglue.ts scores and writes as submissions:
 *
 * 1. Classification on encoder representations: the encoder reads the example (pairs joined as
 *    `bos a eos b eos`, src/tokenize `encodeBatch`), its final state at the last non-pad token goes
 *    through a head Dropout(classifier_dropout_rate) + Linear(D_enc, L) with bias (HF
 *    `T5GemmaForSequenceClassification` in encoder-only mode, tensor names `score.out_proj.*`).
 *    Grouped tasks use a binary head: COPA picks the choice, ReCoRD the entity with the higher
 *    P(label 1) (jiant's rule, `argmaxPerGroup`); MultiRC classifies every answer option.
 * 2. Text-to-text: the data engineer's T5-style inputs and verbalizers (`toTextToText`), generation
 *    (greedy or beam), then `parseGenerated`. An unparseable generation is prediction -1: wrong for
 *    every metric, and refused by the submission writers (we never guess a label).
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import type { MultiRCPrediction } from '../eval/superglue.js';
import { variableFrom } from '../models/strict.js';
import type { EncoderDecoderModel } from './generate.js';
import { linear } from '../nn/linear.js';
import { pool } from '../nn/pooling.js';
import { type RunControl, throwIfAborted } from '../progress/index.js';
import { Rng } from '../rng/index.js';
import {
  type GroupedExample,
  type SuperGlueRecords,
  type SuperGlueTaskId,
  argmaxPerGroup,
  copaExamples,
  multircExamples,
  pairExamples,
  parseGenerated,
  parseRecordGenerated,
  recordExamples,
  toTextToText,
} from '../tasks/superglue.js';
import type { Example } from '../tasks/types.js';
import { type Tokenizer, encodeBatch } from '../tokenize/index.js';
import { bucketedBatches } from '../train/batching.js';
import type { TrainData, Trainable } from '../train/trainer.js';
import { generate } from './generate.js';

/** A right-padded encoder batch with class ids. */
export interface ClassificationBatch {
  readonly inputIds: number[][];
  readonly attentionMask: number[][];
  readonly labels: number[];
}

/** Encoder + last-non-pad pooling + linear head. The head is owned here; the model is shared. */
export class EncoderClassifier {
  readonly head: Map<string, tf.Variable>;

  constructor(
    readonly model: EncoderDecoderModel,
    readonly numLabels: number,
    seed = 0,
  ) {
    if (!(Number.isInteger(numLabels) && numLabels >= 2)) throw new ConfigError(`must be an integer >= 2, got ${numLabels}`, undefined, 'numLabels');
    const D = model.config.encoder.hiddenSize;
    const rng = new Rng(seed).fork('score.out_proj');
    const w = Float32Array.from({ length: numLabels * D }, () => rng.normal() * model.config.initializerRange);
    this.head = new Map([
      ['score.out_proj.weight', variableFrom(tf.tensor2d(w, [numLabels, D]))],
      ['score.out_proj.bias', variableFrom(tf.zeros([numLabels]))],
    ]);
  }

  /** Encoder and head parameters: everything this classifier's output depends on (the paper fine-tunes all of them). */
  get params(): Map<string, tf.Variable> {
    return new Map([...[...this.model.params].filter(([n]) => n.startsWith('model.encoder.')), ...this.head]);
  }

  /** [B, L] class logits. */
  logits(inputIds: readonly (readonly number[])[], attentionMask: readonly (readonly number[])[], o: { training?: boolean; seed?: number } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const seed = o.seed ?? 0;
      const h = this.model.encode(inputIds, attentionMask, { training: o.training ?? false, seed });
      let pooled = pool(h, tf.tensor2d(attentionMask.map((r) => [...r]), undefined, 'float32'), 'last_non_pad'); // [B, D]
      const rate = this.model.config.classifierDropoutRate;
      if ((o.training ?? false) && rate > 0) pooled = tf.dropout(pooled, rate, undefined, seed + 7) as tf.Tensor2D;
      const w = this.head.get('score.out_proj.weight') as tf.Variable as unknown as tf.Tensor2D;
      return tf.add(linear(pooled, w), this.head.get('score.out_proj.bias') as tf.Variable) as tf.Tensor2D;
    });
  }

  /** Mean cross-entropy, for src/train (pass a subset of `params` to freeze the rest). */
  trainable(params: ReadonlyMap<string, tf.Variable> = this.params): Trainable<ClassificationBatch> {
    return {
      params,
      loss: (b, { seed }) =>
        tf.tidy(() => {
          const logits = this.logits(b.inputIds, b.attentionMask, { training: true, seed });
          return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(b.labels, 'int32'), this.numLabels), logits) as tf.Scalar;
        }),
    };
  }

  /** Class probabilities [N][L] for encoder inputs, in batches. */
  async probabilities(inputIds: readonly (readonly number[])[], attentionMask: readonly (readonly number[])[], batchSize: number, ctl: RunControl = {}): Promise<number[][]> {
    const out: number[][] = [];
    for (let s = 0; s < inputIds.length; s += batchSize) {
      throwIfAborted(ctl.signal, s);
      const ids = inputIds.slice(s, s + batchSize);
      const mask = attentionMask.slice(s, s + batchSize);
      // Re-pad the slice to its own longest row (the whole set is padded to its longest).
      const width = Math.max(...mask.map((r) => r.reduce((a, b) => a + b, 0)));
      const p = tf.tidy(() => tf.softmax(this.logits(ids.map((r) => r.slice(0, width)), mask.map((r) => r.slice(0, width)))));
      out.push(...(p.arraySync() as number[][]));
      p.dispose();
      ctl.onProgress?.({ phase: 'classify', done: Math.min(s + batchSize, inputIds.length), total: inputIds.length });
    }
    return out;
  }

  dispose(): void {
    for (const v of this.head.values()) v.dispose();
    this.head.clear();
  }
}

export interface InputOptions {
  readonly tokenizer: Tokenizer;
  readonly maxLength: number;
  /** Prepend bos to encoder inputs (default true, as HF's tokenizer does; models.md §6.3 is open on this). */
  readonly addBos?: boolean;
}

/** Encoder inputs for examples (single texts or pairs), eos-terminated so the pooled token is eos. */
export function encodeExamples(examples: readonly Example[], o: InputOptions): { inputIds: number[][]; attentionMask: number[][] } {
  const texts = examples.map((e) => (e.texts.length === 2 ? ([e.texts[0], e.texts[1]] as const) : e.texts[0]));
  return encodeBatch(o.tokenizer, texts as string[] | (readonly [string, string])[], { maxLength: o.maxLength, addBos: o.addBos ?? true, addEos: true });
}

/**
 * Labelled encoder examples of any task, as `classifySuperGlue` scores them: one per record for the
 * single-label tasks, one binary example per COPA choice / MultiRC answer / ReCoRD candidate.
 */
export function superglueExamples<T extends SuperGlueTaskId>(task: T, records: readonly SuperGlueRecords[T][]): Example[] {
  switch (task) {
    case 'copa':
      return copaExamples(records as readonly SuperGlueRecords['copa'][]);
    case 'multirc':
      return multircExamples(records as readonly SuperGlueRecords['multirc'][]);
    case 'record':
      return recordExamples(records as readonly SuperGlueRecords['record'][]);
    default: {
      const t = task as 'boolq' | 'cb' | 'rte' | 'wic' | 'wsc' | 'axb' | 'axg';
      return pairExamples(t, records as readonly SuperGlueRecords[typeof t][]);
    }
  }
}

/** Fine-tuning data for `EncoderClassifier.trainable`: length-bucketed, reshuffled every epoch (src/train). */
export function classificationData(examples: readonly Example[], batchSize: number, o: InputOptions): TrainData<ClassificationBatch> {
  if (examples.some((e) => e.label === null)) throw new ConfigError('training examples need labels', undefined, 'label');
  const enc = encodeExamples(examples, o);
  const lengths = enc.attentionMask.map((r) => r.reduce((a, b) => a + b, 0));
  return {
    epoch(_epoch, rng) {
      return bucketedBatches(lengths, rng, { batchSize }).map((idx) => {
        const width = Math.max(...idx.map((i) => lengths[i] as number));
        return {
          inputIds: idx.map((i) => (enc.inputIds[i] as number[]).slice(0, width)),
          attentionMask: idx.map((i) => (enc.attentionMask[i] as number[]).slice(0, width)),
          labels: idx.map((i) => (examples[i] as Example).label as number),
        };
      });
    },
    size: (b) => b.labels.length,
  };
}

export interface IdxPrediction {
  readonly idx: number;
  /** Class id; -1 when a generation could not be parsed. */
  readonly prediction: number;
}

/** Predictions per task, in the shapes src/eval/superglue.ts consumes. */
export type SuperGluePredictions =
  | { readonly task: 'boolq' | 'cb' | 'copa' | 'rte' | 'wic' | 'wsc' | 'axb' | 'axg'; readonly predictions: IdxPrediction[] }
  | { readonly task: 'multirc'; readonly predictions: (Omit<MultiRCPrediction, 'label'> & { readonly label: number | null })[] }
  | { readonly task: 'record'; readonly predictions: Map<number, string> };

export interface ScoreOptions extends InputOptions, RunControl {
  readonly batchSize?: number;
}

function checkHead(clf: EncoderClassifier, task: SuperGlueTaskId): void {
  const want = task === 'cb' ? 3 : 2;
  if (clf.numLabels !== want) throw new ConfigError(`${task} needs a ${want}-way head, got ${clf.numLabels}`, undefined, 'numLabels');
}

/** Classification-on-encoder predictions for any SuperGLUE task's records. */
export async function classifySuperGlue<T extends SuperGlueTaskId>(
  clf: EncoderClassifier,
  task: T,
  records: readonly SuperGlueRecords[T][],
  o: ScoreOptions,
): Promise<SuperGluePredictions> {
  checkHead(clf, task);
  const bs = o.batchSize ?? 16;
  const probs = async (ex: readonly Example[]) => {
    const enc = encodeExamples(ex, o);
    return clf.probabilities(enc.inputIds, enc.attentionMask, bs, o);
  };
  const argmax = (p: number[]) => p.indexOf(Math.max(...p));
  switch (task) {
    case 'copa': {
      const ex = copaExamples(records as readonly SuperGlueRecords['copa'][]);
      const best = argmaxPerGroup(ex, (await probs(ex)).map((p) => p[1] as number));
      return { task, predictions: [...best].map(([idx, member]) => ({ idx, prediction: member as number })) };
    }
    case 'multirc': {
      const ex = multircExamples(records as readonly SuperGlueRecords['multirc'][]);
      const p = await probs(ex);
      return {
        task,
        predictions: ex.map((e: GroupedExample, i) => ({ passage: e.passage as number, question: e.group, answer: e.member as number, prediction: argmax(p[i] as number[]), label: e.label })),
      };
    }
    case 'record': {
      const ex = recordExamples(records as readonly SuperGlueRecords['record'][]);
      const best = argmaxPerGroup(ex, (await probs(ex)).map((p) => p[1] as number));
      return { task, predictions: new Map([...best].map(([q, m]) => [q, m as string])) };
    }
    default: {
      const t = task as 'boolq' | 'cb' | 'rte' | 'wic' | 'wsc' | 'axb' | 'axg';
      const ex = pairExamples(t, records as readonly SuperGlueRecords[typeof t][]);
      const p = await probs(ex);
      return { task: t, predictions: ex.map((e, i) => ({ idx: e.idx, prediction: argmax(p[i] as number[]) })) };
    }
  }
}

export interface GenerateScoreOptions extends InputOptions, RunControl {
  readonly batchSize?: number;
  readonly maxNewTokens?: number;
  readonly numBeams?: number;
  readonly lengthPenalty?: number;
}

/** Text-to-text predictions: generate from the T5-style input, then parse with the task's verbalizer. */
export async function generateSuperGlue<T extends SuperGlueTaskId>(
  model: EncoderDecoderModel,
  task: T,
  records: readonly SuperGlueRecords[T][],
  o: GenerateScoreOptions,
): Promise<SuperGluePredictions & { readonly generations: string[] }> {
  const pairs = toTextToText(task, records);
  const bs = o.batchSize ?? 16;
  const texts: string[] = [];
  for (let s = 0; s < pairs.length; s += bs) {
    throwIfAborted(o.signal, s);
    const part = pairs.slice(s, s + bs);
    const enc = encodeBatch(o.tokenizer, part.map((p) => p.input), { maxLength: o.maxLength, addBos: o.addBos ?? true, addEos: true });
    const hyps = await generate(model, enc.inputIds, enc.attentionMask, {
      maxNewTokens: o.maxNewTokens ?? 8,
      ...(o.numBeams !== undefined ? { numBeams: o.numBeams } : {}),
      ...(o.lengthPenalty !== undefined ? { lengthPenalty: o.lengthPenalty } : {}),
    });
    texts.push(...hyps.map((h) => o.tokenizer.decode(h.tokens)));
    o.onProgress?.({ phase: `generate:${task}`, done: Math.min(s + bs, pairs.length), total: pairs.length });
  }
  if (task === 'record') {
    return { task: 'record', predictions: new Map(pairs.map((p, i) => [p.idx, parseRecordGenerated(texts[i] as string)])), generations: texts };
  }
  const t = task as Exclude<SuperGlueTaskId, 'record'>;
  const parsed = texts.map((g) => parseGenerated(t, g) ?? -1);
  if (t === 'multirc') {
    const where = new Map<number, { passage: number; question: number; label: number | null }>();
    for (const p of records as readonly SuperGlueRecords['multirc'][])
      for (const q of p.questions) for (const a of q.answers) where.set(a.idx, { passage: p.idx, question: q.idx, label: a.label });
    return {
      task: 'multirc',
      predictions: pairs.map((p, i) => ({ ...(where.get(p.idx) as { passage: number; question: number; label: number | null }), answer: p.idx, prediction: parsed[i] as number })),
      generations: texts,
    };
  }
  return { task: t, predictions: pairs.map((p, i) => ({ idx: p.idx, prediction: parsed[i] as number })), generations: texts };
}
