/**
 * The findings v2 protocol's learning-rate search: every variant gets its own learning rate, chosen on
 * validation rows carved from train (never on dev), in two stages so the search stays cheap:
 *   1. search: every rate in `lrs` x the `searchSeeds`;
 *   2. the finding's other seeds, at the chosen rate only.
 * The reported runs of a (variant, task) are then all its seeds at the chosen rate; their dev scores were
 * computed once per run and never looked at to choose anything.
 */
import { ConfigError } from '../errors.js';
import { variantKey, type Budget, type Variant } from './grid.js';
import type { AblationSpec } from './runner.js';
import type { RunRecord } from './store.js';

export interface LrProtocol {
  /** Peak learning rates tried for every variant. */
  readonly lrs: readonly number[];
  /** Seeds run at every rate (the search); the finding's other seeds run only at the chosen rate. */
  readonly searchSeeds: readonly number[];
}

export interface LrChoice {
  readonly variant: Variant;
  readonly task: string;
  /** The rate with the best mean validation score over the search seeds (ties: the smaller rate). */
  readonly lr: number;
  /** That mean validation score. */
  readonly validation: number;
  /** Mean validation score of every rate tried, by rate. */
  readonly byLr: Readonly<Record<string, number>>;
}

/** A run's validation score (the score of the weights it kept), recorded by runs made with selection on. */
export function validationScore(r: RunRecord): number {
  const v = r.extra?.validationScore;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ConfigError(`run ${r.key} (${r.task}, seed ${r.seed}) has no validation score: it ran without a validation split`, undefined, 'validationScore');
  }
  return v;
}

function lrOf(r: RunRecord): number {
  const lr = r.budget.lr;
  if (typeof lr !== 'number') throw new ConfigError(`run ${r.key} has no numeric lr in its budget`, undefined, 'lr');
  return lr;
}

const pairKey = (v: Variant, task: string) => `${variantKey(v)}\u0000${task}`;

/**
 * The chosen rate of every (variant, task) whose search is complete (each rate x each search seed
 * recorded); pairs still searching are left out.
 */
export function chooseLearningRates(records: readonly RunRecord[], p: LrProtocol): LrChoice[] {
  const pairs = new Map<string, { variant: Variant; task: string; scores: Map<number, Map<number, number>> }>();
  for (const r of records) {
    const lr = lrOf(r);
    if (!p.lrs.includes(lr) || !p.searchSeeds.includes(r.seed)) continue;
    const k = pairKey(r.variant, r.task);
    const pair = pairs.get(k) ?? { variant: r.variant, task: r.task, scores: new Map() };
    pairs.set(k, pair);
    const bySeed = pair.scores.get(lr) ?? new Map<number, number>();
    pair.scores.set(lr, bySeed);
    bySeed.set(r.seed, validationScore(r));
  }
  const out: LrChoice[] = [];
  for (const { variant, task, scores } of pairs.values()) {
    if (!p.lrs.every((lr) => p.searchSeeds.every((s) => scores.get(lr)?.has(s)))) continue;
    const byLr = Object.fromEntries(p.lrs.map((lr) => [String(lr), mean([...scores.get(lr)!.values()])]));
    // Ascending rates, strict improvement only: a tie keeps the smaller (safer) rate.
    let best = Math.min(...p.lrs);
    for (const lr of [...p.lrs].sort((a, b) => a - b)) if (byLr[String(lr)]! > byLr[String(best)]!) best = lr;
    out.push({ variant, task, lr: best, validation: byLr[String(best)]!, byLr });
  }
  return out;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * The specs still to run, in order: the search (every rate x search seed; recorded runs are skipped by
 * the runner), then, per (variant, task) whose search is complete, the remaining seeds at its rate.
 */
export function lrProtocolSpecs(
  base: Omit<AblationSpec, 'budgets'> & { readonly budget: Budget },
  p: LrProtocol,
  records: readonly RunRecord[],
): AblationSpec[] {
  const rest = base.seeds.filter((s) => !p.searchSeeds.includes(s));
  const search: AblationSpec = { ...base, name: `${base.name}/lr-search`, seeds: p.searchSeeds, budgets: p.lrs.map((lr) => ({ ...base.budget, lr })) };
  if (rest.length === 0) return [search];
  const chosen = chooseLearningRates(records, p).filter((c) => base.tasks.includes(c.task) && base.variants.some((v) => variantKey(v) === variantKey(c.variant)));
  return [
    search,
    ...chosen.map((c) => ({ ...base, name: `${base.name}/lr=${c.lr}`, variants: [c.variant], tasks: [c.task], seeds: rest, budget: { ...base.budget, lr: c.lr } })),
  ];
}

/** The reported runs: for every (variant, task) with a chosen rate, its runs at that rate (all seeds). */
export function chosenRuns(records: readonly RunRecord[], p: LrProtocol): { runs: RunRecord[]; choices: LrChoice[] } {
  const choices = chooseLearningRates(records, p);
  const lrByPair = new Map(choices.map((c) => [pairKey(c.variant, c.task), c.lr]));
  const runs = records.filter((r) => lrByPair.get(pairKey(r.variant, r.task)) === lrOf(r));
  return { runs, choices };
}

/** The search as table rows: per (task, variant) the chosen rate and the mean validation score at every rate tried. */
export function lrChoiceRows(choices: readonly LrChoice[], label: (v: Variant) => string): Record<string, string | number>[] {
  return choices.map((c) => ({
    task: c.task,
    variant: label(c.variant),
    chosen_lr: c.lr,
    ...Object.fromEntries(Object.entries(c.byLr).map(([lr, v]) => [`validation @ ${lr}`, v])),
  }));
}
