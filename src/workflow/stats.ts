/**
 * Seeds -> mean, sample std and a 95% Student-t interval of the mean (mean ± t(0.975, n-1) · std/√n),
 * the papers' way of reporting repeated fine-tunes. t quantiles are tabulated for 1..30 degrees of
 * freedom (standard values, 3 decimals) and follow the Cornish-Fisher expansion beyond.
 */
import { from, type ColumnTable } from 'arquero';
import { mean, sampleStd } from '../experiments/summary.js';
import type { RunRecord } from '../experiments/store.js';

const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** Two-sided 95% Student-t quantile t(0.975, df). */
export function t975(df: number): number {
  if (!(Number.isInteger(df) && df >= 1)) throw new RangeError(`degrees of freedom must be a positive integer, got ${df}`);
  if (df <= T975.length) return T975[df - 1] as number;
  const z = 1.959963984540054;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
}

export interface SeedStats {
  readonly n: number;
  readonly mean: number;
  /** Sample std (n - 1); NaN for one seed. */
  readonly std: number;
  /** 95% t interval of the mean; NaN bounds for one seed. */
  readonly lo: number;
  readonly hi: number;
}

export function seedStats(xs: readonly number[]): SeedStats {
  const m = mean(xs);
  const s = sampleStd(xs);
  const half = xs.length >= 2 ? (t975(xs.length - 1) * s) / Math.sqrt(xs.length) : NaN;
  return { n: xs.length, mean: m, std: s, lo: m - half, hi: m + half };
}

const r4 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : null);

/** One row per (task, variant, metric): n seeds, mean, std, 95% interval (the results table). */
export function seedTable(records: readonly RunRecord[], label: (r: RunRecord) => string = (r) => (Object.keys(r.variant).length ? JSON.stringify(r.variant) : '')): ColumnTable {
  const groups = new Map<string, { task: string; variant: string; metric: string; values: number[] }>();
  for (const r of records) {
    const own = Object.entries(r.metrics).filter(([k]) => k !== r.metric);
    // A one-metric task's score is that metric: one row, under the metric's name.
    const rows: (readonly [string, number])[] = own.length === 1 ? own : [[r.metric, r.value], ...own];
    for (const [metric, v] of rows) {
      const key = JSON.stringify([r.task, label(r), metric]);
      const g = groups.get(key) ?? { task: r.task, variant: label(r), metric, values: [] };
      g.values.push(v);
      groups.set(key, g);
    }
  }
  return from(
    [...groups.values()].map((g) => {
      const s = seedStats(g.values);
      return { task: g.task, variant: g.variant, metric: g.metric, n: s.n, mean: r4(s.mean), std: r4(s.std), ci95_lo: r4(s.lo), ci95_hi: r4(s.hi) };
    }),
  );
}
