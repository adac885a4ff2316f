/**
 * SuperGLUE from the T5Gemma side (paper §4.4), two ways, producing the predictions that
 * src/eval/superglue.ts scores and writes as submissions:
 *
 * 1. Classification on encoder representations: the encoder reads the example (pairs joined as
 *    `bos a eos b eos`, src/tokenize `encodeBatch`), its final state at the last non-pad token goes
 *    through a head Dropout(classifier_dropout_rate) + Linear(D_enc, L) with bias (HF
 *    `T5GemmaForSequenceClassification` in encoder-only mode): `superglueClassifier`, the project's one
 *    encoder + head module (src/encoder) on the T5Gemma encoder backbone.
 *    Grouped tasks use a binary head: COPA picks the choice, ReCoRD the entity with the higher
 *    P(label 1) (jiant's rule, `argmaxPerGroup`); MultiRC classifies every answer option.
 * 2. Text-to-text: the data engineer's T5-style inputs and verbalizers (`toTextToText`), generation
 *    (greedy or beam), then `parseGenerated`. An unparseable generation is prediction -1: wrong for
 *    every metric, and refused by the submission writers (we never guess a label).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';
import type { MultiRCPrediction } from '../eval/superglue.js';
import { toEncoder, type GemmaEncoder } from '../encoder/encoder.js';
import type { T5GemmaModel } from '../models/t5gemma.js';
import { type RunControl, throwIfAborted } from '../progress/index.js';
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
import { batchRows, padRight, rowIds, selectRows, type Labelled, type PaddedBatch } from '../tokenize/batch.js';
import { type Tokenizer, encodeBatch } from '../tokenize/index.js';
import { bucketedBatches } from '../train/batching.js';
import type { TrainData } from '../train/trainer.js';
import { generate } from './generate.js';

/**
 * Class probabilities [N][L] of an encoder classifier (`toEncoder(t5gemma, {pooling: 'last', head})`,
 * src/encoder) for padded inputs, in batches of `batchSize` rows, each re-padded to its own longest row.
 */
export async function classProbabilities(clf: GemmaEncoder, inputs: PaddedBatch, batchSize: number, ctl: RunControl = {}): Promise<number[][]> {
  const out: number[][] = [];
  const all = Array.from({ length: inputs.batch }, (_, i) => i);
  for (let s = 0; s < inputs.batch; s += batchSize) {
    throwIfAborted(ctl.signal, s);
    const part = selectRows(inputs, all.slice(s, s + batchSize));
    const p = tf.tidy(() => tf.softmax(clf.logits(part)));
    out.push(...(p.arraySync() as number[][]));
    p.dispose();
    ctl.onProgress?.({ phase: 'classify', done: Math.min(s + batchSize, inputs.batch), total: inputs.batch });
  }
  return out;
}

/**
 * The paper's SuperGLUE classifier on a T5Gemma encoder: last non-pad token, Dropout(classifier_dropout_rate),
 * Linear(D_enc, numLabels) with bias (the head module's `score.*`; HF names it `score.out_proj.*`).
 */
export function superglueClassifier(model: T5GemmaModel, numLabels: number, seed = 0): GemmaEncoder {
  return toEncoder(model, {
    pooling: 'last',
    head: { kind: 'classification', numClasses: numLabels },
    dropout: { rate: model.config.classifierDropoutRate, placement: { head: true } },
    seed,
  });
}

export interface InputOptions {
  readonly tokenizer: Tokenizer;
  readonly maxLength: number;
  /** Prepend bos to encoder inputs (default true, as HF's tokenizer does; models.md §6.3 is open on this). */
  readonly addBos?: boolean;
}

/** Encoder inputs for examples (single texts or pairs), eos-terminated so the pooled token is eos. */
export function encodeExamples(examples: readonly Example[], o: InputOptions): PaddedBatch {
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

/** Fine-tuning data for an encoder classifier (src/train): length-bucketed, reshuffled every epoch. */
export function classificationData(examples: readonly Example[], batchSize: number, o: InputOptions): TrainData<Labelled> {
  if (examples.some((e) => e.label === null)) throw new ConfigError('training examples need labels', undefined, 'label');
  const enc = encodeExamples(examples, o);
  const rows = examples.map((_, i) => rowIds(enc, i));
  return {
    epoch(_epoch, rng) {
      return bucketedBatches(rows.map((r) => r.length), rng, { batchSize }).map((idx) => ({
        ...padRight(idx.map((i) => rows[i] as number[]), o.tokenizer.padId),
        labels: idx.map((i) => (examples[i] as Example).label as number),
      }));
    },
    size: (b) => b.batch,
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

function checkHead(clf: GemmaEncoder, task: SuperGlueTaskId): void {
  const want = task === 'cb' ? 3 : 2;
  const got = clf.head.outputs;
  if (clf.options.head.kind !== 'classification' || got !== want) throw new ConfigError(`${task} needs a ${want}-way head, got ${got}`, undefined, 'numLabels');
}

/** Classification-on-encoder predictions for any SuperGLUE task's records. */
export async function classifySuperGlue<T extends SuperGlueTaskId>(
  clf: GemmaEncoder,
  task: T,
  records: readonly SuperGlueRecords[T][],
  o: ScoreOptions,
): Promise<SuperGluePredictions> {
  checkHead(clf, task);
  const bs = o.batchSize ?? 16;
  const probs = async (ex: readonly Example[]) => {
    return classProbabilities(clf, encodeExamples(ex, o), bs, o);
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
  model: T5GemmaModel,
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
    const enc = batchRows(encodeBatch(o.tokenizer, part.map((p) => p.input), { maxLength: o.maxLength, addBos: o.addBos ?? true, addEos: true }));
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
