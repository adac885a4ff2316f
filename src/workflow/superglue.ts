/**
 * SuperGLUE on an encoder classifier (any backbone: a Gemma decoder run as an encoder, the T5Gemma
 * encoder): every task as classification on the pooled representation. Single-label tasks have one
 * example per record; COPA, MultiRC and ReCoRD one binary example per choice / answer / candidate,
 * decided per group (src/tasks/superglue.ts, src/t5gemma/superglue.ts `classifySuperGlue`).
 * Honest selection as for GLUE: a validation part carved from train (whole records, so a group never
 * straddles the split) chooses the checkpoint; val (the dev split) is scored once, at the end.
 */
import type { GemmaEncoder } from '../encoder/encoder.js';
import { carveValidation, plannedValidationSize, type FinetuneRunOptions, type Selection } from '../encoder/glue.js';
import { ConfigError } from '../errors.js';
import type { TaskResult } from '../eval/glue.js';
import { recordGold, scoreMultiRC, scoreReCoRD, scoreSuperGlueTask, type SimpleSuperGlueTask } from '../eval/superglue.js';
import type { RunControl } from '../progress/index.js';
import { classificationData, classifySuperGlue, superglueExamples, type SuperGluePredictions } from '../t5gemma/superglue.js';
import { loadSuperGlue, superglueSharedFile, SUPERGLUE_TASKS, type SuperGlueRecords, type SuperGlueTaskId } from '../tasks/superglue.js';
import type { Tokenizer } from '../tokenize/index.js';
import { train, type EvalRecord, type StepLog } from '../train/trainer.js';

/** Tasks an encoder classifier is trained on here (AX-b / AX-g are test-only diagnostics). */
export type SuperGlueTrainTask = Exclude<SuperGlueTaskId, 'axb' | 'axg'>;

/** `validation` counts whole records carved from train (default as GLUE: 10% when there is selection). */
export interface SuperGlueFinetuneOptions extends RunControl, FinetuneRunOptions {
  readonly tokenizer: Tokenizer;
  readonly maxLength?: number;
  readonly seed?: number;
  readonly batchSize?: number;
  readonly maxSteps?: number;
  readonly epochs?: number;
  readonly lr?: number;
  readonly warmupFraction?: number;
  readonly decay?: 'constant' | 'linear' | 'cosine';
}

export interface SuperGlueEvalResult extends TaskResult {
  readonly predictions: SuperGluePredictions;
  /** Scored units: records (single-label), COPA items, MultiRC answer options, ReCoRD queries. */
  readonly examples: number;
}

export interface SuperGlueFinetuneResult {
  readonly task: SuperGlueTrainTask;
  readonly trainExamples: number;
  readonly selection: Selection;
  readonly steps: number;
  readonly logs: readonly StepLog[];
  readonly evals: readonly EvalRecord[];
  readonly dev: SuperGlueEvalResult;
}

/** Class count of a task's head: CB 3, every other task (grouped ones binary per member) 2. */
export const superglueClasses = (task: SuperGlueTaskId): number => (task === 'cb' ? 3 : 2);

type AnyRecord = SuperGlueRecords[SuperGlueTrainTask];

/** Official score of predictions against the records they were made for. */
export function scoreSuperGluePredictions(p: SuperGluePredictions, records: readonly AnyRecord[]): TaskResult {
  if (p.task === 'multirc') {
    return scoreMultiRC(p.predictions.map((x) => {
      if (x.label === null) throw new ConfigError('MultiRC answer without a label (test split?)', undefined, 'label');
      return { ...x, label: x.label };
    }));
  }
  if (p.task === 'record') return scoreReCoRD(p.predictions, recordGold(records as readonly SuperGlueRecords['record'][]));
  const labels = new Map((records as readonly { idx: number; label: number | null }[]).map((r) => [r.idx, r.label]));
  const gold = p.predictions.map((x) => {
    const y = labels.get(x.idx);
    if (y === undefined || y === null) throw new ConfigError(`record ${x.idx} has no label (test split?)`, undefined, 'label');
    return y;
  });
  return scoreSuperGlueTask(p.task as SimpleSuperGlueTask, p.predictions.map((x) => x.prediction), gold);
}

/** Predictions + official score of `encoder` on labelled records. */
export async function evaluateSuperGlueRecords(encoder: GemmaEncoder, task: SuperGlueTrainTask, records: readonly AnyRecord[], o: SuperGlueFinetuneOptions): Promise<SuperGlueEvalResult> {
  const predictions = await classifySuperGlue(encoder, task, records as readonly SuperGlueRecords[typeof task][], { tokenizer: o.tokenizer, maxLength: o.maxLength ?? 128, batchSize: 32, ...(o.signal ? { signal: o.signal } : {}) });
  const n = predictions.task === 'record' ? predictions.predictions.size : predictions.predictions.length;
  return { ...scoreSuperGluePredictions(predictions, records), predictions, examples: n };
}

const recordLabel = (r: AnyRecord): number | null => ('label' in r ? (r.label as number | null) : null);

export async function finetuneSuperGlue(task: SuperGlueTrainTask, encoder: GemmaEncoder, o: SuperGlueFinetuneOptions): Promise<SuperGlueFinetuneResult> {
  if (!(task in SUPERGLUE_TASKS) || task === ('axb' as string) || task === ('axg' as string)) throw new ConfigError(`'${task}' is not a trainable SuperGLUE task`, undefined, 'task');
  const want = superglueClasses(task);
  if (encoder.options.head.kind !== 'classification' || encoder.head.outputs !== want) throw new ConfigError(`${SUPERGLUE_TASKS[task].name} needs a ${want}-way classification head`, undefined, 'head');
  const seed = o.seed ?? 0;
  const maxLength = o.maxLength ?? 128;
  const trainFile = o.files?.train ?? superglueSharedFile(task, 'train');
  const devFile = o.files?.dev ?? superglueSharedFile(task, 'val');
  const trainSplit = await loadSuperGlue(task, trainFile);
  const devSplit = await loadSuperGlue(task, devFile);
  const all = trainSplit.records as readonly AnyRecord[];
  const batchSize = o.batchSize ?? 16;
  const grouped = task === 'copa' || task === 'multirc' || task === 'record';
  const vSize = plannedValidationSize(o, all.length, batchSize);
  // Stratify single-label tasks by their label; grouped tasks carve whole records at random.
  const carved = carveValidation(all.map((r) => ({ r, label: grouped ? 0 : recordLabel(r) })), vSize, seed);
  let trainRecords = carved.train.map((x) => x.r);
  if (o.trainLimit !== undefined && o.trainLimit < trainRecords.length) trainRecords = carveValidation(trainRecords.map((r) => ({ r, label: 0 })), trainRecords.length - o.trainLimit, seed + 1).train.map((x) => x.r);
  const valRecords = carved.validation.map((x) => x.r);
  const devRecords = (devSplit.records as readonly AnyRecord[]).slice(0, o.devLimit ?? devSplit.records.length);
  const examples = superglueExamples(task, trainRecords as readonly SuperGlueRecords[typeof task][]);
  if (batchSize > examples.length) throw new ConfigError(`batch ${batchSize} is larger than the ${examples.length} training examples`, trainFile, 'batch');
  const steps = o.maxSteps ?? Math.max(1, Math.round((o.epochs ?? 1) * Math.ceil(examples.length / batchSize)));
  const run = await train(encoder, classificationData(examples, batchSize, { tokenizer: o.tokenizer, maxLength }), {
    seed,
    maxSteps: steps,
    schedule: { lr: o.lr ?? 2e-5, decay: o.decay ?? 'linear', warmupSteps: Math.round((o.warmupFraction ?? 0.06) * steps) },
    ...(valRecords.length > 0
      ? {
          evaluate: {
            every: o.evalEvery ?? Math.ceil(examples.length / batchSize),
            name: `${SUPERGLUE_TASKS[task].name} validation`,
            mode: 'max' as const,
            run: async () => (await evaluateSuperGlueRecords(encoder, task, valRecords, { ...o, signal: undefined })).score,
            ...(o.patience !== undefined ? { patience: o.patience } : {}),
          },
        }
      : {}),
    ...(o.checkpoint ? { checkpoint: o.checkpoint } : {}),
    ...(o.resume ? { resume: o.resume } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  const dev = await evaluateSuperGlueRecords(encoder, task, devRecords, o);
  return {
    task,
    trainExamples: examples.length,
    selection: { by: valRecords.length > 0 ? 'validation' : 'none', validationExamples: valRecords.length, stratified: !grouped, seed, ...(run.best ? { best: run.best } : {}), devEvaluations: 1 },
    steps: run.steps,
    logs: run.logs,
    evals: run.evals,
    dev,
  };
}
