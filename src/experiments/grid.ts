/**
 * Ablation variants: a variant is a plain record of factor values (attention, pooling, dropout, init, ...).
 * Runs are identified by a stable hash of (variant, seed, task, budget), so the same run requested by two
 * experiments (e.g. the shared baseline) is trained once and reused.
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';

export type FactorValue = string | number | boolean;
export type Variant = Readonly<Record<string, FactorValue>>;
/** What a run may spend (steps, training examples, dev examples, ...): part of the run's identity. */
export type Budget = Readonly<Record<string, FactorValue>>;

/** One unit of work: a variant fine-tuned with one seed on one task under one budget. */
export interface RunJob {
  readonly variant: Variant;
  readonly seed: number;
  readonly task: string;
  readonly budget: Budget;
}

/**
 * Variants of a one-factor-at-a-time ablation: `base` plus, for every factor in `vary`, each of its
 * values in place of the base one (the base itself once, first).
 */
export function oneAtATime(base: Variant, vary: Readonly<Record<string, readonly FactorValue[]>>): Variant[] {
  const out: Variant[] = [base];
  for (const [factor, values] of Object.entries(vary)) {
    if (!(factor in base)) throw new ConfigError(`factor '${factor}' is not in the base variant`, undefined, 'vary');
    for (const v of values) {
      const variant = { ...base, [factor]: v };
      if (!out.some((o) => variantKey(o) === variantKey(variant))) out.push(variant);
    }
  }
  return out;
}

/** The full cross product of factor values (first factor varies slowest). */
export function crossGrid(factors: Readonly<Record<string, readonly FactorValue[]>>): Variant[] {
  let out: Record<string, FactorValue>[] = [{}];
  for (const [factor, values] of Object.entries(factors)) {
    if (values.length === 0) throw new ConfigError(`factor '${factor}' has no values`, undefined, 'grid');
    out = out.flatMap((v) => values.map((x) => ({ ...v, [factor]: x })));
  }
  return out;
}

/** JSON with object keys sorted at every level: equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new ConfigError(`non-finite number ${value} in a run key`);
  return JSON.stringify(value);
}

export const variantKey = (v: Variant): string => canonicalJson(v);

/** Stable run id: first 16 hex digits of sha256 over the canonical (variant, seed, task, budget). */
export function runKey(job: RunJob): string {
  const text = canonicalJson({ variant: job.variant, seed: job.seed, task: job.task, budget: job.budget });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** Short human label: the factors that differ from `base` (or all factors), `k=v` joined by ', '. */
export function variantLabel(v: Variant, base?: Variant): string {
  const keys = Object.keys(v).sort();
  const shown = base ? keys.filter((k) => v[k] !== base[k]) : keys;
  if (shown.length === 0) return 'baseline';
  return shown.map((k) => `${k}=${String(v[k])}`).join(', ');
}
