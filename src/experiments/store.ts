/**
 * Ablation results as JSONL, one finished run per line. Appends rewrite the file through
 * writeFileAtomic (temp + rename), so a crash leaves either the old or the new file, never a torn
 * line; reading is strict (a bad line is a DataFileError naming file:line). Several runner processes
 * may share a file (e.g. one per seed): appends take a lock directory `<file>.lock` (mkdir is atomic).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataFileError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { Budget, Variant } from './grid.js';

export interface RunRecord {
  /** runKey(variant, seed, task, budget). */
  readonly key: string;
  readonly variant: Variant;
  readonly seed: number;
  readonly task: string;
  readonly budget: Budget;
  /** Name of the headline metric (e.g. "accuracy", "mcc") and its value on the dev subset. */
  readonly metric: string;
  readonly value: number;
  /** Every dev metric the run produced. */
  readonly metrics: Readonly<Record<string, number>>;
  /** Optimizer steps taken and wall time of the run. */
  readonly steps: number;
  readonly seconds: number;
  /** ISO time the run finished. */
  readonly finished: string;
  /** Anything else worth keeping (train loss, examples, stop reason ...). */
  readonly extra?: Readonly<Record<string, string | number | boolean>>;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkRecord(v: unknown, file: string, line: number): RunRecord {
  const bad = (what: string) => new DataFileError(`not a run record: ${what}`, file, line);
  if (!isObj(v)) throw bad('expected an object');
  if (typeof v.key !== 'string' || !/^[0-9a-f]{16}$/.test(v.key)) throw bad("'key' must be 16 hex digits");
  if (!isObj(v.variant)) throw bad("'variant' must be an object");
  if (!isObj(v.budget)) throw bad("'budget' must be an object");
  if (!Number.isInteger(v.seed)) throw bad("'seed' must be an integer");
  if (typeof v.task !== 'string') throw bad("'task' must be a string");
  if (typeof v.metric !== 'string') throw bad("'metric' must be a string");
  if (!isNum(v.value)) throw bad("'value' must be a finite number");
  if (!isObj(v.metrics) || !Object.values(v.metrics).every(isNum)) throw bad("'metrics' must map names to numbers");
  if (!isNum(v.steps) || !isNum(v.seconds)) throw bad("'steps' and 'seconds' must be numbers");
  if (typeof v.finished !== 'string') throw bad("'finished' must be a string");
  return v as unknown as RunRecord;
}

/** All records of a results file (none when it does not exist). Later duplicates of a key win. */
export function readRecords(file: string): RunRecord[] {
  if (!existsSync(file)) return [];
  const byKey = new Map<string, RunRecord>();
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      if (text.trim() === '') return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw new DataFileError(`invalid JSON (${(e as Error).message})`, file, i + 1);
      }
      const r = checkRecord(parsed, file, i + 1);
      byKey.set(r.key, r);
    });
  return [...byKey.values()];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn` holding `<file>.lock`; a lock older than `staleMs` (a crashed writer) is taken over. */
async function withLock<T>(file: string, fn: () => Promise<T>, staleMs = 30_000): Promise<T> {
  const lock = `${file}.lock`;
  mkdirSync(dirname(file), { recursive: true });
  const t0 = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (Date.now() - t0 > staleMs) {
        rmdirSync(lock);
        continue;
      }
      await sleep(20);
    }
  }
  try {
    return await fn();
  } finally {
    rmdirSync(lock);
  }
}

/** Appends one record (whole-file atomic rewrite under the file's lock). */
export async function appendRecord(file: string, record: RunRecord): Promise<void> {
  await withLock(file, async () => {
    const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const sep = old === '' || old.endsWith('\n') ? '' : '\n';
    await writeFileAtomic(file, `${old}${sep}${JSON.stringify(record)}\n`);
  });
}

/**
 * Combines result files (e.g. one per shard) into `out`: records by key, in input order; the same key
 * twice with different numbers is a DataFileError (two runs claim one job), identical copies collapse.
 * Returns the merged records; `out` is written atomically.
 */
export async function mergeRecords(inputs: readonly string[], out: string): Promise<RunRecord[]> {
  const merged = new Map<string, { r: RunRecord; file: string }>();
  for (const file of inputs) {
    if (!existsSync(file)) throw new DataFileError('no such results file', file);
    for (const r of readRecords(file)) {
      const have = merged.get(r.key);
      if (have && (have.r.value !== r.value || JSON.stringify(have.r.metrics) !== JSON.stringify(r.metrics))) {
        throw new DataFileError(`run ${r.key} (${r.task}, seed ${r.seed}) also in ${have.file} with ${have.r.metric}=${have.r.value}, here ${r.value}`, file);
      }
      if (!have) merged.set(r.key, { r, file });
    }
  }
  const records = [...merged.values()].map((m) => m.r);
  await withLock(out, () => writeFileAtomic(out, records.map((r) => JSON.stringify(r) + '\n').join('')));
  return records;
}
