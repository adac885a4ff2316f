/**
 * What `%%glue` and `%%ablate` run: GLUE fine-tunes of encoders a cell builds (src/encoder),
 * one per task or per variant, with a progress display per run, interruptible between steps
 * (`$nb.signal`), summarised as an arquero table (and, for ablations, a bar chart).
 */
import * as aq from 'arquero';
import type { ColumnTable } from 'arquero';
import type { GemmaEncoder } from '../encoder/encoder.js';
import type { ExampleTokenizer, GlueFinetuneOptions, GlueFinetuneResult } from '../encoder/glue.js';
import { ConfigError } from '../errors.js';
import { throwIfAborted, type RunControl } from '../progress/index.js';
import type { GlueTaskId, GlueTaskSpec } from '../tasks/glue.js';

/** Budget of each fine-tune (`%%glue … steps=32 trainLimit=512`); finetuneGlue's defaults otherwise. */
export interface SweepBudget {
  readonly steps?: number;
  readonly trainLimit?: number;
  readonly devLimit?: number;
  readonly batch?: number;
  readonly lr?: number;
  readonly maxLength?: number;
  readonly seed?: number;
  readonly evalEvery?: number;
}

/**
 * Builds a fresh encoder for one run, on a freshly loaded backbone (fine-tuning changes the
 * backbone in place); its head must match the task (see `spec`). The sweep disposes both.
 */
export type EncoderFactory = (task: GlueTaskId, spec: GlueTaskSpec) => GemmaEncoder | Promise<GemmaEncoder>;

export interface GlueSetup {
  readonly encoder: EncoderFactory;
  readonly tokenizer: ExampleTokenizer;
}

export interface AblationSetup {
  /** Variant label -> encoder factory; the first variant is the baseline. */
  readonly variants: Readonly<Record<string, EncoderFactory>>;
  readonly tokenizer: ExampleTokenizer;
}

export interface SweepRun {
  readonly task: GlueTaskId;
  readonly variant: string;
  readonly result: GlueFinetuneResult;
}

export interface SweepResult {
  readonly runs: readonly SweepRun[];
  /** One row per run: task, variant, metric columns, score, steps, seconds. */
  readonly table: ColumnTable;
}

export const BUDGET_KEYS: readonly (keyof SweepBudget)[] = ['steps', 'trainLimit', 'devLimit', 'batch', 'lr', 'maxLength', 'seed', 'evalEvery'];

function finetuneOptions(b: SweepBudget, tokenizer: ExampleTokenizer, ctl: RunControl): GlueFinetuneOptions {
  return {
    tokenizer,
    ...(b.steps !== undefined ? { maxSteps: b.steps } : {}),
    ...(b.trainLimit !== undefined ? { trainLimit: b.trainLimit } : {}),
    ...(b.devLimit !== undefined ? { devLimit: b.devLimit } : {}),
    ...(b.batch !== undefined ? { trainBatchSize: b.batch } : {}),
    ...(b.lr !== undefined ? { schedule: { lr: b.lr } } : {}),
    ...(b.maxLength !== undefined ? { maxLength: b.maxLength } : {}),
    ...(b.seed !== undefined ? { seed: b.seed } : {}),
    ...(b.evalEvery !== undefined ? { evalEvery: b.evalEvery } : {}),
    ...ctl,
  };
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

function summarise(runs: readonly SweepRun[]): ColumnTable {
  return aq.from(
    runs.map(({ task, variant, result }) => ({
      task,
      variant,
      ...Object.fromEntries(Object.entries(result.dev.metrics).map(([k, v]) => [k, r4(v as number)])),
      score: r4(result.dev.score),
      steps: result.steps,
      dev_examples: result.dev.examples,
    })),
  );
}

/** Fine-tunes `runs` one after the other; `control(label)` gives each run its signal + progress display. */
export async function runSweep(
  jobs: readonly { task: GlueTaskId; variant: string; encoder: EncoderFactory }[],
  budget: SweepBudget,
  tokenizer: ExampleTokenizer,
  control: (label: string) => RunControl,
): Promise<SweepResult> {
  const { GLUE_TASKS } = await import('../tasks/glue.js');
  const { finetuneGlue } = await import('../encoder/glue.js');
  const runs: SweepRun[] = [];
  for (const [i, job] of jobs.entries()) {
    const spec = GLUE_TASKS[job.task];
    if (!spec) throw new ConfigError(`'${job.task}' is not a GLUE task (one of ${Object.keys(GLUE_TASKS).join(', ')})`, undefined, 'task');
    const ctl = control(`${job.variant ? `${job.variant} ` : ''}${job.task}`);
    throwIfAborted(ctl.signal, i);
    const encoder = await job.encoder(job.task, spec);
    try {
      runs.push({ task: job.task, variant: job.variant, result: await finetuneGlue(job.task, encoder, finetuneOptions(budget, tokenizer, ctl)) });
    } finally {
      encoder.dispose();
      (encoder.backbone as { dispose?: () => void }).dispose?.();
    }
  }
  return { runs, table: summarise(runs) };
}

/** Parses `key=value` magic options into a budget (numbers only; unknown keys are errors). */
export function parseBudget(args: readonly string[], magic: string): SweepBudget {
  const out: Record<string, number> = {};
  for (const a of args) {
    const m = /^(\w+)=(.+)$/.exec(a);
    if (!m || !(BUDGET_KEYS as readonly string[]).includes(m[1]!)) {
      throw new ConfigError(`%%${magic}: '${a}' is not one of ${BUDGET_KEYS.map((k) => `${k}=N`).join(', ')}`, undefined, m?.[1]);
    }
    const v = Number(m[2]);
    if (!Number.isFinite(v)) throw new ConfigError(`%%${magic}: ${m[1]} must be a number, got '${m[2]}'`, undefined, m[1]);
    out[m[1]!] = v;
  }
  return out;
}
