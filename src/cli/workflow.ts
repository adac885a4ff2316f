/**
 * The analyst commands: `gemma-lab glue|superglue --model DIR --task T[,T]|all --out DIR [budget flags]`.
 * Budget and variant flags take comma lists; their cross product is the grid (budgets x variants x
 * seeds x tasks) run by the one sweep runner with a result store (OUT/results.jsonl). A progress bar
 * shows the running job; Ctrl-C saves the job's trainer checkpoint (OUT/checkpoints/<run key>) and
 * `--resume` continues from it (finished runs are skipped). At the end the per-task results table
 * (mean, std and 95% t interval over seeds) is printed and written as OUT/results.csv, the runs as
 * OUT/runs.csv (plus OUT/results.jsonl).
 */
import { writeFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { from } from 'arquero';
import { AbortedError, ConfigError } from '../errors.js';
import { parseBudgetArgs, type TrainBudget } from '../experiments/budget.js';
import { parseShard } from '../experiments/runner.js';
import type { RunRecord } from '../experiments/store.js';
import { terminalProgress } from '../progress/index.js';
import { tableBundle } from '../report/tables.js';
import type { AttentionMode } from '../nn/masks.js';
import type { Pooling } from '../nn/pooling.js';
import { GLUE_WORKFLOW_TASKS, parseTask, SUPERGLUE_WORKFLOW_TASKS, taskId, type EncoderVariantSpec } from '../workflow/finetune.js';
import { seedTable } from '../workflow/stats.js';
import type { WorkflowSweepOptions, WorkflowSweepSpec } from '../workflow/sweep.js';
import { defineCommand, type FlagSpec } from './args.js';
import type { Command } from './command.js';

/** Budget flags: CLI name -> TrainBudget key (values may be comma lists). */
export const BUDGET_FLAGS: Readonly<Record<string, keyof TrainBudget>> = {
  steps: 'steps',
  epochs: 'epochs',
  batch: 'batch',
  lr: 'lr',
  warmup: 'warmup',
  schedule: 'schedule',
  'max-length': 'maxLength',
  'train-limit': 'trainLimit',
  'dev-limit': 'devLimit',
  'eval-every': 'evalEvery',
  validation: 'validation',
};

const cross = <T>(lists: readonly (readonly T[])[]): T[][] => lists.reduce<T[][]>((acc, xs) => acc.flatMap((a) => xs.map((x) => [...a, x])), [[]]);
const split = (v: string | undefined): string[] | undefined => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));

/** Budget flags -> the budget grid (cross product of comma lists), each budget checked. */
/** `--seeds N`: seeds 0..N-1. */
export function seedRange(value: string | boolean | undefined): number[] {
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= 1)) throw new ConfigError(`--seeds must be a positive integer, got '${String(value)}'`, undefined, 'seeds');
  return Array.from({ length: n }, (_, i) => i);
}

export function budgetGrid(values: Readonly<Record<string, string | boolean | undefined>>, where: string): TrainBudget[] {
  const axes = Object.entries(BUDGET_FLAGS)
    .filter(([flag]) => typeof values[flag] === 'string')
    .map(([flag, key]) => (split(values[flag] as string) as string[]).map((v) => `${key}=${v}`));
  return cross(axes).map((words) => parseBudgetArgs(words, where));
}

/** Variant flags -> variants (cross product). */
export function variantGrid(values: Readonly<Record<string, string | boolean | undefined>>): EncoderVariantSpec[] {
  const attention = (split(values.attention as string | undefined) ?? [undefined]) as (AttentionMode | undefined)[];
  const pooling = (split(values.pooling as string | undefined) ?? [undefined]) as (Pooling | undefined)[];
  const dropout = (split(values.dropout as string | undefined)?.map(Number) ?? [undefined]) as (number | undefined)[];
  const bias = (split(values.bias as string | undefined)?.map((b) => {
    if (b !== 'true' && b !== 'false') throw new ConfigError(`--bias takes true/false, got '${b}'`, undefined, 'bias');
    return b === 'true';
  }) ?? [undefined]) as (boolean | undefined)[];
  const out: EncoderVariantSpec[] = [];
  for (const a of attention) for (const p of pooling) for (const d of dropout) for (const b of bias) {
    if (d !== undefined && !(d >= 0 && d < 1)) throw new ConfigError(`--dropout must be in [0, 1), got ${d}`, undefined, 'dropout');
    out.push({ ...(a ? { attention: a } : {}), ...(p ? { pooling: p } : {}), ...(d !== undefined ? { dropout: d } : {}), ...(b !== undefined ? { bias: b } : {}) });
  }
  return out;
}

/** `--test-file FILE` (one task) or `T=FILE[,T=FILE]` -> task id -> file. */
export function testFiles(value: string | undefined, tasks: readonly string[]): Record<string, string> {
  if (value === undefined) return {};
  if (!value.includes('=')) {
    if (tasks.length !== 1) throw new ConfigError('with several tasks, give --test-file as TASK=FILE[,TASK=FILE]', undefined, 'test-file');
    return { [tasks[0] as string]: value };
  }
  return Object.fromEntries(
    value.split(',').map((kv) => {
      const [t, f] = kv.split('=', 2) as [string, string | undefined];
      if (!f) throw new ConfigError(`'${kv}' is not TASK=FILE`, undefined, 'test-file');
      const id = tasks.find((x) => x === t || x.endsWith(`:${t}`));
      if (!id) throw new ConfigError(`'${t}' is not one of the tasks being run (${tasks.join(', ')})`, undefined, 'test-file');
      return [id, f];
    }),
  );
}

const r4 = (x: unknown) => (typeof x === 'number' ? Math.round(x * 1e4) / 1e4 : x);

/** Runs as rows (runs.csv): task, variant, seed, score, every metric, which split chose what. */
export function runsTable(records: readonly RunRecord[]) {
  return from(
    records.map((r) => ({
      key: r.key,
      task: r.task,
      variant: Object.entries(r.variant).map(([k, v]) => `${k}=${v}`).join(' '),
      budget: Object.entries(r.budget).filter(([k]) => k !== 'model' && k !== 'modelSha').map(([k, v]) => `${k}=${v}`).join(' '),
      seed: r.seed,
      [r.metric]: r4(r.value),
      ...Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, r4(v)])),
      steps: r.steps,
      seconds: Math.round(r.seconds),
      ...(typeof r.extra?.bm25_ndcg10 === 'number' ? { bm25_ndcg10: r4(r.extra.bm25_ndcg10) } : {}),
      selected_by: String(r.extra?.selectedBy ?? ''),
      dev_scored: 'once, at the end',
    })),
  );
}

const COMMON: Record<string, FlagSpec> = {
  model: { type: 'string', required: true, value: 'DIR', help: 'Gemma checkpoint folder (config.json, model.safetensors, tokenizer.json)' },
  task: { type: 'string', required: true, value: 'T[,T]|all', help: 'tasks to fine-tune on' },
  out: { type: 'string', required: true, value: 'DIR', help: 'results.jsonl, results.csv, runs.csv, checkpoints/, models/, predictions/' },
  tokenizer: { type: 'string', value: 'DIR', help: 'tokenizer folder (default: the model folder)' },
  train: { type: 'string', value: 'FILE', help: 'training file instead of ../shared/data (one task)' },
  dev: { type: 'string', value: 'FILE', help: 'dev file instead of ../shared/data (one task)' },
  seeds: { type: 'string', default: '1', value: 'N', help: 'seeds 0..N-1 per (task, variant, budget)' },
  steps: { type: 'string', value: 'N[,N]', help: 'optimizer steps (or --epochs)' },
  epochs: { type: 'string', value: 'E[,E]', help: 'passes over the training rows (default 1)' },
  batch: { type: 'string', value: 'B[,B]', help: 'examples per step (default 16)' },
  lr: { type: 'string', value: 'LR[,LR]', help: 'peak learning rate (default 2e-5)' },
  warmup: { type: 'string', value: 'F', help: 'warmup fraction of the steps (default 0.06)' },
  schedule: { type: 'string', value: 'S', help: 'constant|linear|cosine decay (default linear)' },
  'max-length': { type: 'string', value: 'N', help: 'tokens per example (default 128)' },
  'train-limit': { type: 'string', value: 'N', help: 'train on a seeded subset of N rows' },
  'dev-limit': { type: 'string', value: 'N', help: 'score the first N dev rows (default all)' },
  'eval-every': { type: 'string', value: 'N', help: 'validation evaluation every N steps (selection)' },
  validation: { type: 'string', value: 'N', help: 'rows carved from train to select on (default 10% when selecting, else 0)' },
  attention: { type: 'string', value: 'A[,A]', help: 'causal|bidirectional_global|bidirectional_sliding|... (default bidirectional_global)' },
  pooling: { type: 'string', value: 'P[,P]', help: 'mean|first|last|attention (default mean)' },
  dropout: { type: 'string', value: 'R[,R]', help: 'dropout rate (default 0.1)' },
  bias: { type: 'string', value: 'true|false', help: 'learn score.bias (false + last pooling = HF score.weight)' },
  'test-file': { type: 'string', value: 'FILE|T=FILE,..', help: 'predict this test file into OUT/predictions (leaderboard format)' },
  export: { type: 'boolean', help: 'save every fine-tuned model as an HF checkpoint under OUT/models' },
  resume: { type: 'boolean', help: 'continue an interrupted run from its checkpoint (finished runs are always skipped)' },
  shard: { type: 'string', value: 'k/N', help: 'run only job k of every N (merge with gemma-lab results merge)' },
  'checkpoint-every': { type: 'string', value: 'N', help: 'also checkpoint every N steps (default: on Ctrl-C and at the end)' },
};

export interface SweepCliOptions {
  readonly spec: WorkflowSweepSpec;
  readonly options: Omit<WorkflowSweepOptions, 'signal' | 'onProgress' | 'log'>;
  readonly progress?: boolean;
}

/** Runs a CLI sweep: progress bar, Ctrl-C -> checkpoint + exit 130, results printed and written. */
export async function runSweepCli(c: SweepCliOptions): Promise<number> {
  const { runWorkflowSweep, checkSweep } = await import('../workflow/sweep.js');
  await checkSweep(c.spec, c.options);
  const { initEngine } = await import('../engine/index.js');
  await initEngine();
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write('\ninterrupt: saving a checkpoint at the next step boundary (Ctrl-C again to quit at once)\n');
    ac.abort(new Error('interrupted (Ctrl-C)'));
  };
  process.on('SIGINT', onSigint);
  mkdirSync(c.options.out, { recursive: true });
  try {
    const res = await runWorkflowSweep(c.spec, {
      ...c.options,
      signal: ac.signal,
      ...(c.progress === false ? {} : { onProgress: terminalProgress() }),
      log: (l) => process.stderr.write(`${l}\n`),
    });
    const summary = seedTable(res.records, (r) => Object.entries(r.variant).map(([k, v]) => `${k}=${v}`).join(' '));
    const runs = runsTable(res.records);
    await writeFile(join(c.options.out, 'results.csv'), summary.toCSV());
    await writeFile(join(c.options.out, 'runs.csv'), runs.toCSV());
    const shown = ['task', 'variant', 'budget', 'seed', 'score', 'ndcg10', 'bm25_ndcg10', 'selected_by'].filter((col) => runs.columnNames().includes(col));
    console.log(tableBundle(runs.select(shown), { limit: 200 })['text/plain']);
    console.log('');
    console.log(tableBundle(summary, { limit: 200 })['text/plain']);
    const how = res.records.map((r) => String(r.extra?.selectedBy ?? '')).some((s) => s.startsWith('validation'))
      ? 'checkpoints selected on validation rows carved from train (selected_by)'
      : 'no checkpoint selection (final weights)';
    console.log(`\n${res.ran} run(s) now, ${res.skipped} already recorded; dev / TREC DL scored once per run, at the end; ${how}.`);
    console.log(`wrote ${join(c.options.out, 'results.jsonl')}, results.csv, runs.csv`);
    return 0;
  } catch (e) {
    if (e instanceof AbortedError) {
      process.stderr.write(`gemma-lab: ${e.message}\nrerun the same command with --resume to continue.\n`);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function tasksOf(benchmark: 'glue' | 'superglue', value: string): string[] {
  const all = benchmark === 'glue' ? [...GLUE_WORKFLOW_TASKS] : SUPERGLUE_WORKFLOW_TASKS.map((t) => `superglue:${t}`);
  if (value === 'all') return all;
  return value.split(',').map((t) => taskId(parseTask(benchmark === 'superglue' && !t.includes(':') ? `superglue:${t}` : t)));
}

export function benchmarkCommand(benchmark: 'glue' | 'superglue'): Command {
  const flags: Record<string, FlagSpec> = {
    ...COMMON,
    ...(benchmark === 'superglue'
      ? { objective: { type: 'string', default: 'classifier', value: 'O', help: 'classifier: encoder + classification head (this command);\nprefixlm|ul2: encoder-decoder adaptation route (T5Gemma), when installed' } }
      : {}),
  };
  return defineCommand(
    benchmark === 'glue' ? 'fine-tune and score a checkpoint on GLUE tasks (seeds, budgets, variants; results table)' : 'fine-tune and score a checkpoint on SuperGLUE tasks (encoder classifier route)',
    { name: benchmark, flags },
    async (v) => {
      if (benchmark === 'superglue' && v.objective !== 'classifier') {
        throw new ConfigError(`objective '${String(v.objective)}' is the encoder-decoder route, not part of this build (use classifier)`, undefined, 'objective');
      }
      const tasks = tasksOf(benchmark, v.task as string);
      if ((v.train || v.dev) && tasks.length !== 1) throw new ConfigError('--train/--dev need exactly one --task', undefined, 'task');
      const seeds = seedRange(v.seeds);
      const every = v['checkpoint-every'] === undefined ? undefined : Number(v['checkpoint-every']);
      return runSweepCli({
        spec: {
          name: benchmark,
          model: v.model as string,
          ...(v.tokenizer ? { tokenizerDir: v.tokenizer as string } : {}),
          tasks,
          variants: variantGrid(v),
          seeds,
          budgets: budgetGrid(v, `gemma-lab ${benchmark}`),
          testFiles: testFiles(v['test-file'] as string | undefined, tasks),
          ...(v.train || v.dev ? { files: { ...(v.train ? { train: v.train as string } : {}), ...(v.dev ? { dev: v.dev as string } : {}) } } : {}),
        },
        options: {
          out: v.out as string,
          ...(v.shard ? { shard: parseShard(v.shard as string) } : {}),
          resume: (v.resume as unknown) === true,
          exportModels: (v.export as unknown) === true,
          ...(every !== undefined ? { checkpointEvery: every } : {}),
        },
      });
    },
  );
}

export const glueCommand = benchmarkCommand('glue');
export const superglueCommand = benchmarkCommand('superglue');
