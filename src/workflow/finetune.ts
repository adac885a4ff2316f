/**
 * The analyst's one call per experiment: `finetune(model, task, budget, setup)` fine-tunes a Gemma
 * checkpoint as an encoder on any GLUE or SuperGLUE task or on MS MARCO (cross-encoder reranker or
 * bi-encoder), selects honestly (a validation split carved from train chooses the checkpoint; dev is
 * scored once, at the end), and returns the numbers as an arquero table plus Vega-Lite charts (training
 * curves, confusion matrix). `evaluate(encoder, task, setup)` scores an encoder without training;
 * `predictTest` writes leaderboard files; `exportHf` (./export.ts) saves the result.
 *
 * Task ids: GLUE as `cola` .. `wnli` (or `glue:cola`), SuperGLUE as `superglue:boolq` ..,
 * MS MARCO as `msmarco:rerank` (evaluated on TREC DL reranking) and `msmarco:embed` (retrieval).
 */
import { from, type ColumnTable } from 'arquero';
import { toEncoder, type GemmaEncoder } from '../encoder/encoder.js';
import { evaluateGlue, exampleTokenizer, finetuneGlue, glueFile, type Selection } from '../encoder/glue.js';
import { ConfigError } from '../errors.js';
import { writeGlueSubmission } from '../eval/glue.js';
import { writeMultiRCSubmission, writeReCoRDSubmission, writeSuperGlueSubmission } from '../eval/superglue.js';
import { checkBudget, type TrainBudget } from '../experiments/budget.js';
import { GemmaModel } from '../models/gemma.js';
import { Gemma4Model } from '../models/gemma4.js';
import type { T5GemmaModel } from '../models/t5gemma.js';
import type { EncoderBackbone } from '../encoder/backbone.js';
import type { AttentionMode } from '../nn/masks.js';
import type { Pooling } from '../nn/pooling.js';
import type { RunControl } from '../progress/index.js';
import { BiEncoderObjective, CrossEncoderObjective, rankingData } from '../rank/encoder.js';
import type { TrecDlYear } from '../rank/trecdl.js';
import { confusionMatrix, trainingCurve, type ChartSpec } from '../report/plots.js';
import { classifySuperGlue } from '../t5gemma/superglue.js';
import { GLUE_SPLIT_SIZES, GLUE_TASKS, loadGlue, type GlueTaskId } from '../tasks/glue.js';
import { loadSuperGlue, SUPERGLUE_SPLIT_SIZES, SUPERGLUE_TASKS, type SuperGlueRecords } from '../tasks/superglue.js';
import { padRight } from '../tokenize/batch.js';
import type { Tokenizer } from '../tokenize/index.js';
import { train, type CheckpointOptions, type EvalRecord, type StepLog } from '../train/trainer.js';
import { DEFAULT_TRIPLES, loadRankingGroups, rerankScores, retrieveScores, type RankScores } from './ranking.js';
import { evaluateSuperGlueRecords, finetuneSuperGlue, superglueClasses, type SuperGlueTrainTask } from './superglue.js';

export const GLUE_WORKFLOW_TASKS = ['cola', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli_m', 'mnli_mm', 'qnli', 'rte', 'wnli'] as const satisfies readonly GlueTaskId[];
export const SUPERGLUE_WORKFLOW_TASKS = ['boolq', 'cb', 'copa', 'multirc', 'record', 'rte', 'wic', 'wsc'] as const satisfies readonly SuperGlueTrainTask[];
export const RANK_WORKFLOW_TASKS = ['rerank', 'embed'] as const;

export type TaskRef =
  | { readonly benchmark: 'glue'; readonly task: (typeof GLUE_WORKFLOW_TASKS)[number] }
  | { readonly benchmark: 'superglue'; readonly task: SuperGlueTrainTask }
  | { readonly benchmark: 'msmarco'; readonly task: (typeof RANK_WORKFLOW_TASKS)[number] };

/** `cola`, `glue:cola`, `superglue:cb`, `msmarco:rerank` -> a task reference; anything else is a ConfigError listing the ids. */
export function parseTask(id: string): TaskRef {
  const [b, t] = id.includes(':') ? (id.split(':', 2) as [string, string]) : ['glue', id];
  if (b === 'glue' && (GLUE_WORKFLOW_TASKS as readonly string[]).includes(t)) return { benchmark: 'glue', task: t as TaskRef['task'] as (typeof GLUE_WORKFLOW_TASKS)[number] };
  if (b === 'superglue' && (SUPERGLUE_WORKFLOW_TASKS as readonly string[]).includes(t)) return { benchmark: 'superglue', task: t as SuperGlueTrainTask };
  if (b === 'msmarco' && (RANK_WORKFLOW_TASKS as readonly string[]).includes(t)) return { benchmark: 'msmarco', task: t as 'rerank' | 'embed' };
  throw new ConfigError(
    `unknown task '${id}': GLUE ${GLUE_WORKFLOW_TASKS.join(', ')}; SuperGLUE superglue:${SUPERGLUE_WORKFLOW_TASKS.join('|')}; msmarco:rerank, msmarco:embed`,
    undefined,
    'task',
  );
}

export const taskId = (t: TaskRef): string => (t.benchmark === 'glue' ? t.task : `${t.benchmark}:${t.task}`);

/** How the decoder becomes an encoder (the ablation factors of the Gemma Encoder paper). */
export interface EncoderVariantSpec {
  readonly attention?: AttentionMode;
  readonly pooling?: Pooling;
  readonly dropout?: number;
  /** Learn `score.bias` (default true; false + 'last' pooling exports as HF's `score.weight`). */
  readonly bias?: boolean;
}

/** Defaults: bidirectional attention, mean pooling, dropout 0.1 (the paper's best GLUE setting). */
export const DEFAULT_VARIANT: Required<EncoderVariantSpec> = { attention: 'bidirectional_global', pooling: 'mean', dropout: 0.1, bias: true };

export interface WorkflowSetup extends RunControl {
  readonly tokenizer: Tokenizer;
  readonly variant?: EncoderVariantSpec;
  /** Data files instead of ../shared/data (train: GLUE TSV / SuperGLUE JSONL / triples or {query,pos,neg} JSONL). */
  readonly files?: { readonly train?: string; readonly dev?: string };
  /** Trainer checkpoints (resumable; saved on abort). */
  readonly checkpoint?: CheckpointOptions;
  readonly resume?: boolean;
  /** Ranking: hard negatives per query (default 1), MNRL temperature (0.05), TREC DL year (2019). */
  readonly negatives?: number;
  readonly temperature?: number;
  readonly year?: TrecDlYear;
}

export interface WorkflowReport {
  readonly task: string;
  readonly ref: TaskRef;
  /** Headline dev score (the official task score; ranking: nDCG@10) and every dev metric. */
  readonly score: number;
  readonly metrics: Readonly<Record<string, number>>;
  /** Ranking: BM25's numbers on the same queries. */
  readonly baseline?: Readonly<Record<string, number>>;
  readonly selection: Selection;
  readonly steps: number;
  readonly trainExamples: number;
  readonly logs: readonly StepLog[];
  readonly evals: readonly EvalRecord[];
  /** Classification dev predictions and gold labels (confusion matrix). */
  readonly confusion?: { readonly labels: readonly string[]; readonly matrix: readonly (readonly number[])[] };
  /** One row per (split, metric, value), plus the selection facts. */
  readonly table: ColumnTable;
  readonly charts: { readonly loss?: ChartSpec; readonly validation?: ChartSpec; readonly confusion?: ChartSpec };
}

export interface FinetuneResult extends WorkflowReport {
  /** The fine-tuned encoder (on `model`, changed in place); dispose it and the model when done. */
  readonly encoder: GemmaEncoder;
}

/** The labels of a task's classes (classification), or undefined. */
export function taskLabels(ref: TaskRef): readonly string[] | undefined {
  if (ref.benchmark === 'glue') return GLUE_TASKS[ref.task].labelNames;
  if (ref.benchmark === 'superglue') return ref.task === 'copa' || ref.task === 'multirc' || ref.task === 'record' ? ['False', 'True'] : SUPERGLUE_TASKS[ref.task].labelNames;
  return undefined;
}

/** What can be fine-tuned: a Gemma decoder (run with the variant's attention), a T5Gemma model (its encoder) or any backbone. */
export type EncoderSource = GemmaModel | Gemma4Model | T5GemmaModel | EncoderBackbone;

/**
 * The encoder a task trains: its head (classes / regression / ranking) on the model with the variant.
 * The attention mode applies to Gemma decoders; a T5Gemma encoder or a backbone attends its own way.
 */
export function taskEncoder(model: EncoderSource, ref: TaskRef, variant: EncoderVariantSpec = {}, seed = 0): GemmaEncoder {
  const v = { ...DEFAULT_VARIANT, ...variant };
  const head =
    ref.benchmark === 'glue'
      ? GLUE_TASKS[ref.task].kind === 'regression'
        ? ({ kind: 'regression' } as const)
        : ({ kind: 'classification', numClasses: GLUE_TASKS[ref.task].labelNames?.length ?? 2 } as const)
      : ref.benchmark === 'superglue'
        ? ({ kind: 'classification', numClasses: superglueClasses(ref.task) } as const)
        : ({ kind: 'ranking', loss: 'pairwise' } as const);
  return toEncoder(model, { ...(model instanceof GemmaModel || model instanceof Gemma4Model ? { attention: v.attention } : {}), pooling: v.pooling, dropout: { rate: v.dropout }, head, bias: v.bias, seed });
}

function confusionOf(pred: readonly number[], gold: readonly number[], labels: readonly string[]): number[][] {
  const m = labels.map(() => labels.map(() => 0));
  pred.forEach((p, i) => {
    const row = m[gold[i] as number];
    if (row && p >= 0 && p < labels.length) row[p] = (row[p] as number) + 1;
  });
  return m;
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

function report(
  ref: TaskRef,
  r: Omit<WorkflowReport, 'table' | 'charts' | 'task' | 'ref'>,
): WorkflowReport {
  const rows = [
    ...Object.entries(r.metrics).map(([metric, value]) => ({ split: ref.benchmark === 'msmarco' ? `trec-dl` : 'dev', model: 'fine-tuned', metric, value: r4(value) })),
    ...Object.entries(r.baseline ?? {}).map(([metric, value]) => ({ split: 'trec-dl', model: 'bm25', metric, value: r4(value) })),
    ...(r.selection.best ? [{ split: `validation (${r.selection.validationExamples} rows from train)`, model: `step ${r.selection.best.step}`, metric: 'selected on', value: r4(r.selection.best.metric) }] : []),
  ];
  const loss = r.logs.length ? trainingCurve(r.logs.map((l) => ({ step: l.step, value: l.loss, series: 'train loss' })), { metric: 'loss', title: `${taskId(ref)}: training loss` }) : undefined;
  const validation = r.evals.length ? trainingCurve(r.evals.map((e) => ({ step: e.step, value: e.metric, series: 'validation (from train)' })), { metric: 'score', title: `${taskId(ref)}: validation score` }) : undefined;
  const confusion = r.confusion ? confusionMatrix(r.confusion.matrix, r.confusion.labels, { title: `${taskId(ref)}: dev confusion` }) : undefined;
  return { task: taskId(ref), ref, ...r, table: from(rows), charts: { ...(loss ? { loss } : {}), ...(validation ? { validation } : {}), ...(confusion ? { confusion } : {}) } };
}

const numericMetrics = (m: Readonly<Record<string, unknown>>): Record<string, number> =>
  Object.fromEntries(Object.entries(m).filter((e): e is [string, number] => typeof e[1] === 'number'));

const rankMetrics = (s: RankScores['model']): Record<string, number> => ({ ndcg10: s.ndcg10, map: s.map, recall100: s.recall100, mrr10: s.mrr10 });

async function glueConfusion(task: GlueTaskId, predictions: readonly number[], devFile: string, devLimit: number | undefined) {
  const labels = GLUE_TASKS[task].labelNames;
  if (!labels) return undefined;
  const gold = (await loadGlue(task, devFile)).examples.slice(0, devLimit ?? Infinity).map((e) => e.label as number);
  return { labels, matrix: confusionOf(predictions, gold, labels) };
}

function superglueConfusion(ref: TaskRef & { benchmark: 'superglue' }, dev: Awaited<ReturnType<typeof evaluateSuperGlueRecords>>, records: readonly { idx: number; label?: number | null }[]) {
  const p = dev.predictions;
  if (p.task === 'multirc' || p.task === 'record' || p.task === 'copa') return undefined;
  const labels = taskLabels(ref) as readonly string[];
  const gold = new Map(records.map((r) => [r.idx, r.label ?? -1]));
  return { labels, matrix: confusionOf(p.predictions.map((x) => x.prediction), p.predictions.map((x) => gold.get(x.idx) ?? -1), labels) };
}

/**
 * Fine-tunes `model` (changed in place) on `task` under `budget` and scores it on dev once.
 * Budget defaults: batch 16, lr 2e-5, 1 epoch, maxLength 128, seed 0, warmup 0.06, linear decay.
 */
export async function finetune(model: EncoderSource, task: string | TaskRef, budget: TrainBudget, setup: WorkflowSetup): Promise<FinetuneResult> {
  const ref = typeof task === 'string' ? parseTask(task) : task;
  checkBudget(budget, taskId(ref));
  const seed = budget.seed ?? 0;
  const maxLength = budget.maxLength ?? 128;
  const batch = budget.batch ?? 16;
  const encoder = taskEncoder(model, ref, setup.variant, seed);
  try {
    const ctl = { ...(setup.signal ? { signal: setup.signal } : {}), ...(setup.onProgress ? { onProgress: setup.onProgress } : {}) };
    const ck = { ...(setup.checkpoint ? { checkpoint: setup.checkpoint } : {}), ...(setup.resume ? { resume: true } : {}) };
    if (ref.benchmark === 'glue') {
      const r = await finetuneGlue(ref.task, encoder, {
        tokenizer: exampleTokenizer(setup.tokenizer, maxLength),
        maxLength,
        seed,
        trainBatchSize: batch,
        ...(budget.steps !== undefined ? { maxSteps: budget.steps } : {}),
        ...(budget.epochs !== undefined ? { epochs: budget.epochs } : {}),
        schedule: { lr: budget.lr ?? 2e-5, decay: budget.schedule ?? 'linear' },
        warmupFraction: budget.warmup ?? 0.06,
        ...(budget.evalEvery !== undefined ? { evalEvery: budget.evalEvery } : {}),
        ...(budget.validation !== undefined ? { validation: budget.validation } : {}),
        ...(budget.trainLimit !== undefined ? { trainLimit: budget.trainLimit } : {}),
        ...(budget.devLimit ? { devLimit: budget.devLimit } : {}),
        ...(setup.files ? { files: setup.files } : {}),
        ...ck,
        ...ctl,
      });
      const devFile = setup.files?.dev ?? glueFile(ref.task, 'dev');
      const confusion = await glueConfusion(ref.task, r.dev.predictions, devFile, budget.devLimit || undefined);
      return { encoder, ...report(ref, { score: r.dev.score, metrics: numericMetrics(r.dev.metrics), selection: r.selection, steps: r.steps, trainExamples: r.trainExamples, logs: r.logs, evals: r.evals, ...(confusion ? { confusion } : {}) }) };
    }
    if (ref.benchmark === 'superglue') {
      const r = await finetuneSuperGlue(ref.task, encoder, {
        tokenizer: setup.tokenizer,
        maxLength,
        seed,
        batchSize: batch,
        ...(budget.steps !== undefined ? { maxSteps: budget.steps } : {}),
        ...(budget.epochs !== undefined ? { epochs: budget.epochs } : {}),
        lr: budget.lr ?? 2e-5,
        ...(budget.schedule ? { decay: budget.schedule } : {}),
        warmupFraction: budget.warmup ?? 0.06,
        ...(budget.evalEvery !== undefined ? { evalEvery: budget.evalEvery } : {}),
        ...(budget.validation !== undefined ? { validation: budget.validation } : {}),
        ...(budget.trainLimit !== undefined ? { trainLimit: budget.trainLimit } : {}),
        ...(budget.devLimit ? { devLimit: budget.devLimit } : {}),
        ...(setup.files ? { files: setup.files } : {}),
        ...ck,
        ...ctl,
      });
      const dev = setup.files?.dev ?? (await import('../tasks/superglue.js')).superglueSharedFile(ref.task, 'val');
      const records = (await loadSuperGlue(ref.task, dev)).records as readonly { idx: number; label?: number | null }[];
      const confusion = superglueConfusion(ref, r.dev, records);
      return { encoder, ...report(ref, { score: r.dev.score, metrics: numericMetrics(r.dev.metrics), selection: r.selection, steps: r.steps, trainExamples: r.trainExamples, logs: r.logs, evals: r.evals, ...(confusion ? { confusion } : {}) }) };
    }
    // MS MARCO: groups of (query, positive, hard negatives); no validation selection (final weights).
    const groups = await loadRankingGroups(setup.files?.train ?? DEFAULT_TRIPLES, setup.negatives ?? 1);
    const limited = budget.trainLimit !== undefined ? groups.slice(0, budget.trainLimit) : groups;
    if (batch > limited.length) throw new ConfigError(`batch ${batch} is larger than the ${limited.length} training groups`, setup.files?.train ?? DEFAULT_TRIPLES, 'batch');
    const steps = budget.steps ?? Math.max(1, Math.round((budget.epochs ?? 1) * Math.ceil(limited.length / batch)));
    const objective =
      ref.task === 'rerank'
        ? new CrossEncoderObjective(encoder, setup.tokenizer, { maxLength }, 'pairwise')
        : new BiEncoderObjective(encoder, setup.tokenizer, { maxLength }, setup.temperature ?? 0.05);
    const run = await train(objective, rankingData(limited, batch), {
      seed,
      maxSteps: steps,
      schedule: { lr: budget.lr ?? 2e-5, decay: budget.schedule ?? 'linear', warmupSteps: Math.round((budget.warmup ?? 0.06) * steps) },
      ...ck,
      ...ctl,
    });
    const year = setup.year ?? 2019;
    const s = ref.task === 'rerank' ? await rerankScores(encoder, year, { tokenizer: setup.tokenizer, maxLength, ...ctl }) : await retrieveScores(encoder, year, { tokenizer: setup.tokenizer, maxLength, ...ctl });
    return {
      encoder,
      ...report(ref, {
        score: s.model.ndcg10,
        metrics: rankMetrics(s.model),
        baseline: rankMetrics(s.bm25),
        selection: { by: 'none', validationExamples: 0, stratified: false, seed, devEvaluations: 1 },
        steps: run.steps,
        trainExamples: limited.length,
        logs: run.logs,
        evals: run.evals,
      }),
    };
  } catch (e) {
    encoder.dispose();
    throw e;
  }
}

/** Scores an encoder (already fine-tuned, or fresh) on the task's dev split (ranking: TREC DL), no training. */
export async function evaluate(encoder: GemmaEncoder, task: string | TaskRef, setup: WorkflowSetup & { readonly maxLength?: number; readonly devLimit?: number }): Promise<WorkflowReport> {
  const ref = typeof task === 'string' ? parseTask(task) : task;
  const maxLength = setup.maxLength ?? 128;
  const none: Selection = { by: 'none', validationExamples: 0, stratified: false, seed: 0, devEvaluations: 1 };
  const ctl = { ...(setup.signal ? { signal: setup.signal } : {}), ...(setup.onProgress ? { onProgress: setup.onProgress } : {}) };
  if (ref.benchmark === 'glue') {
    const devFile = setup.files?.dev ?? glueFile(ref.task, 'dev');
    const r = await evaluateGlue(ref.task, encoder, { tokenizer: exampleTokenizer(setup.tokenizer, maxLength), maxLength, file: devFile, ...(setup.devLimit ? { devLimit: setup.devLimit } : {}), ...ctl });
    const confusion = await glueConfusion(ref.task, r.predictions, devFile, setup.devLimit);
    return report(ref, { score: r.score, metrics: numericMetrics(r.metrics), selection: none, steps: 0, trainExamples: 0, logs: [], evals: [], ...(confusion ? { confusion } : {}) });
  }
  if (ref.benchmark === 'superglue') {
    const file = setup.files?.dev ?? (await import('../tasks/superglue.js')).superglueSharedFile(ref.task, 'val');
    const records = (await loadSuperGlue(ref.task, file)).records.slice(0, setup.devLimit ?? Infinity) as readonly SuperGlueRecords[SuperGlueTrainTask][];
    const r = await evaluateSuperGlueRecords(encoder, ref.task, records, { tokenizer: setup.tokenizer, maxLength, ...ctl });
    const confusion = superglueConfusion(ref, r, records as readonly { idx: number; label?: number | null }[]);
    return report(ref, { score: r.score, metrics: numericMetrics(r.metrics), selection: none, steps: 0, trainExamples: 0, logs: [], evals: [], ...(confusion ? { confusion } : {}) });
  }
  const year = setup.year ?? 2019;
  const s = ref.task === 'rerank' ? await rerankScores(encoder, year, { tokenizer: setup.tokenizer, maxLength, ...ctl }) : await retrieveScores(encoder, year, { tokenizer: setup.tokenizer, maxLength, ...ctl });
  return report(ref, { score: s.model.ndcg10, metrics: rankMetrics(s.model), baseline: rankMetrics(s.bm25), selection: none, steps: 0, trainExamples: 0, logs: [], evals: [] });
}

/** The training and dev files a task reads (the setup's override, else ../shared/data). */
export async function taskFiles(ref: TaskRef, files: WorkflowSetup['files'] = {}): Promise<{ train: string; dev?: string }> {
  if (ref.benchmark === 'glue') return { train: files.train ?? glueFile(ref.task, 'train'), dev: files.dev ?? glueFile(ref.task, 'dev') };
  if (ref.benchmark === 'superglue') {
    const { superglueSharedFile } = await import('../tasks/superglue.js');
    return { train: files.train ?? superglueSharedFile(ref.task, 'train'), dev: files.dev ?? superglueSharedFile(ref.task, 'val') };
  }
  return { train: files.train ?? DEFAULT_TRIPLES };
}

/**
 * Checks a test file before any training: it loads, it has no labels it should not, and its row count
 * is the official test size (the leaderboard rejects anything else). Returns the row count.
 */
export async function checkTestFile(ref: TaskRef, file: string, o: { readonly checkSize?: boolean } = {}): Promise<number> {
  if (ref.benchmark === 'msmarco') throw new ConfigError('MS MARCO has no leaderboard test file here', file, 'test-file');
  const n = ref.benchmark === 'glue' ? (await loadGlue(ref.task, file)).examples.length : (await loadSuperGlue(ref.task, file)).records.length;
  const want = ref.benchmark === 'glue' ? GLUE_SPLIT_SIZES[ref.task].test : SUPERGLUE_SPLIT_SIZES[ref.task].test;
  if ((o.checkSize ?? true) && n !== want) throw new ConfigError(`${n} rows, the official ${taskId(ref)} test split has ${want}`, file, 'test-file');
  return n;
}

/** Predicts a test file and writes the leaderboard file (GLUE `<Task>.tsv`, SuperGLUE `<Task>.jsonl`) into `outDir`. */
export async function predictTest(encoder: GemmaEncoder, ref: TaskRef, file: string, outDir: string, o: { readonly tokenizer: Tokenizer; readonly maxLength?: number; readonly checkSize?: boolean }): Promise<string> {
  const maxLength = o.maxLength ?? 128;
  const checkSize = { checkSize: o.checkSize ?? true };
  if (ref.benchmark === 'glue') {
    const tok = exampleTokenizer(o.tokenizer, maxLength);
    const ex = (await loadGlue(ref.task, file)).examples;
    const preds: { idx: number; prediction: number }[] = [];
    for (let s = 0; s < ex.length; s += 64) {
      const part = ex.slice(s, s + 64);
      const { values } = encoder.predict(padRight(part.map((e) => tok.encode(e.texts).slice(0, maxLength)), tok.padId));
      part.forEach((e, i) => preds.push({ idx: e.idx, prediction: values[i] as number }));
    }
    return writeGlueSubmission(outDir, ref.task, preds, checkSize);
  }
  if (ref.benchmark === 'superglue') {
    const records = (await loadSuperGlue(ref.task, file)).records as readonly SuperGlueRecords[SuperGlueTrainTask][];
    const p = await classifySuperGlue(encoder, ref.task, records, { tokenizer: o.tokenizer, maxLength, batchSize: 32 });
    if (p.task === 'multirc') return writeMultiRCSubmission(outDir, p.predictions, checkSize);
    if (p.task === 'record') return writeReCoRDSubmission(outDir, p.predictions, checkSize);
    return writeSuperGlueSubmission(outDir, p.task as Exclude<typeof p.task, 'axb'> , p.predictions, checkSize);
  }
  throw new ConfigError('MS MARCO has no leaderboard test file here', file, 'test-file');
}
