/**
 * The paper findings reproduced at small scale (issue 7 item 3), as ablation specs over one shared
 * baseline, so the baseline runs are trained once and reused by every finding. The budget's checkpoint
 * identity (`model`, `modelSha`) is added by the caller (scripts/run-ablations.ts); notebooks select the
 * recorded runs of a finding with `findingRecords` and never train.
 */
import { ConfigError } from '../errors.js';
import { oneAtATime, variantKey, type Budget, type Variant } from './grid.js';
import type { AblationSpec } from './runner.js';
import { readRecords, type RunRecord } from './store.js';

export interface Finding {
  readonly id: string;
  readonly title: string;
  /** What the paper reports (models.md §4–5), in one sentence. */
  readonly paper: string;
  /** The factor this finding varies (the summary's row label). */
  readonly factor: string;
  readonly baseline: Variant;
  readonly variants: readonly Variant[];
  readonly tasks: readonly string[];
  readonly seeds: readonly number[];
  /** Budget without the checkpoint identity. */
  readonly budget: Budget;
  /** Results file, relative to the repo. */
  readonly file: string;
}

/** Gemma Encoder baseline: bidirectional attention, mean pooling, dropout 0.1, adapted from the pretrained decoder. */
export const ENCODER_BASELINE: Variant = { attention: 'bidirectional_global', pooling: 'mean', dropout: 0.1, init: 'pretrained' };

/** One fine-tuning budget for every GLUE finding (so the baseline runs are shared). */
export const GLUE_BUDGET: Budget = { steps: 150, batch: 16, lr: 1e-3, trainLimit: 2400, devLimit: 0, maxLength: 64 };

export const GLUE_RESULTS = 'data/results/glue-encoder.jsonl';
const SEEDS = [0, 1, 2];

export const FINDINGS: Readonly<Record<string, Finding>> = {
  attention: {
    id: 'attention',
    title: 'Bidirectional vs causal attention',
    paper: 'Gemma Encoder: replacing the causal mask by a bidirectional one when adapting the decoder improves GLUE (T5Gemma: a causal encoder loses 4.1/4.7 SuperGLUE points).',
    factor: 'attention',
    baseline: ENCODER_BASELINE,
    variants: [...oneAtATime(ENCODER_BASELINE, { attention: ['causal'] }), { ...ENCODER_BASELINE, attention: 'causal', pooling: 'last' }],
    tasks: ['sst2', 'mrpc'],
    seeds: SEEDS,
    budget: GLUE_BUDGET,
    file: GLUE_RESULTS,
  },
  pooling: {
    id: 'pooling',
    title: 'Pooling strategies',
    paper: 'Gemma Encoder (via EmbeddingGemma §3.2): simple pooling (mean/first/last) outperforms attention pooling for classification and regression.',
    factor: 'pooling',
    baseline: ENCODER_BASELINE,
    variants: oneAtATime(ENCODER_BASELINE, { pooling: ['first', 'last', 'attention'] }),
    tasks: ['sst2'],
    seeds: SEEDS,
    budget: GLUE_BUDGET,
    file: GLUE_RESULTS,
  },
  dropout: {
    id: 'dropout',
    title: 'Dropout rate',
    paper: 'Gemma Encoder: dropout during fine-tuning matters (rate studied as a hyperparameter; secondary sources recommend 0.1).',
    factor: 'dropout',
    baseline: ENCODER_BASELINE,
    variants: oneAtATime(ENCODER_BASELINE, { dropout: [0, 0.3] }),
    tasks: ['sst2'],
    seeds: SEEDS,
    budget: GLUE_BUDGET,
    file: GLUE_RESULTS,
  },
  init: {
    id: 'init',
    title: 'Adapted encoder vs random init',
    paper: 'Gemma Encoder: initialising from the pretrained decoder is what makes the encoder strong (EmbeddingGemma: decoder init 59.7 vs random 45.2 MTEB).',
    factor: 'init',
    baseline: ENCODER_BASELINE,
    variants: oneAtATime(ENCODER_BASELINE, { init: ['random'] }),
    tasks: ['sst2', 'mrpc'],
    seeds: SEEDS,
    budget: GLUE_BUDGET,
    file: GLUE_RESULTS,
  },
};

/** The finding as a runnable spec, given the checkpoint identity that completes its budget. */
export function findingSpec(f: Finding, model: { readonly model: string; readonly modelSha: string }): AblationSpec {
  return { name: f.id, variants: f.variants, seeds: f.seeds, tasks: f.tasks, budget: { ...f.budget, ...model } };
}

/**
 * The recorded runs of a finding: its variants, tasks and seeds under its budget (any checkpoint, but
 * only one: runs against two different checkpoints are an error naming both).
 */
export function findingRecords(f: Finding, records: readonly RunRecord[]): RunRecord[] {
  const variants = new Set(f.variants.map(variantKey));
  const budgetMatches = (b: Budget) => Object.entries(f.budget).every(([k, v]) => b[k] === v);
  const out = records.filter((r) => variants.has(variantKey(r.variant)) && f.tasks.includes(r.task) && f.seeds.includes(r.seed) && budgetMatches(r.budget));
  const shas = [...new Set(out.map((r) => String(r.budget.modelSha)))];
  if (shas.length > 1) throw new ConfigError(`'${f.id}' has runs against several checkpoints (${shas.join(', ')}); keep one`, f.file, 'modelSha');
  return out;
}

/** Reads a finding's results file and selects its runs. */
export function loadFinding(f: Finding, file: string): RunRecord[] {
  return findingRecords(f, readRecords(file));
}
