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

export interface GlueFinetuneOptions extends GlueEvalOptions, FinetuneRunOptions {
  readonly seed?: number;
  readonly trainBatchSize?: number;
  /** Optimizer steps; default `epochs` passes over the (limited) training set. */
  readonly maxSteps?: number;
  readonly epochs?: number;
  /** Peak lr, warmup and decay; warmupSteps defaults to `warmupFraction` (0.06) of the steps. */
  readonly schedule?: Partial<ScheduleOptions>;
  readonly warmupFraction?: number;
  readonly optimizer?: AdamWOptions;
  readonly gradAccumSteps?: number;
  readonly clipNorm?: number;
  readonly onLog?: (rec: StepLog) => void;
}

/** Selection, subsets, data files and checkpointing: what a GLUE and a SuperGLUE fine-tune share. */
export interface FinetuneRunOptions {
  /**
   * Validation evaluation every N steps (default: once per epoch) with early-stopping patience (default
   * none); the best-scoring weights are restored. Selection runs on `validation` rows carved from train,
   * never on dev, which is scored once, at the end.
   */
  readonly evalEvery?: number;
  readonly patience?: number;
  /**
   * Rows carved from the training split (seeded, stratified by label) to select on. Default: 10% of
   * the train rows (at least 1, at most 1000) when there is an evaluation before the last step or a
   * patience; otherwise 0. 0 turns selection off: the final weights are scored.
   */
  readonly validation?: number;
  /** Train on a seeded random subset of this many examples; evaluate on the first `devLimit` dev rows. */
  readonly trainLimit?: number;
  readonly devLimit?: number;
  /** Override the data files (default ../shared/data/<benchmark>/<task>/{train,dev}). */
  readonly files?: { readonly train?: string; readonly dev?: string };
  readonly checkpoint?: CheckpointOptions;
  readonly resume?: boolean;
}

export interface GlueEvalResult extends TaskResult {
  /** Per dev example, in file order: class ids (classification) or scores (STS-B). */
  readonly predictions: readonly number[];
  readonly examples: number;
  readonly seconds: number;
}

/** Which split chose what (the honest-selection record of a fine-tune). */
export interface Selection {
  /** 'validation': rows carved from train chose the restored checkpoint; 'none': the final weights were kept. */
  readonly by: 'validation' | 'none';
  /** Validation rows (carved from the training file, excluded from training). */
  readonly validationExamples: number;
  readonly stratified: boolean;
  readonly seed: number;
  /** Step and validation score of the restored weights. */
  readonly best?: EvalRecord;
  /** Dev was scored this many times (always 1: once, at the end). */
  readonly devEvaluations: 1;
}

export interface GlueFinetuneResult {
  readonly task: GlueTaskId;
  readonly trainExamples: number;
  readonly selection: Selection;
  readonly steps: number;
  readonly logs: readonly StepLog[];
  /** Validation task score at each evaluation (empty without selection). */
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

/**
 * Splits `examples` into (train, validation) with `size` validation rows, seeded and stratified: each
 * label (class id; regression scores by quintile) gives rows in proportion to its share (largest
 * remainders), picked at random; both parts keep file order.
 */
export function carveValidation<E extends { readonly label: number | null }>(
  examples: readonly E[],
  size: number,
  seed: number,
  regression = false,
): { train: E[]; validation: E[] } {
  if (size <= 0) return { train: [...examples], validation: [] };
  if (size >= examples.length) throw new ConfigError(`validation of ${size} rows leaves no training rows (${examples.length} in train)`, undefined, 'validation');
  const labels = examples.map((e) => e.label ?? 0);
  let strata = labels;
  if (regression) {
    const sorted = [...labels].sort((a, b) => a - b);
    const cut = [1, 2, 3, 4].map((q) => sorted[Math.floor((q * sorted.length) / 5)] as number);
    strata = labels.map((y) => cut.filter((c) => y >= c).length);
  }
  const groups = new Map<number, number[]>();
  strata.forEach((s, i) => groups.set(s, [...(groups.get(s) ?? []), i]));
  const keys = [...groups.keys()].sort((a, b) => a - b);
  const exact = keys.map((k) => ((groups.get(k) as number[]).length * size) / examples.length);
  const take = exact.map(Math.floor);
  const order = keys.map((_, i) => i).sort((a, b) => (exact[b] as number) - (take[b] as number) - ((exact[a] as number) - (take[a] as number)) || a - b);
  for (let r = size - take.reduce((a, b) => a + b, 0), j = 0; r > 0; r--, j++) take[order[j % order.length] as number]! += 1;
  const rng = new Rng(`${seed}/validation`);
  const chosen = new Set<number>();
  keys.forEach((k, i) => rng.shuffle(groups.get(k) as number[]).slice(0, take[i]).forEach((r) => chosen.add(r)));
  return { train: examples.filter((_, i) => !chosen.has(i)), validation: examples.filter((_, i) => chosen.has(i)) };
}

/** Default validation size: 10% of the train rows, at least 1, at most 1000. */
function defaultValidationSize(trainRows: number): number {
  return Math.min(1000, Math.max(1, Math.round(trainRows / 10)));
}

/**
 * Rows to carve from `trainRows` for selection: `o.validation`, else the default size when something is
 * evaluated before the last planned step or there is a patience, else 0. The plan counts the limited rows,
 * `rowsPerStep` at a time.
 */
export function plannedValidationSize(
  o: FinetuneRunOptions & { readonly maxSteps?: number; readonly epochs?: number },
  trainRows: number,
  rowsPerStep: number,
): number {
  const planRows = Math.min(o.trainLimit ?? trainRows, trainRows);
  const perEpoch = Math.ceil(planRows / rowsPerStep);
  const planSteps = o.maxSteps ?? Math.max(1, Math.round((o.epochs ?? 1) * perEpoch));
  const selects = o.patience !== undefined || (o.evalEvery ?? perEpoch) < planSteps;
  return o.validation ?? (selects ? defaultValidationSize(planRows) : 0);
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
  const batchSize = o.trainBatchSize ?? 32;
  const accum = o.gradAccumSteps ?? 1;
  // Selection happens when something is evaluated before the last step: then a validation split is
  // carved from train first (the trainLimit subset comes from what is left), so dev never selects.
  const validationSize = plannedValidationSize(o, trainSplit.examples.length, batchSize * accum);
  const carved = carveValidation(trainSplit.examples, validationSize, seed, spec.kind === 'regression');
  const trainRows = trainSubset(carved.train, o.trainLimit, seed);
  const devRows = devSplit.examples.slice(0, o.devLimit ?? devSplit.examples.length);
  if (batchSize > trainRows.length) throw new ConfigError(`batch ${batchSize} is larger than the ${trainRows.length} training examples`, trainFile, 'batch');

  // 2. tokenize
  const trainData = tokenizeExamples(trainRows, o.tokenizer, maxLength, trainFile);
  const valData = tokenizeExamples(carved.validation, o.tokenizer, maxLength, trainFile);
  const devData = tokenizeExamples(devRows, o.tokenizer, maxLength, devFile);

  // 3. batches: length-bucketed, reshuffled per epoch from the trainer's seeded Rng
  const lengths = trainData.ids.map((s) => s.length);
  const stepsPerEpoch = Math.ceil(trainData.ids.length / (batchSize * accum));
  const maxSteps = o.maxSteps ?? Math.max(1, Math.round((o.epochs ?? 1) * stepsPerEpoch));
  const evalOpts: GlueEvalOptions = { ...o, maxLength };

  // 4. train, evaluating the validation metric for early stopping / best restore
  const run = await train(
    encoder,
    {
      epoch: (_e, rng) => bucketedBatches(lengths, rng, { batchSize }).map((rows) => toBatch(trainData, rows, o.tokenizer.padId)),
      size: (b) => b.batch,
    },
    {
      seed,
      maxSteps,
      schedule: { lr: 2e-5, decay: 'linear', warmupSteps: Math.round((o.warmupFraction ?? 0.06) * maxSteps), ...o.schedule },
      ...(o.optimizer ? { optimizer: o.optimizer } : {}),
      ...(o.gradAccumSteps ? { gradAccumSteps: o.gradAccumSteps } : {}),
      ...(o.clipNorm !== undefined ? { clipNorm: o.clipNorm } : {}),
      ...(valData.ids.length > 0
        ? {
            evaluate: {
              every: o.evalEvery ?? stepsPerEpoch,
              name: `${spec.name} validation`,
              mode: 'max' as const,
              // No signal here: an abort is taken at the next step boundary, where the trainer can checkpoint.
              run: () => evaluateTokenized(task, encoder, valData, { ...evalOpts, signal: undefined, onProgress: undefined }).score,
              ...(o.patience !== undefined ? { patience: o.patience } : {}),
            },
          }
        : {}),
      ...(o.checkpoint ? { checkpoint: o.checkpoint } : {}),
      ...(o.resume ? { resume: o.resume } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.onLog ? { onLog: o.onLog } : {}),
    },
  );

  // 5. dev metric of the selected weights: the one and only dev evaluation
  const dev = evaluateTokenized(task, encoder, devData, evalOpts);
  const selection: Selection = {
    by: valData.ids.length > 0 ? 'validation' : 'none',
    validationExamples: valData.ids.length,
    stratified: true,
    seed,
    ...(run.best ? { best: run.best } : {}),
    devEvaluations: 1,
  };

  // 6. results
  const examplesSeen = run.logs.filter((l) => l.step > run.resumedFrom).reduce((n, l) => n + l.examples, 0);
  return {
    task,
    trainExamples: trainData.ids.length,
    selection,
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
