/**
 * The one budget vocabulary of fine-tuning runs: what the kernel magics (`%%glue … steps=32`), the
 * ablation experiments (their `Budget` records) and scripts spend. Field names are part of committed run
 * keys (grid.ts `runKey` hashes the budget record), so they are never renamed, and a field left out of
 * a record does not change its key.
 */
import { ConfigError } from '../errors.js';
import type { GlueFinetuneOptions, ExampleTokenizer } from '../encoder/glue.js';
import type { RunControl } from '../progress/index.js';
import type { ScheduleOptions } from '../train/schedule.js';
import type { Budget } from './grid.js';

export interface TrainBudget {
  /** Optimizer steps. */
  readonly steps?: number;
  /** Examples per step. */
  readonly batch?: number;
  /** Peak learning rate. */
  readonly lr?: number;
  /** Warmup as a fraction of `steps` (default 0.06). */
  readonly warmup?: number;
  /** Decay after warmup (default linear). */
  readonly schedule?: NonNullable<ScheduleOptions['decay']>;
  /** Train on a seeded subset of this many examples. */
  readonly trainLimit?: number;
  /** Dev rows scored (the first ones in file order); 0 = the whole split. */
  readonly devLimit?: number;
  /** Tokens kept per example. */
  readonly maxLength?: number;
  readonly seed?: number;
  /** Dev evaluation every N steps (early stopping keeps the best). */
  readonly evalEvery?: number;
}

/** Which checkpoint a recorded run used: its repo-relative folder and the first 12 hex of its weights' sha256. */
export interface ModelIdentity {
  readonly model: string;
  readonly modelSha: string;
}

const NUMERIC = ['steps', 'batch', 'lr', 'warmup', 'trainLimit', 'devLimit', 'maxLength', 'seed', 'evalEvery'] as const;
const SCHEDULES: readonly string[] = ['constant', 'linear', 'cosine'];

/** The keys a budget may have, in the order usage messages list them. */
export const BUDGET_KEYS: readonly (keyof TrainBudget)[] = ['steps', 'trainLimit', 'devLimit', 'batch', 'lr', 'maxLength', 'seed', 'evalEvery', 'warmup', 'schedule'];

/** A numeric field of a budget record (an experiment's own fields too). */
export function readBudgetNumber(b: Budget, k: string): number {
  const x = b[k];
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new ConfigError(`expected a number, got ${JSON.stringify(x)}`, undefined, k);
  return x;
}

function string(b: Budget, k: string): string {
  const x = b[k];
  if (typeof x !== 'string') throw new ConfigError(`expected a string, got ${JSON.stringify(x)}`, undefined, k);
  return x;
}

/**
 * A recorded run's budget record, checked: every key in `required` present, every known key well typed.
 * Other keys (an experiment's own, e.g. adaptation steps) are left to the experiment.
 */
export function readBudget<K extends keyof TrainBudget>(b: Budget, required: readonly K[]): TrainBudget & Required<Pick<TrainBudget, K>> {
  const out: Record<string, number | string> = {};
  for (const k of NUMERIC) if (k in b || (required as readonly string[]).includes(k)) out[k] = readBudgetNumber(b, k);
  if ('schedule' in b || (required as readonly string[]).includes('schedule')) {
    const s = string(b, 'schedule');
    if (!SCHEDULES.includes(s)) throw new ConfigError(`'${s}' is not one of ${SCHEDULES.join(', ')}`, undefined, 'schedule');
    out.schedule = s;
  }
  return out as TrainBudget & Required<Pick<TrainBudget, K>>;
}

/** The checkpoint identity fields of a budget record. */
export function readModelIdentity(b: Budget): ModelIdentity {
  return { model: string(b, 'model'), modelSha: string(b, 'modelSha') };
}

/** `key=value` words (magic options, CLI) -> budget; unknown keys and non-numbers are errors naming `where`. */
export function parseBudgetArgs(args: readonly string[], where: string): TrainBudget {
  const out: Record<string, number | string> = {};
  for (const a of args) {
    const m = /^(\w+)=(.+)$/.exec(a);
    if (!m || !(BUDGET_KEYS as readonly string[]).includes(m[1]!)) {
      throw new ConfigError(`${where}: '${a}' is not one of ${BUDGET_KEYS.map((k) => (k === 'schedule' ? `${k}=${SCHEDULES.join('|')}` : `${k}=N`)).join(', ')}`, undefined, m?.[1]);
    }
    if (m[1] === 'schedule') {
      if (!SCHEDULES.includes(m[2]!)) throw new ConfigError(`${where}: schedule must be one of ${SCHEDULES.join(', ')}, got '${m[2]}'`, undefined, 'schedule');
      out.schedule = m[2]!;
      continue;
    }
    const v = Number(m[2]);
    if (!Number.isFinite(v)) throw new ConfigError(`${where}: ${m[1]} must be a number, got '${m[2]}'`, undefined, m[1]);
    out[m[1]!] = v;
  }
  return out as TrainBudget;
}

/** Learning-rate schedule of a budget (lr, warmup fraction, decay) for `steps` optimizer steps. */
export function budgetSchedule(b: TrainBudget, steps?: number): Partial<ScheduleOptions> {
  return {
    ...(b.lr !== undefined ? { lr: b.lr } : {}),
    ...(b.schedule !== undefined ? { decay: b.schedule } : {}),
    ...(b.warmup !== undefined && steps !== undefined ? { warmupSteps: Math.round(b.warmup * steps) } : {}),
  };
}

/** `finetuneGlue` options spending `b` (unset fields keep finetuneGlue's defaults). */
export function glueFinetuneOptions(b: TrainBudget, tokenizer: ExampleTokenizer, ctl: RunControl): GlueFinetuneOptions {
  const schedule = budgetSchedule(b, b.steps);
  return {
    tokenizer,
    ...(b.steps !== undefined ? { maxSteps: b.steps } : {}),
    ...(b.trainLimit !== undefined ? { trainLimit: b.trainLimit } : {}),
    ...(b.devLimit !== undefined && b.devLimit > 0 ? { devLimit: b.devLimit } : {}),
    ...(b.batch !== undefined ? { trainBatchSize: b.batch } : {}),
    ...(Object.keys(schedule).length > 0 ? { schedule } : {}),
    ...(b.maxLength !== undefined ? { maxLength: b.maxLength } : {}),
    ...(b.seed !== undefined ? { seed: b.seed } : {}),
    ...(b.evalEvery !== undefined ? { evalEvery: b.evalEvery } : {}),
    ...ctl,
  };
}
