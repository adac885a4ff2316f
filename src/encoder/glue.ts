/**
 * Fine-tune and evaluate a Gemma Encoder on one GLUE task:
 *   1. load the splits  2. tokenize  3. batches (length-bucketed, seeded)  4. train (src/train)
 *   5. dev metric (official GLUE metrics, src/eval/glue)  6. results (per-step logs + dev scores).
 */
import { ConfigError } from '../errors.js';
import { scoreGlueTask, type TaskResult } from '../eval/glue.js';
import { sharedDataPath } from '../io/paths.js';
import { throwIfAborted, type RunControl } from '../progress/index.js';
import { Rng } from '../rng/index.js';
import { GLUE_TASKS, loadGlue, type GlueTaskId } from '../tasks/glue.js';
import { type Example, labelsOf, type Texts } from '../tasks/types.js';
import { padRight, rowIds, type Labelled } from '../tokenize/batch.js';
import { encodeBatch, type Tokenizer } from '../tokenize/index.js';
import { bucketedBatches, sequentialBatches } from '../train/batching.js';
import type { AdamWOptions } from '../train/optimizer.js';
import type { ScheduleOptions } from '../train/schedule.js';
import { train, type CheckpointOptions, type EvalRecord, type StepLog } from '../train/trainer.js';
import type { GemmaEncoder } from './encoder.js';

/** Turns an example's text(s) into token ids (BOS, the texts, separators: the tokenizer's convention). */
export interface ExampleTokenizer {
  encode(texts: Texts): readonly number[];
  readonly padId: number;
}

/**
 * The project tokenizer as an ExampleTokenizer: `bos a` or `bos a eos b` (encodeBatch's pair convention),
 * truncated to maxLength (pairs longest-first).
 */
export function exampleTokenizer(tok: Tokenizer, maxLength = 128): ExampleTokenizer {
  return {
    padId: tok.padId,
    encode: (texts) => {
      const b = texts.length === 1 ? encodeBatch(tok, [texts[0]], { maxLength }) : encodeBatch(tok, [texts], { maxLength });
      return rowIds(b, 0);
    },
  };
}

export interface GlueEvalOptions extends RunControl {
  readonly tokenizer: ExampleTokenizer;
  /** Tokens kept per example (right truncation). Default 128. */
  readonly maxLength?: number;
  readonly batchSize?: number;
}

export interface GlueFinetuneOptions extends GlueEvalOptions {
  readonly seed?: number;
  readonly trainBatchSize?: number;
  /** Optimizer steps; default `epochs` passes over the (limited) training set. */
  readonly maxSteps?: number;
  readonly epochs?: number;
  /** Peak lr, warmup and decay; warmupSteps defaults to 6% of the steps. */
  readonly schedule?: Partial<ScheduleOptions>;
  readonly optimizer?: AdamWOptions;
  readonly gradAccumSteps?: number;
  readonly clipNorm?: number;
  /** Dev evaluation every N steps (default: once per epoch) with early-stopping patience (default none). */
  readonly evalEvery?: number;
  readonly patience?: number;
  /** Train on a seeded random subset of this many examples; evaluate on the first `devLimit` dev rows. */
  readonly trainLimit?: number;
  readonly devLimit?: number;
  /** Override the data files (default ../shared/data/glue/<task>/{train,dev}.tsv). */
  readonly files?: { readonly train?: string; readonly dev?: string };
  readonly checkpoint?: CheckpointOptions;
  readonly resume?: boolean;
  readonly onLog?: (rec: StepLog) => void;
}

export interface GlueEvalResult extends TaskResult {
  /** Per dev example, in file order: class ids (classification) or scores (STS-B). */
  readonly predictions: readonly number[];
  readonly examples: number;
  readonly seconds: number;
}

export interface GlueFinetuneResult {
  readonly task: GlueTaskId;
  readonly trainExamples: number;
  readonly steps: number;
  readonly logs: readonly StepLog[];
  /** Dev task score at each evaluation. */
  readonly evals: readonly EvalRecord[];
  readonly best?: EvalRecord;
  readonly stopReason: string;
  /** Dev result of the final (best, when evaluated during training) weights. */
  readonly dev: GlueEvalResult;
  readonly trainSeconds: number;
  readonly trainExamplesPerSecond: number;
}

/** Default file of a split (MNLI's dev files are per matched/mismatched set). */
export function glueFile(task: GlueTaskId, split: 'train' | 'dev'): string {
  if (task === 'mnli_m' || task === 'mnli_mm') {
    return sharedDataPath('glue', 'mnli', split === 'train' ? 'train.tsv' : task === 'mnli_m' ? 'dev_matched.tsv' : 'dev_mismatched.tsv');
  }
  if (task === 'ax') throw new ConfigError('AX has only a test split (scored with the MNLI model)', undefined, 'task');
  return sharedDataPath('glue', task, `${split}.tsv`);
}

/** The training rows finetuneGlue uses: a seeded random subset of `limit` rows (file order kept), or all. */
export function trainSubset<E>(examples: readonly E[], limit: number | undefined, seed: number): readonly E[] {
  if (limit === undefined || limit >= examples.length) return examples;
  const rows = new Rng(`${seed}/subset`).shuffle(examples.map((_, i) => i)).slice(0, limit);
  return rows.sort((a, b) => a - b).map((i) => examples[i] as E);
}

interface Tokenized {
  readonly ids: readonly (readonly number[])[];
  readonly labels: readonly number[];
}

function tokenizeExamples(examples: readonly Example[], tok: ExampleTokenizer, maxLength: number, file: string): Tokenized {
  const ids = examples.map((e) => tok.encode(e.texts).slice(0, maxLength));
  return { ids, labels: labelsOf({ file, examples }) };
}

const toBatch = (t: Tokenized, rows: readonly number[], padId: number): Labelled => ({
  ...padRight(rows.map((i) => t.ids[i] as readonly number[]), padId),
  labels: rows.map((i) => t.labels[i] as number),
});

/** Dev metric of `encoder` on tokenized examples (eval mode, length-sorted batches, file-order output). */
function evaluateTokenized(task: GlueTaskId, encoder: GemmaEncoder, data: Tokenized, o: GlueEvalOptions): GlueEvalResult {
  const t0 = performance.now();
  const predictions = new Array<number>(data.ids.length);
  const batches = sequentialBatches(data.ids.map((s) => s.length), o.batchSize ?? 64);
  batches.forEach((rows, k) => {
    throwIfAborted(o.signal, k);
    const { values } = encoder.predict(toBatch(data, rows, o.tokenizer.padId));
    rows.forEach((r, j) => (predictions[r] = values[j] as number));
    o.onProgress?.({ phase: `eval:${task}`, done: k + 1, total: batches.length });
  });
  const result = scoreGlueTask(task, predictions, data.labels);
  return { ...result, predictions, examples: data.ids.length, seconds: (performance.now() - t0) / 1000 };
}

/** Loads the dev split (optionally the first `devLimit` rows) and scores the encoder on it. */
export async function evaluateGlue(
  task: GlueTaskId,
  encoder: GemmaEncoder,
  o: GlueEvalOptions & { readonly devLimit?: number; readonly file?: string },
): Promise<GlueEvalResult> {
  const file = o.file ?? glueFile(task, 'dev');
  const split = await loadGlue(task, file);
  const examples = split.examples.slice(0, o.devLimit ?? split.examples.length);
  return evaluateTokenized(task, encoder, tokenizeExamples(examples, o.tokenizer, o.maxLength ?? 128, file), o);
}

export async function finetuneGlue(task: GlueTaskId, encoder: GemmaEncoder, o: GlueFinetuneOptions): Promise<GlueFinetuneResult> {
  const spec = GLUE_TASKS[task];
  const head = encoder.options.head;
  if ((spec.kind === 'regression') !== (head.kind === 'regression') || (head.kind === 'classification' && head.numClasses !== spec.labelNames?.length)) {
    throw new ConfigError(`${spec.name} is ${spec.kind}${spec.labelNames ? ` with ${spec.labelNames.length} classes` : ''}; the encoder head is ${JSON.stringify(head)}`, undefined, 'head');
  }
  const seed = o.seed ?? 0;
  const maxLength = o.maxLength ?? 128;

  // 1. load the splits
  const trainFile = o.files?.train ?? glueFile(task, 'train');
  const devFile = o.files?.dev ?? glueFile(task, 'dev');
  const trainSplit = await loadGlue(task, trainFile);
  const devSplit = await loadGlue(task, devFile);
  const trainRows = trainSubset(trainSplit.examples, o.trainLimit, seed);
  const devRows = devSplit.examples.slice(0, o.devLimit ?? devSplit.examples.length);

  // 2. tokenize
  const trainData = tokenizeExamples(trainRows, o.tokenizer, maxLength, trainFile);
  const devData = tokenizeExamples(devRows, o.tokenizer, maxLength, devFile);

  // 3. batches: length-bucketed, reshuffled per epoch from the trainer's seeded Rng
  const batchSize = o.trainBatchSize ?? 32;
  const lengths = trainData.ids.map((s) => s.length);
  const stepsPerEpoch = Math.ceil(trainData.ids.length / (batchSize * (o.gradAccumSteps ?? 1)));
  const maxSteps = o.maxSteps ?? Math.max(1, Math.round((o.epochs ?? 1) * stepsPerEpoch));
  const evalOpts: GlueEvalOptions = { ...o, maxLength };

  // 4. train, evaluating the dev metric for early stopping
  const run = await train(
    encoder,
    {
      epoch: (_e, rng) => bucketedBatches(lengths, rng, { batchSize }).map((rows) => toBatch(trainData, rows, o.tokenizer.padId)),
      size: (b) => b.batch,
    },
    {
      seed,
      maxSteps,
      schedule: { lr: 2e-5, decay: 'linear', warmupSteps: Math.round(0.06 * maxSteps), ...o.schedule },
      ...(o.optimizer ? { optimizer: o.optimizer } : {}),
      ...(o.gradAccumSteps ? { gradAccumSteps: o.gradAccumSteps } : {}),
      ...(o.clipNorm !== undefined ? { clipNorm: o.clipNorm } : {}),
      evaluate: {
        every: o.evalEvery ?? stepsPerEpoch,
        name: spec.name,
        mode: 'max',
        // No signal here: an abort is taken at the next step boundary, where the trainer can checkpoint.
        run: () => evaluateTokenized(task, encoder, devData, { ...evalOpts, signal: undefined, onProgress: undefined }).score,
        ...(o.patience !== undefined ? { patience: o.patience } : {}),
      },
      ...(o.checkpoint ? { checkpoint: o.checkpoint } : {}),
      ...(o.resume ? { resume: o.resume } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.onLog ? { onLog: o.onLog } : {}),
    },
  );

  // 5. dev metric of the restored best weights
  const dev = evaluateTokenized(task, encoder, devData, evalOpts);

  // 6. results
  const examplesSeen = run.logs.filter((l) => l.step > run.resumedFrom).reduce((n, l) => n + l.examples, 0);
  return {
    task,
    trainExamples: trainData.ids.length,
    steps: run.steps,
    logs: run.logs,
    evals: run.evals,
    ...(run.best ? { best: run.best } : {}),
    stopReason: run.stopReason,
    dev,
    trainSeconds: run.trainMs / 1000,
    trainExamplesPerSecond: examplesSeen / (run.trainMs / 1000),
  };
}
