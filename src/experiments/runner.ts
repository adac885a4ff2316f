/**
 * The one sweep runner: variants x seeds x tasks, one fine-tune + dev evaluation per run, each finished
 * run appended to a JSONL file (when one is given: the kernel's `%%glue` / `%%ablate` keep results in memory). Rerunning skips runs whose key is already recorded, so an interrupted
 * sweep continues where it stopped; the AbortSignal is checked between runs and passed into each run
 * (the trainer checks it between steps).
 */
import { ConfigError } from '../errors.js';
import { throwIfAborted, type RunControl } from '../progress/index.js';
import { runKey, type Budget, type RunJob, type Variant } from './grid.js';
import { appendRecord, readRecords, type RunRecord } from './store.js';

export interface AblationSpec {
  /** Experiment name (progress lines, summaries). */
  readonly name: string;
  readonly variants: readonly Variant[];
  readonly seeds: readonly number[];
  readonly tasks: readonly string[];
  readonly budget: Budget;
  /** Several budgets (a budget grid); when given, `budget` is ignored. */
  readonly budgets?: readonly Budget[];
}

/** Job `k` of `count` (1-based): this process runs every job whose position p has p % count === k - 1. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/** `k/N` (1 <= k <= N) -> a shard; anything else is a ConfigError. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || !(count >= 1 && index >= 1 && index <= count)) throw new ConfigError(`'${text}' is not k/N with 1 <= k <= N`, undefined, 'shard');
  return { index, count };
}

/** What a run function reports: the headline dev metric and anything else worth keeping. */
export interface RunOutcome {
  readonly metric: string;
  readonly value: number;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly steps: number;
  readonly extra?: Readonly<Record<string, string | number | boolean>>;
}

/** Fine-tunes and evaluates one job; must honour `ctl.signal` between its steps. */
export type RunFn = (job: RunJob, ctl: RunControl) => Promise<RunOutcome>;

export interface AblationOptions extends RunControl {
  /** JSONL results file (created when missing); without one nothing is recorded or skipped. */
  readonly file?: string;
  /** Signal + progress of one job (default: this object's, with the job's phase prefixed). */
  readonly control?: (job: RunJob, index: number) => RunControl;
  /** Also print a line per run (scripts); default silent. */
  readonly log?: (line: string) => void;
  /** Clock for `finished` and `seconds` (tests pass a fake). */
  readonly now?: () => Date;
  /** Run only this shard's jobs (deterministic: by position in the full job list). */
  readonly shard?: Shard;
}

export interface AblationResult {
  /** Records of every job of the spec (recorded earlier or now), in job order. */
  readonly records: readonly RunRecord[];
  readonly ran: number;
  readonly skipped: number;
}

/**
 * Every job of the spec: seeds outermost, so a partial sweep already has every variant and task for its
 * first seeds (paired comparisons); then budgets, tasks, variants.
 */
export function ablationJobs(spec: AblationSpec): RunJob[] {
  if (spec.variants.length === 0 || spec.seeds.length === 0 || spec.tasks.length === 0) {
    throw new ConfigError(`'${spec.name}' needs at least one variant, seed and task`, undefined, 'spec');
  }
  const jobs: RunJob[] = [];
  for (const seed of spec.seeds) {
    if (!Number.isInteger(seed)) throw new ConfigError(`seed ${seed} is not an integer`, undefined, 'seeds');
    for (const budget of spec.budgets ?? [spec.budget]) for (const task of spec.tasks) for (const variant of spec.variants) jobs.push({ variant, seed, task, budget });
  }
  return jobs;
}

export async function runAblation(spec: AblationSpec, run: RunFn, o: AblationOptions): Promise<AblationResult> {
  const all = ablationJobs(spec);
  if (o.shard && !(Number.isInteger(o.shard.count) && o.shard.count >= 1 && Number.isInteger(o.shard.index) && o.shard.index >= 1 && o.shard.index <= o.shard.count)) {
    throw new ConfigError(`shard ${o.shard.index}/${o.shard.count} is not k/N with 1 <= k <= N`, undefined, 'shard');
  }
  const jobs = o.shard ? all.filter((_, p) => p % (o.shard as Shard).count === (o.shard as Shard).index - 1) : all;
  const now = o.now ?? (() => new Date());
  const done = new Map(o.file ? readRecords(o.file).map((r) => [r.key, r]) : []);
  const records: RunRecord[] = [];
  let ran = 0;
  let skipped = 0;
  for (const [i, job] of jobs.entries()) {
    throwIfAborted(o.signal, i);
    const key = runKey(job);
    // Another process sharing the file may have finished this job since we started: look again.
    if (o.file && !done.has(key)) for (const r of readRecords(o.file)) done.set(r.key, r);
    const have = done.get(key);
    if (have) {
      records.push(have);
      skipped += 1;
      o.onProgress?.({ phase: `ablation:${spec.name}`, done: i + 1, total: jobs.length });
      continue;
    }
    const t0 = now().getTime();
    const phase = `${spec.name} ${i + 1}/${jobs.length}`;
    const ctl: RunControl = o.control?.(job, i) ?? {
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onProgress ? { onProgress: (e) => o.onProgress?.({ ...e, phase: `${phase} ${e.phase}` }) } : {}),
    };
    throwIfAborted(ctl.signal, i);
    const out = await run(job, ctl);
    if (!Number.isFinite(out.value)) throw new ConfigError(`run ${key} returned a non-finite ${out.metric} (${out.value})`, undefined, 'value');
    const end = now();
    const record: RunRecord = {
      key,
      variant: job.variant,
      seed: job.seed,
      task: job.task,
      budget: job.budget,
      metric: out.metric,
      value: out.value,
      metrics: out.metrics ?? { [out.metric]: out.value },
      steps: out.steps,
      seconds: (end.getTime() - t0) / 1000,
      finished: end.toISOString(),
      ...(out.extra ? { extra: out.extra } : {}),
    };
    if (o.file) await appendRecord(o.file, record);
    done.set(key, record);
    records.push(record);
    ran += 1;
    o.log?.(`${phase} ${job.task} seed=${job.seed} ${JSON.stringify(job.variant)} -> ${out.metric}=${out.value.toFixed(4)} (${record.seconds.toFixed(0)} s)`);
    o.onProgress?.({ phase: `ablation:${spec.name}`, done: i + 1, total: jobs.length, metrics: { [out.metric]: out.value } });
  }
  return { records, ran, skipped };
}

/** The recorded runs of a spec (only those already in the file), for notebooks that must not train. */
export function recordedRuns(spec: AblationSpec, file: string): { records: RunRecord[]; missing: RunJob[] } {
  const have = new Map(readRecords(file).map((r) => [r.key, r]));
  const records: RunRecord[] = [];
  const missing: RunJob[] = [];
  for (const job of ablationJobs(spec)) {
    const r = have.get(runKey(job));
    if (r) records.push(r);
    else missing.push(job);
  }
  return { records, missing };
}
