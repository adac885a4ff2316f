/**
 * GLUE task scoring, the leaderboard average and submission files (docs/benchmarks.md §1.2).
 *
 * Task score = mean of the task's metrics (MRPC/QQP: F1 and accuracy; STS-B: Pearson and
 * Spearman). GLUE score = unweighted mean over the 9 tasks CoLA, SST-2, MRPC, STS-B, QQP, MNLI,
 * QNLI, RTE, WNLI where MNLI counts once as mean(MNLI-m, MNLI-mm); AX is excluded.
 * (Check: BERT-Base's leaderboard row averages to 78.3 only this way.)
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { GLUE_SPLIT_SIZES, GLUE_TASKS, glueRawLabel, type GlueTaskId } from '../tasks/glue.js';
import type { MetricName } from '../tasks/types.js';
import { accuracy, f1Binary, mcc, mean, pearson, spearman } from './metrics.js';

export interface TaskResult {
  readonly task: string;
  /** Every official metric of the task, as a fraction (not percent). */
  readonly metrics: Readonly<Partial<Record<MetricName, number>>>;
  /** Mean of `metrics`: the number that enters the benchmark average. */
  readonly score: number;
}

/** Score one GLUE task. Classification: class ids; STS-B: float predictions vs gold scores. */
export function scoreGlueTask(task: GlueTaskId, predictions: ArrayLike<number>, labels: ArrayLike<number>): TaskResult {
  const spec = GLUE_TASKS[task];
  const metrics: Partial<Record<MetricName, number>> = {};
  for (const m of spec.metrics) {
    switch (m) {
      case 'accuracy':
        metrics.accuracy = accuracy(labels, predictions);
        break;
      case 'f1':
        metrics.f1 = f1Binary(labels, predictions, { posLabel: 1 });
        break;
      case 'mcc':
        metrics.mcc = mcc(labels, predictions);
        break;
      case 'pearson':
        metrics.pearson = pearson(predictions, labels);
        break;
      case 'spearman':
        metrics.spearman = spearman(predictions, labels);
        break;
      default:
        throw new Error(`GLUE task ${spec.name} lists unsupported metric ${m}`);
    }
  }
  return { task: spec.name, metrics, score: mean(Object.values(metrics) as number[]) };
}

/** The 9 entries of the GLUE average, in leaderboard order. */
export const GLUE_AVERAGE_TASKS = ['CoLA', 'SST-2', 'MRPC', 'STS-B', 'QQP', 'MNLI', 'QNLI', 'RTE', 'WNLI'] as const;

export interface GlueAverage {
  /** Mean of the available task scores in `GLUE_AVERAGE_TASKS`; NaN if none. */
  readonly score: number;
  /** Score per entry actually used (MNLI = mean of m and mm). */
  readonly perTask: Readonly<Record<string, number>>;
  /** Entries that were missing: a score with any missing entry is not the GLUE score. */
  readonly missing: readonly string[];
  readonly complete: boolean;
}

/**
 * Leaderboard average from task scores keyed by task name ('CoLA', 'MNLI-m', 'MNLI-mm', ...),
 * e.g. `TaskResult.score` values. MNLI needs both halves; AX (and anything else) is ignored.
 */
export function glueAverage(scores: Readonly<Record<string, number>>): GlueAverage {
  const perTask: Record<string, number> = {};
  const missing: string[] = [];
  for (const name of GLUE_AVERAGE_TASKS) {
    if (name === 'MNLI') {
      const m = scores['MNLI-m'];
      const mm = scores['MNLI-mm'];
      if (m === undefined || mm === undefined) missing.push(m === undefined ? 'MNLI-m' : 'MNLI-mm');
      else perTask.MNLI = (m + mm) / 2;
    } else if (scores[name] === undefined) {
      missing.push(name);
    } else {
      perTask[name] = scores[name];
    }
  }
  const vals = Object.values(perTask);
  return { score: vals.length ? mean(vals) : Number.NaN, perTask, missing, complete: missing.length === 0 };
}

export interface GluePrediction {
  /** The test file's `index` (Example.idx of a test split). */
  readonly idx: number;
  /** Class id (HF order, as the loaders produce) or, for STS-B, the predicted score. */
  readonly prediction: number;
}

/**
 * Write `<dir>/<Task>.tsv` in the leaderboard format: header `index\tprediction`, one row per test
 * example. Class ids become the labels the official files use (CoLA/SST-2/MRPC/QQP/WNLI `0`/`1`,
 * MNLI/AX/QNLI/RTE label strings); STS-B scores are clipped to [0, 5] (the server rejects values
 * outside) and rounded to 3 decimals, as jiant does. With `checkSize` (default true) the row count
 * must equal the official test size. Written atomically; returns the path.
 */
export async function writeGlueSubmission(
  dir: string,
  task: GlueTaskId,
  predictions: readonly GluePrediction[],
  opts: { checkSize?: boolean } = {},
): Promise<string> {
  const spec = GLUE_TASKS[task];
  const expected = GLUE_SPLIT_SIZES[task].test;
  if ((opts.checkSize ?? true) && predictions.length !== expected) {
    throw new RangeError(`${spec.name}: ${predictions.length} predictions, the test set has ${expected}`);
  }
  const seen = new Set<number>();
  const lines = ['index\tprediction'];
  for (const p of predictions) {
    if (!Number.isInteger(p.idx) || p.idx < 0) throw new RangeError(`${spec.name}: bad index ${p.idx}`);
    if (seen.has(p.idx)) throw new RangeError(`${spec.name}: index ${p.idx} predicted twice`);
    seen.add(p.idx);
    lines.push(`${p.idx}\t${formatPrediction(task, p.prediction)}`);
  }
  const path = join(dir, spec.submissionFile);
  await writeFileAtomic(path, lines.join('\n') + '\n');
  return path;
}

function formatPrediction(task: GlueTaskId, value: number): string {
  if (GLUE_TASKS[task].kind === 'regression') {
    if (!Number.isFinite(value)) throw new RangeError(`STS-B: prediction ${value} is not finite`);
    const clipped = Math.min(5, Math.max(0, value));
    return String(Math.round(clipped * 1000) / 1000);
  }
  return glueRawLabel(task, value);
}
