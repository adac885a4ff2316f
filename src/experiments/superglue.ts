/**
 * Finding (e): encoder-decoder vs decoder-only on SuperGLUE at an equal adaptation budget (T5Gemma §4–5).
 *
 * Both arms start from the same pretrained tiny Gemma 2 decoder and get the same extra pretraining:
 * `adaptSteps` steps of `adaptBatch` corpus sequences of `adaptSeqLen` tokens (same tokens, same seed):
 * - encoder_decoder: `toEncoderDecoder` (cross-attention copied from self-attention, balanced), PrefixLM
 *   (first half of each sequence to the encoder, second half as decoder target) or UL2;
 * - decoder_only: continued causal LM on the same sequences.
 * Then each task is fine-tuned the paper's way (§4.4): a linear head on the last non-pad token of the
 * encoder (decoder-only: of the causal decoder), all encoder parameters trained, the same inputs
 * (`bos a eos b eos`), lr, steps and batch for both arms; the dev metric is accuracy (paper: average dev
 * accuracy). The adapted weights are cached per (arm, adaptation budget, checkpoint), so the adaptation
 * runs once per arm and is reused by every task and fine-tuning seed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toEncoder } from '../encoder/encoder.js';
import { ConfigError } from '../errors.js';
import { scoreSuperGlueTask } from '../eval/superglue.js';
import { REPO_ROOT } from '../io/paths.js';
import { loadDecoderModel, type DecoderModel } from '../models/load.js';
import { GemmaModel } from '../models/gemma.js';
import { batchRows, modelLoss } from '../pretrain/loss.js';
import { PackedSequences } from '../pretrain/pack.js';
import type { RunControl } from '../progress/index.js';
import { Rng } from '../rng/index.js';
import { toEncoderDecoder } from '../t5gemma/build.js';
import type { EncoderDecoderModel } from '../t5gemma/generate.js';
import { pretrain as pretrainSeq2Seq } from '../t5gemma/pretrain.js';
import { classificationData, classifySuperGlue, classProbabilities, encodeExamples, superglueClassifier, superglueExamples } from '../t5gemma/superglue.js';
import { loadSuperGlue, pairExamples, superglueSharedFile } from '../tasks/superglue.js';
import type { Example } from '../tasks/types.js';
import { loadTokenizer, type Tokenizer } from '../tokenize/index.js';
import { padRight, rowIds, type Labelled } from '../tokenize/batch.js';
import { loadTensorsFile, saveTensors } from '../train/checkpoint.js';
import { train } from '../train/trainer.js';
import { readBudget, readBudgetNumber, readModelIdentity, type ModelIdentity, type TrainBudget } from './budget.js';
import { runKey, type Budget, type Variant } from './grid.js';
import { modelIdentity } from './glue.js';
import type { RunFn } from './runner.js';
import { corpusSequences, score as scoreE2E, splits, type E2ETask } from './superglue_e2e.js';

export type Arm = 'encoder_decoder' | 'decoder_only';
export type PairTask = 'rte' | 'cb' | 'wic' | 'boolq';

/** The adaptation stage's spend (extra pretraining before fine-tuning), shared by both arms. */
export interface AdaptationBudget {
  readonly adaptSteps: number;
  readonly adaptBatch: number;
  readonly adaptSeqLen: number;
  readonly adaptLr: number;
}

/** A run's budget record: adaptation, then the fine-tune's spend (devLimit 0 = the whole validation split), and the checkpoint. */
export type Seq2SeqBudget = AdaptationBudget & Required<Pick<TrainBudget, 'steps' | 'batch' | 'lr' | 'trainLimit' | 'devLimit' | 'maxLength'>> & TrainBudget & ModelIdentity;

const ADAPT = ['adaptSteps', 'adaptBatch', 'adaptSeqLen', 'adaptLr'] as const;

export function seq2seqBudget(b: Budget): Seq2SeqBudget {
  const adapt = Object.fromEntries(ADAPT.map((k) => [k, readBudgetNumber(b, k)])) as unknown as AdaptationBudget;
  return { ...adapt, ...readBudget(b, ['steps', 'batch', 'lr', 'trainLimit', 'devLimit', 'maxLength']), ...readModelIdentity(b) };
}

function arm(v: Variant): { arm: Arm; objective: 'prefixlm' | 'ul2' | 'causal_lm' } {
  const a = v.arch;
  const o = v.objective;
  if (a === 'decoder_only' && o === 'causal_lm') return { arm: a, objective: o };
  if (a === 'encoder_decoder' && (o === 'prefixlm' || o === 'ul2')) return { arm: a, objective: o };
  throw new ConfigError(`unsupported arch/objective ${JSON.stringify(v)} (encoder_decoder + prefixlm|ul2, or decoder_only + causal_lm)`, undefined, 'variant');
}

/**
 * The adaptation sequences: the last adaptSteps*adaptBatch full sequences of the pretraining token stream
 * when the checkpoint sits in an `npm run pretrain` folder (<out>/tokens/train.bin beside it); for a
 * checkpoint without one (e.g. committed under data/models/) the first ones of the corpus's train split.
 */
async function adaptationSequences(modelDir: string, b: AdaptationBudget, tok: Tokenizer, ctl: RunControl): Promise<PackedSequences> {
  const file = join(modelDir, '..', 'tokens', 'train.bin');
  if (!existsSync(file)) {
    const seqs = await corpusSequences(tok, b.adaptSteps * b.adaptBatch, b.adaptSeqLen, ctl);
    return new PackedSequences(Int32Array.from(seqs.flat()), b.adaptSeqLen, 'drop', tok.padId);
  }
  const bytes = await readFile(file);
  const all = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const n = b.adaptSteps * b.adaptBatch * b.adaptSeqLen;
  if (all.length < n) throw new ConfigError(`needs ${n} tokens, the stream has ${all.length}`, file, 'adaptSteps');
  return new PackedSequences(all.subarray(all.length - n), b.adaptSeqLen, 'drop', tok.padId);
}

export type Adapted = { kind: 'encoder_decoder'; model: EncoderDecoderModel } | { kind: 'decoder_only'; model: DecoderModel };

/**
 * Builds the arm's architecture from the checkpoint (its weights are replaced by the cache when present):
 * Gemma 2 -> T5Gemma (cross-attention copied from self-attention), Gemma 3 -> T5Gemma 2 (tied table,
 * merged self/cross attention), each the recipe its paper adapts that generation with.
 */
async function buildArm(dir: string, a: Arm): Promise<Adapted> {
  const base = await loadDecoderModel(dir);
  if (a === 'decoder_only') return { kind: a, model: base };
  const type = base.config.modelType;
  if (!(base instanceof GemmaModel) || (type !== 'gemma2' && type !== 'gemma3_text')) {
    base.dispose();
    throw new ConfigError(`the encoder_decoder arm adapts Gemma 2 (T5Gemma) or Gemma 3 (T5Gemma 2) checkpoints; '${type}' has neither`, dir, 'model_type');
  }
  const model = type === 'gemma2' ? await toEncoderDecoder(base, undefined, { crossAttentionInit: 'copy' }) : await toEncoderDecoder(base, undefined, { recipe: 't5gemma2' });
  base.dispose();
  return { kind: a, model };
}

/** Most sequences per micro-batch during adaptation. */
export const ADAPT_MICRO_BATCH = 4;

/**
 * Both arms adapt in micro-batches of at most ADAPT_MICRO_BATCH sequences (the largest divisor of adaptBatch
 * not above it), accumulating gradients to the same effective batch: one UL2 step at 16 x 256 tokens grew the
 * wasm heap to 3.3 GiB (past WASM_HEAP_LIMIT_BYTES) and the decoder's causal-LM step to 2.0 GiB; at 4 the UL2
 * step stays near 1.1 GiB and is no slower.
 */
export function adaptMicroBatch(adaptBatch: number): number {
  for (let m = Math.min(ADAPT_MICRO_BATCH, adaptBatch); m > 1; m--) if (adaptBatch % m === 0) return m;
  return 1;
}

/** The adapted weights of an arm: trained once, cached under .cache/experiments/adapted/. */
export async function adaptedArm(v: Variant, b: AdaptationBudget & ModelIdentity, tok: Tokenizer, ctl: RunControl): Promise<Adapted> {
  const { arm: a, objective } = arm(v);
  const dir = join(REPO_ROOT, b.model);
  const micro = adaptMicroBatch(b.adaptBatch);
  // The micro-batch changes the summation order (and, for UL2's varying spans, the loss weighting): part of the key.
  const adaptBudget = {
    adaptSteps: b.adaptSteps,
    adaptBatch: b.adaptBatch,
    adaptSeqLen: b.adaptSeqLen,
    adaptLr: b.adaptLr,
    model: b.model,
    modelSha: b.modelSha,
    adaptMicroBatch: micro,
  };
  const cache = join(REPO_ROOT, '.cache', 'experiments', 'adapted', `${runKey({ variant: v, seed: 0, task: 'adapt', budget: adaptBudget })}.safetensors`);
  const built = await buildArm(dir, a);
  const params = built.model.params;
  if (existsSync(cache)) {
    const saved = await loadTensorsFile(cache);
    for (const [n, p] of params) {
      const t = saved.get(n);
      if (!t || t.shape.join(',') !== p.shape.join(',')) throw new ConfigError(`cached adapted weights lack '${n}' or differ in shape (delete the file)`, cache, n);
      p.assign(tf.tensor(t.data, t.shape, 'float32'));
    }
    return built;
  }
  const packed = await adaptationSequences(dir, b, tok, ctl);
  const schedule = { lr: b.adaptLr, warmupSteps: Math.round(0.1 * b.adaptSteps), decay: 'linear' as const };
  const common = { seed: 0, maxSteps: b.adaptSteps, schedule, ...(ctl.signal ? { signal: ctl.signal } : {}), ...(ctl.onProgress ? { onProgress: ctl.onProgress } : {}) };
  if (built.kind === 'encoder_decoder') {
    const seqs = Array.from({ length: packed.count }, (_, i) => Array.from(packed.sequence(i)));
    await pretrainSeq2Seq(built.model, seqs, {
      ...common,
      objective: { kind: objective as 'prefixlm' | 'ul2' },
      batchSize: micro,
      gradAccumSteps: b.adaptBatch / micro,
    });
  } else {
    const specials = { bosId: tok.bosId, eosId: tok.eosId, padId: tok.padId };
    const model = built.model;
    const indices = Array.from({ length: packed.count }, (_, i) => i);
    await train(
      { params: model.params, loss: (batch: number[], ctx) => modelLoss(model, batchRows(packed, batch, specials), { training: true, dropout: 0, seed: ctx.seed }) },
      {
        epoch: (_e, rng) => {
          const order = rng.shuffle([...indices]);
          return Array.from({ length: Math.ceil(order.length / micro) }, (_, k) => order.slice(k * micro, (k + 1) * micro));
        },
        size: (batch) => batch.length,
      },
      { ...common, gradAccumSteps: b.adaptBatch / micro },
    );
  }
  await saveTensors(cache, params);
  return built;
}

async function taskExamples(task: PairTask, split: 'train' | 'val'): Promise<Example[]> {
  const s = await loadSuperGlue(task, superglueSharedFile(task, split));
  return pairExamples(task, s.records as Parameters<typeof pairExamples>[1]);
}

const labelsOf = (ex: readonly Example[]) => ex.map((e) => {
  if (e.label === null) throw new ConfigError('example without a label', undefined, 'label');
  return e.label;
});

/** Fine-tune + dev accuracy of one arm on one SuperGLUE pair task. */
export const superglueSeq2SeqRun: RunFn = async (job, ctl) => {
  const b = seq2seqBudget(job.budget);
  const task = job.task as PairTask;
  if (!['rte', 'cb', 'wic', 'boolq'].includes(task)) throw new ConfigError(`'${job.task}' is not one of rte, cb, wic, boolq`, undefined, 'task');
  const dir = join(REPO_ROOT, b.model);
  const got = (await modelIdentity(dir)).modelSha;
  if (got !== b.modelSha) throw new ConfigError(`weights hash ${got} differs from the budget's ${b.modelSha}`, join(dir, 'model.safetensors'), 'modelSha');
  const tok = loadTokenizer(dir);
  const adapted = await adaptedArm(job.variant, b, tok, ctl);

  const trainAll = await taskExamples(task, 'train');
  const dev = (await taskExamples(task, 'val')).slice(0, b.devLimit > 0 ? b.devLimit : undefined);
  const trainEx = b.trainLimit < trainAll.length ? new Rng(`${job.seed}/subset`).shuffle([...trainAll]).slice(0, b.trainLimit) : trainAll;
  const numLabels = task === 'cb' ? 3 : 2;
  const enc = { tokenizer: tok, maxLength: b.maxLength };
  const train_ = encodeExamples(trainEx, enc);
  const trainLabels = labelsOf(trainEx);
  const rows = trainEx.map((_, i) => rowIds(train_, i));
  const schedule = { lr: b.lr, warmupSteps: Math.round((b.warmup ?? 0.06) * b.steps), decay: b.schedule ?? 'linear' };
  const opts = { seed: job.seed, maxSteps: b.steps, schedule, ...(ctl.signal ? { signal: ctl.signal } : {}), ...(ctl.onProgress ? { onProgress: ctl.onProgress } : {}) };
  // Both arms: the one encoder + head module; encoder_decoder reads the T5Gemma encoder, decoder_only the causal decoder.
  const encoder =
    adapted.kind === 'encoder_decoder'
      ? superglueClassifier(adapted.model, numLabels, job.seed)
      : toEncoder(adapted.model, { attention: 'causal', pooling: 'last', dropout: { rate: 0 }, head: { kind: 'classification', numClasses: numLabels }, seed: job.seed });
  let predictions: number[] = [];
  let lastLoss = NaN;
  try {
    const batches = (_e: number, rng: Rng): Labelled[] => {
      const order = rng.shuffle(rows.map((_, i) => i));
      return Array.from({ length: Math.ceil(order.length / b.batch) }, (_, k) => {
        const idx = order.slice(k * b.batch, (k + 1) * b.batch);
        return { ...padRight(idx.map((i) => rows[i] as number[]), tok.padId), labels: idx.map((i) => trainLabels[i] as number) };
      });
    };
    const r = await train(encoder, { epoch: batches, size: (x) => x.batch }, opts);
    lastLoss = r.logs.at(-1)?.loss ?? NaN;
    const probs = await classProbabilities(encoder, encodeExamples(dev, enc), 32);
    predictions = probs.map((p) => p.indexOf(Math.max(...p)));
  } finally {
    encoder.dispose();
    adapted.model.dispose();
  }
  const result = scoreSuperGlueTask(task, predictions, labelsOf(dev));
  const metrics = Object.fromEntries(Object.entries(result.metrics).filter((e): e is [string, number] => typeof e[1] === 'number'));
  return {
    metric: 'accuracy',
    value: metrics.accuracy as number,
    metrics: { ...metrics, score: result.score },
    steps: b.steps,
    extra: { lastTrainLoss: lastLoss, trainExamples: trainEx.length, devExamples: dev.length },
  };
};

/** The SuperGLUE tasks with training data here (ReCoRD has none; AX-b / AX-g have no training split). */
export const ARM_TASKS = ['boolq', 'cb', 'copa', 'multirc', 'rte', 'wic', 'wsc'] as const satisfies readonly E2ETask[];
type ArmTask = (typeof ARM_TASKS)[number];

/** Scored examples of a record (MultiRC: every answer option of every question of the paragraph). */
function scoredSize(task: ArmTask, r: unknown): number {
  return task === 'multirc' ? (r as { questions: { answers: unknown[] }[] }).questions.reduce((n, q) => n + q.answers.length, 0) : 1;
}

/** Whole records from the front of `rows` until they hold `n` scored examples (all when n <= 0). */
function takeScored<R>(task: ArmTask, rows: readonly R[], n: number): { taken: R[]; rest: R[] } {
  if (n <= 0) return { taken: [...rows], rest: [] };
  let k = 0;
  for (let count = 0; k < rows.length && count < n; k++) count += scoredSize(task, rows[k]);
  return { taken: rows.slice(0, k), rest: rows.slice(k) };
}

/**
 * Finding (e) under the v2 protocol: one arm (as `superglueSeq2SeqRun`) on any SuperGLUE task with data,
 * scored with the task's official metric (MultiRC F1a/EM mean, CB accuracy/F1 mean, else accuracy);
 * COPA and MultiRC as binary heads over their options, as `superglueEndToEnd` does. `validation` scored
 * examples carved from train (seeded; whole MultiRC paragraphs) choose the kept step, evaluated every
 * `evalEvery` steps; then `trainLimit` of the rest train; dev is scored once, at the end.
 */
export const superglueArmRun: RunFn = async (job, ctl) => {
  const b = seq2seqBudget(job.budget);
  const task = job.task as ArmTask;
  if (!(ARM_TASKS as readonly string[]).includes(task)) throw new ConfigError(`'${job.task}' is not one of ${ARM_TASKS.join(', ')}`, undefined, 'task');
  const dir = join(REPO_ROOT, b.model);
  const got = (await modelIdentity(dir)).modelSha;
  if (got !== b.modelSha) throw new ConfigError(`weights hash ${got} differs from the budget's ${b.modelSha}`, join(dir, 'model.safetensors'), 'modelSha');
  const tok = loadTokenizer(dir);
  // Splits before the (cached) adaptation, so a bad budget fails before any training.
  const { train: trainAll, dev } = await splits(task, { trainLimit: 0, devLimit: b.devLimit }, job.seed);
  const shuffled = new Rng(`${job.seed}/${task}/validation`).shuffle([...trainAll]);
  const carved = takeScored(task, shuffled, b.validation ?? 0);
  const validation = (b.validation ?? 0) > 0 ? carved.taken : [];
  const trainRec = takeScored(task, (b.validation ?? 0) > 0 ? carved.rest : shuffled, b.trainLimit).taken;
  if (trainRec.length === 0) throw new ConfigError(`validation of ${b.validation} leaves no training rows (${trainAll.length} in train)`, undefined, 'validation');

  const adapted = await adaptedArm(job.variant, b, tok, ctl);
  const numLabels = task === 'cb' ? 3 : 2;
  const input = { tokenizer: tok, maxLength: b.maxLength };
  // Both arms: the one encoder + head module; encoder_decoder reads its encoder, decoder_only the causal decoder's last token.
  const encoder =
    adapted.kind === 'encoder_decoder'
      ? superglueClassifier(adapted.model, numLabels, job.seed)
      : toEncoder(adapted.model, { attention: 'causal', pooling: 'last', dropout: { rate: 0 }, head: { kind: 'classification', numClasses: numLabels }, seed: job.seed });
  const scoreOn = async (rows: readonly unknown[]) => scoreE2E(task, await classifySuperGlue(encoder, task, rows as never, { ...input, batchSize: 32 }), rows);
  try {
    const schedule = { lr: b.lr, warmupSteps: Math.round((b.warmup ?? 0.06) * b.steps), decay: b.schedule ?? 'linear' };
    const r = await train(encoder, classificationData(superglueExamples(task, trainRec as never), b.batch, input), {
      seed: job.seed,
      maxSteps: b.steps,
      schedule,
      ...(validation.length > 0 ? { evaluate: { every: b.evalEvery ?? b.steps, name: `${task} validation`, mode: 'max' as const, run: async () => (await scoreOn(validation)).score } } : {}),
      ...(ctl.signal ? { signal: ctl.signal } : {}),
      ...(ctl.onProgress ? { onProgress: ctl.onProgress } : {}),
    });
    const sc = await scoreOn(dev);
    return {
      metric: 'score',
      value: sc.score,
      metrics: { ...sc.metrics, score: sc.score },
      steps: r.steps,
      extra: {
        lastTrainLoss: r.logs.at(-1)?.loss ?? NaN,
        trainExamples: trainRec.reduce((n, x) => n + scoredSize(task, x), 0),
        devExamples: dev.reduce((n, x) => n + scoredSize(task, x), 0),
        ...(r.best && validation.length > 0
          ? { validationScore: r.best.metric, selectedStep: r.best.step, validationExamples: validation.reduce((n, x) => n + scoredSize(task, x), 0) }
          : {}),
      },
    };
  } finally {
    encoder.dispose();
    adapted.model.dispose();
  }
};
