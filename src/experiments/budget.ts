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
  /** Optimizer steps (give this or `epochs`, not both). */
  readonly steps?: number;
  /** Passes over the (limited) training set, when `steps` is not given. */
  readonly epochs?: number;
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
  /**
   * Rows carved from train (seeded, stratified) to choose the checkpoint on; 0 = none (no selection:
   * the final weights are scored). Absent: the fine-tune's default. Dev is never used to select.
   */
  readonly validation?: number;
}

/** Which checkpoint a recorded run used: its repo-relative folder and the first 12 hex of its weights' sha256. */
export interface ModelIdentity {
  readonly model: string;
  readonly modelSha: string;
}

const NUMERIC = ['steps', 'epochs', 'batch', 'lr', 'warmup', 'trainLimit', 'devLimit', 'maxLength', 'seed', 'evalEvery', 'validation'] as const;
const SCHEDULES: readonly string[] = ['constant', 'linear', 'cosine'];

/** The keys a budget may have, in the order usage messages list them. */
export const BUDGET_KEYS: readonly (keyof TrainBudget)[] = ['steps', 'epochs', 'trainLimit', 'devLimit', 'batch', 'lr', 'maxLength', 'seed', 'evalEvery', 'validation', 'warmup', 'schedule'];

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
  return checkBudget(out as TrainBudget, where);
}

/**
 * The checks a budget must pass before anything is loaded or trained: positive integer steps/epochs
 * (not both), batch, lengths and limits; lr > 0; warmup in [0, 1).
 */
export function checkBudget(b: TrainBudget, where: string): TrainBudget {
  const bad = (k: string, what: string, v: unknown) => new ConfigError(`${where}: ${k} must be ${what}, got ${JSON.stringify(v)}`, undefined, k);
  if (b.steps !== undefined && b.epochs !== undefined) throw new ConfigError(`${where}: give steps or epochs, not both`, undefined, 'epochs');
  for (const k of ['steps', 'batch', 'maxLength', 'evalEvery', 'trainLimit'] as const) {
    const v = b[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw bad(k, 'a positive integer', v);
  }
  for (const k of ['devLimit', 'validation', 'seed'] as const) {
    const v = b[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) throw bad(k, 'an integer >= 0', v);
  }
  if (b.epochs !== undefined && !(b.epochs > 0)) throw bad('epochs', '> 0', b.epochs);
  if (b.lr !== undefined && !(b.lr > 0)) throw bad('lr', '> 0', b.lr);
  if (b.warmup !== undefined && !(b.warmup >= 0 && b.warmup < 1)) throw bad('warmup', 'in [0, 1)', b.warmup);
  if (b.batch !== undefined && b.trainLimit !== undefined && b.batch > b.trainLimit) {
    throw new ConfigError(`${where}: batch ${b.batch} is larger than the ${b.trainLimit} training examples (trainLimit)`, undefined, 'batch');
  }
  return b;
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
    ...(b.epochs !== undefined ? { epochs: b.epochs } : {}),
    ...(b.steps === undefined && b.warmup !== undefined ? { warmupFraction: b.warmup } : {}),
    ...(b.validation !== undefined ? { validation: b.validation } : {}),
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
