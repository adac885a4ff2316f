/**
 * The paper findings reproduced at small scale (issue 7 item 3), as ablation specs over one shared
 * baseline, so the baseline runs are trained once and reused by every finding. The budget's checkpoint
 * identity (`model`, `modelSha`) is added by the caller (scripts/run-ablations.ts); notebooks select the
 * recorded runs of a finding with `findingRecords` and never train.
 */
import { ConfigError } from '../errors.js';
import { oneAtATime, variantKey, type Budget, type Variant } from './grid.js';
import { chosenRuns, lrProtocolSpecs, type LrProtocol } from './lr_search.js';
import type { AblationSpec } from './runner.js';
import { readRecords, type RunRecord } from './store.js';
import { direction, summarizeRuns, type Direction, type SummaryRow } from './summary.js';
import { VEGA_LITE_V5_SCHEMA, type ChartSpec } from '../report/plots.js';

export interface Finding {
  readonly id: string;
  readonly title: string;
  /** What the paper reports (models.md §4–5), in one sentence. */
  readonly paper: string;
  /** The factor this finding varies (the summary's row label). */
  readonly factor: string;
  /** The paper's direction: sign of (variant - baseline) it predicts, by the varied factor's value. */
  readonly expected: Readonly<Record<string, 1 | -1>>;
  /** Factors that change together with `factor` (e.g. the pretraining objective with the architecture). */
  readonly coupled?: readonly string[];
  readonly baseline: Variant;
  readonly variants: readonly Variant[];
  readonly tasks: readonly string[];
  readonly seeds: readonly number[];
  /** Budget without the checkpoint identity. */
  readonly budget: Budget;
  /** Results file, relative to the repo. */
  readonly file: string;
  /** Which run function trains it: GLUE encoder fine-tuning, or SuperGLUE after seq2seq/causal adaptation. */
  readonly kind: 'glue-encoder' | 'superglue-seq2seq' | 'superglue-arms' | 'rank';
  /** v2 protocol: a learning-rate search per variant on validation rows (the budget's `lr` is then unused). */
  readonly protocol?: LrProtocol;
}

/** Gemma Encoder baseline: bidirectional attention, mean pooling, dropout 0.1, adapted from the pretrained decoder. */
export const ENCODER_BASELINE: Variant = { attention: 'bidirectional_global', pooling: 'mean', dropout: 0.1, init: 'pretrained' };

/** One fine-tuning budget for every GLUE finding (so the baseline runs are shared). */
export const GLUE_BUDGET: Budget = { steps: 250, batch: 16, lr: 1e-3, trainLimit: 4000, devLimit: 0, maxLength: 64 };

/**
 * Finding (e): the same adaptation tokens for both arms (adaptSteps x adaptBatch sequences of adaptSeqLen),
 * then the same fine-tuning budget per SuperGLUE task.
 */
export const SEQ2SEQ_BUDGET: Budget = {
  adaptSteps: 60, adaptBatch: 16, adaptSeqLen: 128, adaptLr: 1e-3,
  steps: 100, batch: 16, lr: 5e-4, trainLimit: 1600, devLimit: 0, maxLength: 128,
};

export const GLUE_RESULTS = 'data/results/glue-encoder.jsonl';
const SEEDS = [0, 1, 2, 3, 4];
/** The main GLUE findings share their baseline runs, so they afford two more seeds. */
const GLUE_SEEDS = [0, 1, 2, 3, 4, 5, 6];

const INIT: Finding = {
  id: 'init',
  title: 'Adapted encoder vs random init',
  paper: 'Gemma Encoder: initialising from the pretrained decoder is what makes the encoder strong (EmbeddingGemma: decoder init 59.7 vs random 45.2 MTEB).',
  factor: 'init',
  expected: { random: -1 },
  baseline: ENCODER_BASELINE,
  variants: oneAtATime(ENCODER_BASELINE, { init: ['random'] }),
  tasks: ['sst2', 'mrpc'],
  seeds: GLUE_SEEDS,
  budget: GLUE_BUDGET,
  file: GLUE_RESULTS,
  kind: 'glue-encoder',
};

/**
 * Findings v2 (issue 16): the stronger pretrained Gemma 3 (data/models/small-gemma-pretrained), 500 rows
 * carved from train choose the checkpoint (evaluated every 50 steps) and the learning rate; dev is scored
 * once per run and chooses nothing.
 */
export const GLUE_BUDGET_V2: Budget = { steps: 300, batch: 16, lr: 1e-3, trainLimit: 4000, devLimit: 0, maxLength: 64, validation: 500, evalEvery: 50 };
export const LR_PROTOCOL_V2: LrProtocol = { lrs: [3e-4, 1e-3, 3e-3], searchSeeds: [0, 1] };
const GLUE_RESULTS_V2 = 'data/results/v2/glue-encoder.jsonl';

/** A v1 GLUE finding under the v2 protocol (same variants and tasks; five seeds). */
function v2(f: Finding): Finding {
  return { ...f, id: `${f.id}_v2`, seeds: SEEDS, budget: GLUE_BUDGET_V2, file: GLUE_RESULTS_V2, protocol: LR_PROTOCOL_V2 };
}

export const FINDINGS: Readonly<Record<string, Finding>> = {
  attention: {
    id: 'attention',
    title: 'Bidirectional vs causal attention',
    paper: 'Gemma Encoder: replacing the causal mask by a bidirectional one when adapting the decoder improves GLUE (T5Gemma: a causal encoder loses 4.1/4.7 SuperGLUE points).',
    factor: 'attention',
    expected: { causal: -1 },
    baseline: ENCODER_BASELINE,
    variants: [...oneAtATime(ENCODER_BASELINE, { attention: ['causal'] }), { ...ENCODER_BASELINE, attention: 'causal', pooling: 'last' }],
    tasks: ['sst2', 'mrpc'],
    seeds: GLUE_SEEDS,
    budget: GLUE_BUDGET,
    file: GLUE_RESULTS,
    kind: 'glue-encoder',
  },
  pooling: {
    id: 'pooling',
    title: 'Pooling strategies',
    paper: 'Gemma Encoder (via EmbeddingGemma §3.2): simple pooling (mean/first/last) outperforms attention pooling for classification and regression.',
    factor: 'pooling',
    expected: { attention: -1 },
    baseline: ENCODER_BASELINE,
    variants: oneAtATime(ENCODER_BASELINE, { pooling: ['first', 'last', 'attention'] }),
    tasks: ['sst2'],
    seeds: GLUE_SEEDS,
    budget: GLUE_BUDGET,
    file: GLUE_RESULTS,
    kind: 'glue-encoder',
  },
  dropout: {
    id: 'dropout',
    title: 'Dropout rate',
    paper: 'Gemma Encoder: dropout during fine-tuning matters (rate studied as a hyperparameter; secondary sources recommend 0.1).',
    factor: 'dropout',
    expected: { '0': -1 },
    baseline: ENCODER_BASELINE,
    variants: oneAtATime(ENCODER_BASELINE, { dropout: [0, 0.3] }),
    tasks: ['sst2'],
    seeds: GLUE_SEEDS,
    budget: GLUE_BUDGET,
    file: GLUE_RESULTS,
    kind: 'glue-encoder',
  },
  init: INIT,
  /** (d) again with a better-pretrained checkpoint (npm run pretrain's Gemma 3, 700 steps): does init start to pay? */
  init_gemma3: {
    ...INIT,
    id: 'init_gemma3',
    title: 'Adapted encoder vs random init (stronger pretrained Gemma 3 checkpoint)',
    seeds: SEEDS,
    file: 'data/results/glue-encoder-gemma3.jsonl',
  },
  seq2seq: {
    id: 'seq2seq',
    title: 'Encoder-decoder (PrefixLM / UL2 adapted) vs decoder-only on SuperGLUE',
    paper: 'T5Gemma: the adapted encoder-decoder beats the decoder-only model on SuperGLUE regardless of objective and scale (2B-2B vs Gemma 2 2B: +1.8 PT), at a comparable compute budget.',
    factor: 'arch',
    expected: { encoder_decoder: 1 },
    coupled: ['objective'],
    baseline: { arch: 'decoder_only', objective: 'causal_lm' },
    variants: [
      { arch: 'decoder_only', objective: 'causal_lm' },
      { arch: 'encoder_decoder', objective: 'prefixlm' },
      { arch: 'encoder_decoder', objective: 'ul2' },
    ],
    tasks: ['rte', 'cb', 'wic'],
    seeds: SEEDS,
    budget: SEQ2SEQ_BUDGET,
    file: 'data/results/superglue-seq2seq.jsonl',
    kind: 'superglue-seq2seq',
  },
};

/**
 * Finding (e) v2: both arms adapted from the stronger Gemma 3 (encoder-decoder by the T5Gemma 2 recipe) with
 * the same tokens, then every SuperGLUE task with data here, each under the v2 protocol.
 */
export const SEQ2SEQ_BUDGET_V2: Budget = {
  adaptSteps: 200, adaptBatch: 16, adaptSeqLen: 256, adaptLr: 5e-4,
  steps: 150, batch: 16, lr: 3e-4, trainLimit: 2000, devLimit: 0, maxLength: 128, validation: 200, evalEvery: 50,
};

/**
 * Findings (f)-(h) v2: embedding models and rerankers trained on the MS MARCO triples (workflow's
 * `rankFindingRun`); the adaptation matches seq2seq_v2's, so the adapted arms are trained once for both.
 * 20 of the 100 triples are held out to choose the step and the learning rate.
 */
export const RANK_BUDGET_V2: Budget = {
  adaptSteps: 200, adaptBatch: 16, adaptSeqLen: 256, adaptLr: 5e-4,
  steps: 60, batch: 8, lr: 3e-4, maxLength: 128, validation: 20, evalEvery: 20, temperature: 0.05, queries: 0, stsLimit: 0,
};
const RANK_PROTOCOL: LrProtocol = { lrs: [1e-4, 3e-4, 1e-3], searchSeeds: [0, 1] };
const EMBED_BASE: Variant = { model: 'bi', init: 'decoder', pooling: 'mean', attention: 'bidirectional_global' };
const EMBED_ED: Variant = { ...EMBED_BASE, init: 'encoder_decoder' };
const RERANK_BASE: Variant = { model: 'cross', init: 'decoder', pooling: 'mean', attention: 'bidirectional_global' };
const RANK_COMMON = { seeds: SEEDS, budget: RANK_BUDGET_V2, file: 'data/results/v2/ranking.jsonl', kind: 'rank', protocol: RANK_PROTOCOL } as const;

const RANK_FINDINGS: Readonly<Record<string, Finding>> = {
  embed_init_v2: {
    ...RANK_COMMON,
    id: 'embed_init_v2',
    title: 'Embedding model init: encoder of the encoder-decoder vs decoder vs random',
    paper: 'EmbeddingGemma (arXiv 2509.20354) ablation: initialising from the T5Gemma encoder beats the decoder-only Gemma 3 and random init (MTEB mean 60.4 / 59.7 / 45.2).',
    factor: 'init',
    expected: { encoder_decoder: 1, random: -1 },
    baseline: EMBED_BASE,
    variants: oneAtATime(EMBED_BASE, { init: ['encoder_decoder', 'random'] }),
    tasks: ['embed'],
  },
  embed_pooling_v2: {
    ...RANK_COMMON,
    id: 'embed_pooling_v2',
    title: 'Embedding model pooling: mean vs attention vs first vs last',
    paper: 'EmbeddingGemma ablation (encoder-decoder init): mean pooling is best, then attention, first and last token (MTEB mean 60.4 / 60.2 / 59.9 / 59.7).',
    factor: 'pooling',
    expected: { attention: -1, first: -1, last: -1 },
    baseline: EMBED_ED,
    variants: oneAtATime(EMBED_ED, { pooling: ['attention', 'first', 'last'] }),
    tasks: ['embed'],
  },
  rerank_attention_v2: {
    ...RANK_COMMON,
    id: 'rerank_attention_v2',
    title: 'Cross-encoder reranker: bidirectional vs causal attention',
    paper: 'Gemma Encoder: a bidirectional encoder adapted from Gemma reranks MS MARCO better than the causal decoder does.',
    factor: 'attention',
    expected: { causal: -1 },
    baseline: RERANK_BASE,
    variants: [...oneAtATime(RERANK_BASE, { attention: ['causal'] }), { ...RERANK_BASE, attention: 'causal', pooling: 'last' }],
    tasks: ['rerank'],
  },
};

const V1_GLUE = ['attention', 'pooling', 'dropout', 'init'] as const;
/**
 * Findings (a)-(h) under the v2 protocol: `attention_v2`, `pooling_v2`, `dropout_v2`, `init_v2`, `seq2seq_v2`,
 * `embed_init_v2`, `embed_pooling_v2`, `rerank_attention_v2`.
 */
export const FINDINGS_V2: Readonly<Record<string, Finding>> = {
  ...Object.fromEntries(V1_GLUE.map((id) => [`${id}_v2`, v2(FINDINGS[id]!)])),
  seq2seq_v2: {
    ...FINDINGS.seq2seq!,
    id: 'seq2seq_v2',
    tasks: ['boolq', 'cb', 'copa', 'multirc', 'rte', 'wic', 'wsc'],
    seeds: SEEDS,
    budget: SEQ2SEQ_BUDGET_V2,
    file: 'data/results/v2/superglue-arms.jsonl',
    kind: 'superglue-arms',
    protocol: { lrs: [1e-4, 3e-4, 1e-3], searchSeeds: [0, 1] },
  },
  ...RANK_FINDINGS,
};

/** Row label of a variant in a finding: the varied factor's value, plus any other factor that differs. */
export function findingLabel(f: Finding): (v: Variant) => string {
  return (v) => {
    const others = Object.keys(v).filter((k) => k !== f.factor && v[k] !== f.baseline[k]);
    const head = `${f.factor}=${String(v[f.factor])}`;
    const tail = others.map((k) => `${k}=${String(v[k])}`);
    return [head, ...tail].join(', ') + (variantKey(v) === variantKey(f.baseline) ? ' (baseline)' : '');
  };
}

/** The paper's predicted sign of (variant - baseline) for a variant, when it predicts one. */
export function expectedSign(f: Finding, v: Variant): 1 | -1 | undefined {
  if (Object.keys(v).some((k) => k !== f.factor && !f.coupled?.includes(k) && v[k] !== f.baseline[k])) return undefined;
  return f.expected[String(v[f.factor])];
}

/** The finding as a runnable spec, given the checkpoint identity that completes its budget. */
export function findingSpec(f: Finding, model: { readonly model: string; readonly modelSha: string }): AblationSpec {
  return { name: f.id, variants: f.variants, seeds: f.seeds, tasks: f.tasks, budget: { ...f.budget, ...model } };
}

/**
 * The specs to run for a finding, given what is recorded: its one spec, or under the v2 protocol the
 * learning-rate search and then the remaining seeds at each chosen rate (call again after the search).
 */
export function findingSpecs(f: Finding, model: { readonly model: string; readonly modelSha: string }, recorded: readonly RunRecord[]): AblationSpec[] {
  const spec = findingSpec(f, model);
  return f.protocol ? lrProtocolSpecs(spec, f.protocol, findingRecords(f, recorded)) : [spec];
}

/**
 * The recorded runs of a finding: its variants, tasks and seeds under its budget (any checkpoint, but
 * only one: runs against two different checkpoints are an error naming both).
 */
export function findingRecords(f: Finding, records: readonly RunRecord[]): RunRecord[] {
  const variants = new Set(f.variants.map(variantKey));
  // Under the v2 protocol the learning rate is searched: any rate of its grid belongs to the finding.
  const budgetMatches = (b: Budget) =>
    Object.entries(f.budget).every(([k, v]) => (f.protocol && k === 'lr' ? f.protocol.lrs.includes(b[k] as number) : b[k] === v));
  const out = records.filter((r) => variants.has(variantKey(r.variant)) && f.tasks.includes(r.task) && f.seeds.includes(r.seed) && budgetMatches(r.budget));
  const shas = [...new Set(out.map((r) => String(r.budget.modelSha)))];
  if (shas.length > 1) throw new ConfigError(`'${f.id}' has runs against several checkpoints (${shas.join(', ')}); keep one`, f.file, 'modelSha');
  return out;
}

/** Reads a finding's results file and selects its runs. */
export function loadFinding(f: Finding, file: string): RunRecord[] {
  return findingRecords(f, readRecords(file));
}

/**
 * The runs a finding reports: all of them, or under the v2 protocol only those at each (variant, task)'s
 * chosen learning rate (the search's other rates are selection, not results).
 */
export function reportedRuns(f: Finding, records: readonly RunRecord[]): RunRecord[] {
  const mine = findingRecords(f, records);
  return f.protocol ? chosenRuns(mine, f.protocol).runs : mine;
}

/** A summary row the paper predicts a sign for, with the verdict on that sign. */
export interface VerdictRow {
  readonly task: string;
  readonly variant: string;
  readonly paper: 'above baseline' | 'below baseline';
  /** Runs of the variant, its mean score and the baseline's mean on the same task. */
  readonly n: number;
  readonly mean: number;
  readonly baseline: number;
  /** Mean paired (same task and seed) difference, variant - baseline, and its 95% bootstrap interval. */
  readonly diff: number;
  readonly ci95_lo: number;
  readonly ci95_hi: number;
  /** Seeds where the variant was above / below the baseline. */
  readonly up_down: string;
  readonly p_sign: number;
  readonly result: Direction;
}

/** The verdict rows of a finding's summary (`summarizeRuns` labelled with `findingLabel(f)`). */
export function findingVerdicts(f: Finding, summary: readonly SummaryRow[]): VerdictRow[] {
  const label = findingLabel(f);
  const baseMean = new Map(summary.filter((r) => r.variant === label(f.baseline)).map((r) => [r.task, r.mean]));
  return summary.flatMap((row) => {
    const v = f.variants.find((x) => label(x) === row.variant);
    const sign = v ? expectedSign(f, v) : undefined;
    if (sign === undefined) return [];
    return [{
      task: row.task, variant: row.variant, paper: sign > 0 ? 'above baseline' : 'below baseline', n: row.n, mean: row.mean, baseline: baseMean.get(row.task) ?? NaN,
      diff: row.diff, ci95_lo: row.diff_lo, ci95_hi: row.diff_hi, up_down: `${row.wins}/${row.losses}`, p_sign: row.p_sign, result: direction(row, sign),
    }];
  });
}

/** One line of the findings summary: a finding's verdict row with its id. */
export interface FindingSummaryRow extends VerdictRow {
  readonly finding: string;
}

/** Every finding's verdict rows over the reported runs in its results file (findings with no runs give none). */
export function findingsSummary(findings: readonly Finding[], repoRoot: string): FindingSummaryRow[] {
  return findings.flatMap((f) => {
    const runs = reportedRuns(f, readRecords(`${repoRoot}/${f.file}`));
    if (!runs.some((r) => variantKey(r.variant) === variantKey(f.baseline))) return [];
    const summary = summarizeRuns(runs, { baseline: f.baseline, label: findingLabel(f) });
    return findingVerdicts(f, summary).map((v) => ({ finding: f.id, ...v }));
  });
}

/**
 * All findings in one panel: each row's paired difference turned toward the paper's prediction (right of 0 =
 * the paper's direction) as a bar coloured by verdict, with its 95% interval as a black line.
 */
export function findingsChart(rows: readonly FindingSummaryRow[], o: { title?: string; width?: number } = {}): ChartSpec {
  const data = rows.map((r) => {
    const s = r.paper === 'above baseline' ? 1 : -1;
    const [lo, hi] = s > 0 ? [r.ci95_lo, r.ci95_hi] : [-r.ci95_hi, -r.ci95_lo];
    return { row: `${r.finding}: ${r.variant} [${r.task}]`, toward: r.diff * s, lo, hi, result: r.result, n: r.n };
  });
  const y = { field: 'row', type: 'nominal', sort: data.map((d) => d.row), title: null, axis: { labelLimit: 420 } };
  const color = { field: 'result', type: 'nominal', scale: { domain: ['agrees', 'leans agree', 'leans disagree', 'disagrees'], range: ['#1a9850', '#91cf60', '#fc8d59', '#d73027'] } };
  return {
    $schema: VEGA_LITE_V5_SCHEMA,
    ...(o.title ? { title: o.title } : {}),
    width: o.width ?? 320,
    data: { values: data },
    layer: [
      { mark: { type: 'bar', opacity: 0.8 }, encoding: { y, x: { field: 'toward', type: 'quantitative', title: 'paired difference toward the paper (95% bootstrap CI)' }, color, tooltip: [{ field: 'row' }, { field: 'toward', format: '.4f' }, { field: 'lo', format: '.4f' }, { field: 'hi', format: '.4f' }, { field: 'n' }] } },
      { mark: { type: 'rule', strokeWidth: 2, color: 'black' }, encoding: { y, x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' } } },
      { mark: { type: 'rule', color: 'gray', strokeDash: [4, 3] }, encoding: { x: { datum: 0, type: 'quantitative' } } },
    ],
  } as unknown as ChartSpec;
}
