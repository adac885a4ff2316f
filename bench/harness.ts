/**
 * Bench plumbing: a section is one file exporting a `BenchSection`; main.ts lists them. Timings
 * are ratios against a baseline measured in the same run (the box is shared and noisy).
 */
import { cpus, loadavg } from 'node:os';

export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
  readonly notes?: readonly string[];
}

export interface BenchContext {
  /** Progress lines (stderr), so stdout holds just the tables. */
  readonly log: (line: string) => void;
}

export interface BenchSection {
  readonly name: string;
  readonly description: string;
  run(ctx: BenchContext): Promise<Table[]>;
}

export interface Timing {
  /** Median seconds per call. */
  readonly median: number;
  readonly runs: number;
}

/**
 * Median time of `fn` after `warmup` calls, repeating until both `minRuns` runs and `minSeconds`
 * of measured time are done (slow baselines: set minRuns 1, minSeconds 0).
 */
export async function timeIt(
  fn: () => unknown,
  { warmup = 1, minRuns = 3, minSeconds = 1 }: { warmup?: number; minRuns?: number; minSeconds?: number } = {},
): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || performance.now() - start < minSeconds * 1000) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)] as number, runs: times.length };
}

export function fmt(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return String(x);
  return x >= 100 ? x.toFixed(0) : x.toFixed(digits);
}

export function ratio(x: number, base: number): string {
  return `${fmt(x / base)}x`;
}

export function formatTable(t: Table): string {
  const cells = [t.columns.map(String), ...t.rows.map((r) => r.map(String))];
  const widths = t.columns.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]) => `| ${r.map((v, c) => (c === 0 ? v.padEnd(widths[c] as number) : v.padStart(widths[c] as number))).join(' | ')} |`;
  const out = [`### ${t.title}`, '', line(cells[0] as string[]), `|${widths.map((w, c) => (c === 0 ? ':' : '-') + '-'.repeat(w) + (c === 0 ? '-' : ':')).join('|')}|`];
  for (const r of cells.slice(1)) out.push(line(r));
  for (const n of t.notes ?? []) out.push('', n);
  return out.join('\n');
}

export function machineLine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${cpu}, ${cpus().length} cores, node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}
