/**
 * GLUE fine-tunes of encoders built by a notebook cell (`%%glue`, `%%ablate`): one run per task and
 * variant through the one sweep runner (runner.ts, in memory), each with its own progress display,
 * interruptible between steps, summarised as an arquero table.
 */
import * as aq from 'arquero';
import type { ColumnTable } from 'arquero';
import type { GemmaEncoder } from '../encoder/encoder.js';
import { finetuneGlue, type ExampleTokenizer, type GlueFinetuneResult } from '../encoder/glue.js';
import { ConfigError } from '../errors.js';
import type { RunControl } from '../progress/index.js';
import { GLUE_TASKS, type GlueTaskId, type GlueTaskSpec } from '../tasks/glue.js';
import { glueFinetuneOptions, type TrainBudget } from './budget.js';
import { runAblation } from './runner.js';

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
  /** One row per run: task, variant, metric columns, score, steps, dev examples. */
  readonly table: ColumnTable;
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

/**
 * Fine-tunes every (task, variant) of `tasks` x `variants` (task outermost, variants in order) under
 * `budget`; `control(label)` gives each run its signal + progress display.
 */
export async function runSweep(
  tasks: readonly GlueTaskId[],
  variants: Readonly<Record<string, EncoderFactory>>,
  budget: TrainBudget,
  tokenizer: ExampleTokenizer,
  control: (label: string) => RunControl,
): Promise<SweepResult> {
  for (const task of tasks) {
    if (!GLUE_TASKS[task]) throw new ConfigError(`'${task}' is not a GLUE task (one of ${Object.keys(GLUE_TASKS).join(', ')})`, undefined, 'task');
  }
  const labels = Object.keys(variants);
  const runs: SweepRun[] = [];
  await runAblation(
    { name: 'sweep', variants: labels.map((variant) => ({ variant })), seeds: [budget.seed ?? 0], tasks, budget: {} },
    async (job, ctl) => {
      const task = job.task as GlueTaskId;
      const variant = job.variant.variant as string;
      const encoder = await (variants[variant] as EncoderFactory)(task, GLUE_TASKS[task]);
      try {
        const result = await finetuneGlue(task, encoder, glueFinetuneOptions(budget, tokenizer, ctl));
        runs.push({ task, variant, result });
        return { metric: 'score', value: result.dev.score, steps: result.steps };
      } finally {
        encoder.dispose();
        encoder.backbone.dispose();
      }
    },
    { control: (job) => control(`${job.variant.variant ? `${job.variant.variant} ` : ''}${job.task}`) },
  );
  return { runs, table: summarise(runs) };
}
