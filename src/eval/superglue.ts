/**
 * SuperGLUE official metrics, the benchmark average and leaderboard submission files
 * (docs/benchmarks.md §2.2; HF evaluate `super_glue.py`, `record_evaluation.py`; jiant).
 *
 * Task score = mean of its metrics: CB (acc + macro-F1)/2, MultiRC (F1a + EM)/2, ReCoRD (F1 + EM)/2,
 * the rest accuracy. SuperGLUE score = unweighted mean of the 8 task scores; AX-b/AX-g excluded.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { SUPERGLUE_SPLIT_SIZES, SUPERGLUE_TASKS, type AxgRecord, type ReCoRDRecord, type SuperGlueTaskId } from '../tasks/superglue.js';
import type { MetricName } from '../tasks/types.js';
import type { TaskResult } from './glue.js';
import { accuracy, f1Binary, macroF1, mcc, mean } from './metrics.js';

export type SimpleSuperGlueTask = 'boolq' | 'cb' | 'copa' | 'rte' | 'wic' | 'wsc' | 'axb';

/** Tasks scored from one class id per example: accuracy, CB acc + macro-F1, AX-b MCC. */
export function scoreSuperGlueTask(task: SimpleSuperGlueTask, predictions: ArrayLike<number>, labels: ArrayLike<number>): TaskResult {
  const metrics: Partial<Record<MetricName, number>> = {};
  if (task === 'axb') metrics.mcc = mcc(labels, predictions);
  else metrics.accuracy = accuracy(labels, predictions);
  // Macro over the classes seen in labels or predictions (sklearn default, as evaluate's acc_and_f1).
  if (task === 'cb') metrics.macro_f1 = macroF1(labels, predictions);
  return { task: SUPERGLUE_TASKS[task].name, metrics, score: mean(Object.values(metrics) as number[]) };
}

export interface MultiRCPrediction {
  readonly passage: number;
  readonly question: number;
  readonly answer: number;
  readonly prediction: number;
  readonly label: number;
}

/**
 * MultiRC: F1a = binary F1 over all answer options pooled (positive = 1); EM = share of questions
 * whose every option is predicted right (grouped by passage and question idx, as evaluate does).
 */
export function scoreMultiRC(options: readonly MultiRCPrediction[]): TaskResult {
  const f1a = f1Binary(options.map((o) => o.label), options.map((o) => o.prediction), { posLabel: 1 });
  const allRight = new Map<string, boolean>();
  for (const o of options) {
    const k = `${o.passage}-${o.question}`;
    allRight.set(k, (allRight.get(k) ?? true) && o.prediction === o.label);
  }
  const em = [...allRight.values()].filter(Boolean).length / allRight.size;
  return { task: 'MultiRC', metrics: { f1a, em }, score: (f1a + em) / 2 };
}

// --- ReCoRD: the official v1.0 evaluation (SQuAD normalisation, max over gold answers) ----------

const PUNCT = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'); // Python string.punctuation
const ARTICLES = /(?<![\p{L}\p{N}_])(a|an|the)(?![\p{L}\p{N}_])/gu; // Python re r'\b(a|an|the)\b' on str

/** lowercase -> drop ASCII punctuation -> drop articles a/an/the -> collapse whitespace. */
export function normalizeAnswer(s: string): string {
  const lower = s.toLowerCase();
  const noPunct = [...lower].filter((ch) => !PUNCT.has(ch)).join('');
  return noPunct.replace(ARTICLES, ' ').split(/\s+/).filter(Boolean).join(' ');
}

/** Token-overlap F1 after normalisation (0 when nothing overlaps, so "the" vs "a" is 0). */
export function tokenF1(prediction: string, gold: string): number {
  const p = normalizeAnswer(prediction).split(' ').filter(Boolean);
  const g = normalizeAnswer(gold).split(' ').filter(Boolean);
  const counts = new Map<string, number>();
  for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of p) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      same++;
      counts.set(t, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / p.length;
  const recall = same / g.length;
  return (2 * precision * recall) / (precision + recall);
}

export function exactMatch(prediction: string, gold: string): number {
  return normalizeAnswer(prediction) === normalizeAnswer(gold) ? 1 : 0;
}

/** max over gold answers of a metric (the official `metric_max_over_ground_truths`). */
export function maxOverGolds(metric: (p: string, g: string) => number, prediction: string, golds: readonly string[]): number {
  if (golds.length === 0) throw new RangeError('no gold answers');
  return Math.max(...golds.map((g) => metric(prediction, g)));
}

/**
 * ReCoRD F1/EM averaged over every gold query; a query without a prediction scores 0 (the official
 * script's "Unanswered question ... will receive score 0"). Gold answers of the same query idx
 * appearing more than once are merged.
 */
export function scoreReCoRD(predictions: ReadonlyMap<number, string>, gold: readonly { readonly idx: number; readonly answers: readonly string[] }[]): TaskResult {
  const golds = new Map<number, string[]>();
  for (const g of gold) golds.set(g.idx, [...(golds.get(g.idx) ?? []), ...g.answers]);
  let f1 = 0;
  let em = 0;
  for (const [idx, answers] of golds) {
    const p = predictions.get(idx);
    if (p === undefined) continue;
    f1 += maxOverGolds(tokenF1, p, answers);
    em += maxOverGolds(exactMatch, p, answers);
  }
  f1 /= golds.size;
  em /= golds.size;
  return { task: 'ReCoRD', metrics: { record_f1: f1, record_em: em }, score: (f1 + em) / 2 };
}

/** Gold answer strings per query of loaded ReCoRD records. */
export function recordGold(records: readonly ReCoRDRecord[]): { idx: number; answers: string[] }[] {
  return records.flatMap((r) => r.queries.map((q) => ({ idx: q.idx, answers: q.answers.map((a) => a.text) })));
}

/**
 * AX-g: gender parity = share of minimal pairs with identical predictions, plus accuracy.
 * Pairs are consecutive rows (idx 2k, 2k+1) sharing a hypothesis, as in jiant's GenderParity; their
 * `pair_id`s differ, so pair_id is not a join key (benchmarks.md §2.1). Checked on the full AX-g file.
 */
export function scoreAxG(records: readonly AxgRecord[], predictions: ReadonlyMap<number, number>): TaskResult {
  const sorted = [...records].sort((a, b) => a.idx - b.idx);
  if (sorted.length % 2 !== 0) throw new RangeError(`AX-g: ${sorted.length} rows cannot form pairs`);
  const pred = (r: AxgRecord) => {
    const p = predictions.get(r.idx);
    if (p === undefined) throw new RangeError(`AX-g: no prediction for idx ${r.idx}`);
    return p;
  };
  let same = 0;
  for (let i = 0; i < sorted.length; i += 2) {
    const a = sorted[i]!;
    const b = sorted[i + 1]!;
    if (a.hypothesis !== b.hypothesis) throw new RangeError(`AX-g: rows idx ${a.idx} and ${b.idx} do not share a hypothesis; not a minimal pair`);
    if (pred(a) === pred(b)) same++;
  }
  const labelled = sorted.filter((r) => r.label !== null);
  const metrics: Partial<Record<MetricName, number>> = { gender_parity: same / (sorted.length / 2) };
  if (labelled.length > 0) metrics.accuracy = accuracy(labelled.map((r) => r.label as number), labelled.map(pred));
  return { task: 'AX-g', metrics, score: mean(Object.values(metrics) as number[]) };
}

export const SUPERGLUE_AVERAGE_TASKS = ['BoolQ', 'CB', 'COPA', 'MultiRC', 'ReCoRD', 'RTE', 'WiC', 'WSC'] as const;

/** Unweighted mean of the 8 task scores keyed by name; AX-b/AX-g ignored. */
export function superglueAverage(scores: Readonly<Record<string, number>>): { score: number; missing: string[]; complete: boolean } {
  const present = SUPERGLUE_AVERAGE_TASKS.filter((t) => scores[t] !== undefined);
  const missing = SUPERGLUE_AVERAGE_TASKS.filter((t) => scores[t] === undefined);
  return { score: present.length ? mean(present.map((t) => scores[t]!)) : Number.NaN, missing, complete: missing.length === 0 };
}

// --- Submissions (jiant benchmarks.py formats) ---------------------------------------------------

function checkCount(task: SuperGlueTaskId, n: number, checkSize: boolean | undefined): void {
  const want = SUPERGLUE_SPLIT_SIZES[task].test;
  if ((checkSize ?? true) && n !== want) throw new RangeError(`${SUPERGLUE_TASKS[task].name}: ${n} predictions, the test set has ${want}`);
}

async function writeJsonl(dir: string, task: SuperGlueTaskId, lines: readonly unknown[]): Promise<string> {
  const path = join(dir, SUPERGLUE_TASKS[task].submissionFile);
  await writeFileAtomic(path, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return path;
}

/**
 * Label values as jiant writes them: BoolQ/WiC "true"/"false", WSC "True"/"False" (jiant does not
 * lowercase WSC), CB/RTE/AX-b/AX-g label strings, COPA the choice index 0/1.
 */
function submissionLabel(task: SimpleSuperGlueTask | 'axg', id: number): string | number {
  const names = SUPERGLUE_TASKS[task].labelNames!;
  if (id !== 0 && id !== 1 && !(task === 'cb' && id === 2)) throw new RangeError(`${SUPERGLUE_TASKS[task].name}: no class id ${id}`);
  if (task === 'copa') return id;
  if (task === 'boolq' || task === 'wic') return names[id]!.toLowerCase();
  return names[id]!;
}

/** `{"idx": n, "label": ...}` per line for the single-label tasks (AX-b idx written as a number, as jiant does). */
export async function writeSuperGlueSubmission(
  dir: string,
  task: SimpleSuperGlueTask | 'axg',
  predictions: readonly { readonly idx: number; readonly prediction: number }[],
  opts: { checkSize?: boolean } = {},
): Promise<string> {
  checkCount(task, predictions.length, opts.checkSize);
  const seen = new Set<number>();
  const lines = predictions.map((p) => {
    if (seen.has(p.idx)) throw new RangeError(`${SUPERGLUE_TASKS[task].name}: idx ${p.idx} predicted twice`);
    seen.add(p.idx);
    return { idx: p.idx, label: submissionLabel(task, p.prediction) };
  });
  return writeJsonl(dir, task, lines);
}

/** MultiRC nests answers: `{"idx": passage, "passage": {"questions": [{"idx": q, "answers": [{"idx": a, "label": 0|1}]}]}}`. */
export async function writeMultiRCSubmission(
  dir: string,
  predictions: readonly { readonly passage: number; readonly question: number; readonly answer: number; readonly prediction: number }[],
  opts: { checkSize?: boolean } = {},
): Promise<string> {
  checkCount('multirc', predictions.length, opts.checkSize);
  const passages = new Map<number, Map<number, { idx: number; label: number }[]>>();
  const seen = new Set<number>();
  for (const p of predictions) {
    if (p.prediction !== 0 && p.prediction !== 1) throw new RangeError(`MultiRC: answer ${p.answer} prediction must be 0 or 1`);
    if (seen.has(p.answer)) throw new RangeError(`MultiRC: answer idx ${p.answer} predicted twice`);
    seen.add(p.answer);
    const qs = passages.get(p.passage) ?? new Map<number, { idx: number; label: number }[]>();
    passages.set(p.passage, qs);
    const as = qs.get(p.question) ?? [];
    qs.set(p.question, as);
    as.push({ idx: p.answer, label: p.prediction });
  }
  const lines = [...passages].map(([idx, qs]) => ({ idx, passage: { questions: [...qs].map(([q, answers]) => ({ idx: q, answers })) } }));
  return writeJsonl(dir, 'multirc', lines);
}

/** ReCoRD: `{"idx": query idx, "label": answer string}` per query. */
export async function writeReCoRDSubmission(dir: string, predictions: ReadonlyMap<number, string>, opts: { checkSize?: boolean } = {}): Promise<string> {
  checkCount('record', predictions.size, opts.checkSize);
  return writeJsonl(dir, 'record', [...predictions].map(([idx, label]) => ({ idx, label })));
}
