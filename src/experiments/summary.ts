/**
 * Summaries of ablation runs: per (task, variant) mean, sample std and n over seeds, and the paired
 * difference to a baseline variant over the seeds both have, with a percentile bootstrap interval and
 * an exact two-sided sign test. Plus Vega-Lite bars (mean) with error bars (±1 std) and the single runs.
 */
import { from, type ColumnTable } from 'arquero';
import { ConfigError } from '../errors.js';
import { VEGA_LITE_V5_SCHEMA, type ChartSpec } from '../report/plots.js';
import { Rng } from '../rng/index.js';
import { variantKey, variantLabel, type Variant } from './grid.js';
import type { RunRecord } from './store.js';

export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Sample standard deviation (n - 1); NaN below two values. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** 95% (default) percentile bootstrap interval of the mean of `xs`, `resamples` draws from a seeded Rng. */
export function bootstrapMeanInterval(xs: readonly number[], o: { resamples?: number; level?: number; seed?: number } = {}): [number, number] {
  if (xs.length === 0) return [NaN, NaN];
  const B = o.resamples ?? 2000;
  const level = o.level ?? 0.95;
  const rng = new Rng(o.seed ?? 0);
  const means = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let i = 0; i < xs.length; i++) s += xs[rng.int(xs.length)] as number;
    means[b] = s / xs.length;
  }
  means.sort();
  // Nearest-rank percentiles.
  const at = (q: number) => means[Math.min(B - 1, Math.max(0, Math.ceil(q * B) - 1))] as number;
  return [at((1 - level) / 2), at(1 - (1 - level) / 2)];
}

/** Exact two-sided sign test p-value for paired differences (zeros dropped); 1 when all are zero. */
export function signTest(diffs: readonly number[]): { wins: number; losses: number; p: number } {
  const wins = diffs.filter((d) => d > 0).length;
  const losses = diffs.filter((d) => d < 0).length;
  const m = wins + losses;
  if (m === 0) return { wins, losses, p: 1 };
  const k = Math.min(wins, losses);
  let tail = 0;
  let c = 1; // C(m, 0)
  for (let i = 0; i <= k; i++) {
    tail += c;
    c = (c * (m - i)) / (i + 1);
  }
  return { wins, losses, p: Math.min(1, (2 * tail) / 2 ** m) };
}

export interface SummaryRow {
  readonly task: string;
  readonly variant: string;
  readonly metric: string;
  readonly n: number;
  readonly mean: number;
  readonly std: number;
  /** Mean paired (same task and seed) difference to the baseline; NaN for the baseline itself. */
  readonly diff: number;
  readonly diff_lo: number;
  readonly diff_hi: number;
  /** Seeds where the variant beat / lost to the baseline, and the sign-test p-value. */
  readonly wins: number;
  readonly losses: number;
  readonly p_sign: number;
}

export interface SummaryOptions {
  /** The variant the others are compared to (paired by task and seed). */
  readonly baseline?: Variant;
  /** Row label of a variant (default: the factors that differ from the baseline). */
  readonly label?: (v: Variant) => string;
  /** Add rows with task "all" pooling every (task, seed) pair (default: when there are several tasks). */
  readonly pooled?: boolean;
  readonly bootstrap?: { readonly resamples?: number; readonly seed?: number };
}

/** Summary rows in order of first appearance of (task, variant); pooled "all" rows last. */
export function summarizeRuns(records: readonly RunRecord[], o: SummaryOptions = {}): SummaryRow[] {
  const label = o.label ?? ((v: Variant) => variantLabel(v, o.baseline));
  const baseKey = o.baseline ? variantKey(o.baseline) : undefined;
  if (baseKey !== undefined && !records.some((r) => variantKey(r.variant) === baseKey)) {
    throw new ConfigError(`no recorded run of the baseline ${baseKey}`, undefined, 'baseline');
  }
  const tasks = [...new Set(records.map((r) => r.task))];
  const variants = [...new Map(records.map((r) => [variantKey(r.variant), r.variant])).values()];
  const groups: { task: string; variant: Variant; runs: RunRecord[] }[] = [];
  for (const task of tasks)
    for (const variant of variants) {
      const runs = records.filter((r) => r.task === task && variantKey(r.variant) === variantKey(variant));
      if (runs.length > 0) groups.push({ task, variant, runs });
    }
  if (o.pooled ?? tasks.length > 1) {
    for (const variant of variants) {
      const runs = records.filter((r) => variantKey(r.variant) === variantKey(variant));
      groups.push({ task: 'all', variant, runs });
    }
  }
  return groups.map(({ task, variant, runs }) => {
    const values = runs.map((r) => r.value);
    const metrics = [...new Set(runs.map((r) => r.metric))];
    const row = { task, variant: label(variant), metric: metrics.join('/'), n: runs.length, mean: mean(values), std: sampleStd(values) };
    if (baseKey === undefined || variantKey(variant) === baseKey) return { ...row, diff: NaN, diff_lo: NaN, diff_hi: NaN, wins: 0, losses: 0, p_sign: NaN };
    // Pair on (task, seed): the baseline run of the same task and seed.
    const base = new Map(records.filter((r) => variantKey(r.variant) === baseKey).map((r) => [`${r.task}\u0000${r.seed}`, r.value]));
    const diffs = runs.flatMap((r) => {
      const b = base.get(`${r.task}\u0000${r.seed}`);
      return b === undefined ? [] : [r.value - b];
    });
    const [lo, hi] = bootstrapMeanInterval(diffs, o.bootstrap);
    const s = signTest(diffs);
    return { ...row, diff: diffs.length ? mean(diffs) : NaN, diff_lo: lo, diff_hi: hi, wins: s.wins, losses: s.losses, p_sign: diffs.length ? s.p : NaN };
  });
}

/** The summary as an arquero table (columns of SummaryRow). */
export function summaryTable(records: readonly RunRecord[], o: SummaryOptions = {}): ColumnTable {
  return from(summarizeRuns(records, o).map((r) => ({ ...r })));
}

/**
 * Bars of the mean per variant with ±1 std error bars and one dot per run, one panel per task.
 * Built from the single runs (Vega-Lite aggregates), so the chart and the table agree by construction.
 */
export function ablationChart(records: readonly RunRecord[], o: { label?: (v: Variant) => string; baseline?: Variant; title?: string; width?: number } = {}): ChartSpec {
  const label = o.label ?? ((v: Variant) => variantLabel(v, o.baseline));
  const order = [...new Set(records.map((r) => label(r.variant)))];
  const tasks = [...new Set(records.map((r) => r.task))];
  const metric = [...new Set(records.map((r) => r.metric))].join('/');
  const y = { field: 'variant', type: 'nominal', sort: order, title: null, axis: { labelLimit: 320 } };
  const x = { field: 'value', type: 'quantitative', title: `dev ${metric}: mean ± std, dots = seeds` };
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    ...(o.title ? { title: o.title } : {}),
    data: { values: records.map((r) => ({ task: r.task, variant: label(r.variant), seed: r.seed, value: r.value })) },
    facet: { column: { field: 'task', type: 'nominal', title: null, sort: tasks } },
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: o.width ?? 220,
      layer: [
        { mark: { type: 'bar', opacity: 0.7 }, encoding: { y, x: { ...x, aggregate: 'mean' }, color: { field: 'variant', type: 'nominal', sort: order, legend: null } } },
        { mark: { type: 'errorbar', extent: 'stdev', ticks: true }, encoding: { y, x } },
        { mark: { type: 'point', filled: true, size: 18, color: 'black', opacity: 0.6 }, encoding: { y, x, tooltip: [{ field: 'variant' }, { field: 'seed' }, { field: 'value', format: '.4f' }] } },
      ],
    },
  } as unknown as ChartSpec;
}

/** Paired differences to the baseline (summary rows): a dot at the mean difference, a line over its bootstrap interval, a rule at 0. */
export function differenceChart(rows: readonly SummaryRow[], o: { title?: string; width?: number } = {}): ChartSpec {
  const kept = rows.filter((r) => Number.isFinite(r.diff));
  const order = [...new Set(kept.map((r) => r.variant))];
  const tasks = [...new Set(kept.map((r) => r.task))];
  const y = { field: 'variant', type: 'nominal', sort: order, title: null, axis: { labelLimit: 320 } };
  const metric = [...new Set(kept.map((r) => r.metric))].join('/');
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    ...(o.title ? { title: o.title } : {}),
    data: { values: kept.map((r) => ({ task: r.task, variant: r.variant, diff: r.diff, lo: r.diff_lo, hi: r.diff_hi, n: r.n })) },
    facet: { column: { field: 'task', type: 'nominal', title: null, sort: tasks } },
    spec: {
      width: o.width ?? 220,
      layer: [
        { mark: { type: 'rule', color: 'gray', strokeDash: [4, 3] }, encoding: { x: { datum: 0, type: 'quantitative' } } },
        { mark: { type: 'rule', strokeWidth: 2 }, encoding: { y, x: { field: 'lo', type: 'quantitative', title: `${metric} − baseline (paired, 95% bootstrap CI)` }, x2: { field: 'hi' } } },
        { mark: { type: 'point', filled: true, size: 60 }, encoding: { y, x: { field: 'diff', type: 'quantitative' }, tooltip: [{ field: 'variant' }, { field: 'diff', format: '.4f' }, { field: 'lo', format: '.4f' }, { field: 'hi', format: '.4f' }, { field: 'n' }] } },
      ],
    },
  } as unknown as ChartSpec;
}

export type Direction = 'agrees' | 'leans agree' | 'leans disagree' | 'disagrees' | 'no data';

/**
 * How a paired difference compares with the paper's predicted sign: "agrees"/"disagrees" when the
 * bootstrap interval excludes 0, "leans ..." when only the mean difference points that way.
 */
export function direction(row: Pick<SummaryRow, 'diff' | 'diff_lo' | 'diff_hi'>, expected: 1 | -1): Direction {
  if (!Number.isFinite(row.diff)) return 'no data';
  const signed = (x: number) => x * expected;
  if (signed(row.diff_lo) > 0 && signed(row.diff_hi) > 0) return 'agrees';
  if (signed(row.diff_lo) < 0 && signed(row.diff_hi) < 0) return 'disagrees';
  return signed(row.diff) > 0 ? 'leans agree' : 'leans disagree';
}
