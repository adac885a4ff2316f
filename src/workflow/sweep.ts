/**
 * Budgets x variants x seeds x tasks of one checkpoint through the one sweep runner
 * (experiments/runner.ts `runAblation`): every finished run appended to the result store (JSONL), reruns
 * skip recorded runs, `shard` splits the grid deterministically across processes (merge the files with
 * `mergeRecords` / `gemma-lab results merge`). Each run loads a fresh copy of the checkpoint, fine-tunes
 * with `finetune`, records which split chose what, and optionally exports the model and predicts a test file.
 * Interrupting saves the running job's trainer checkpoint under `checkpoints/<run key>`; `resume`
 * continues it from there.
 */
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import type { TrainBudget } from '../experiments/budget.js';
import { modelIdentity } from '../experiments/glue.js';
import { runKey, type Budget, type FactorValue, type Variant } from '../experiments/grid.js';
import { runAblation, type AblationResult, type Shard } from '../experiments/runner.js';
import { GemmaModel } from '../models/gemma.js';
import { loadModel } from '../models/load.js';
import type { RunControl } from '../progress/index.js';
import { loadTokenizer } from '../tokenize/index.js';
import { exportHf, saveSentenceTransformerLayout } from './export.js';
import { checkTestFile, DEFAULT_VARIANT, finetune, parseTask, predictTest, taskFiles, taskId, taskLabels, type EncoderVariantSpec, type FinetuneResult, type TaskRef, type WorkflowSetup } from './finetune.js';

export interface WorkflowSweepSpec {
  readonly name: string;
  /** Checkpoint folder (Gemma decoder, with its tokenizer.json unless `tokenizerDir`). */
  readonly model: string;
  readonly tokenizerDir?: string;
  readonly tasks: readonly string[];
  readonly variants?: readonly EncoderVariantSpec[];
  readonly seeds: readonly number[];
  readonly budgets: readonly TrainBudget[];
  /** Data files instead of ../shared/data (one task). */
  readonly files?: { readonly train?: string; readonly dev?: string };
  /** Task id -> test file: predictions in the leaderboard format per run. */
  readonly testFiles?: Readonly<Record<string, string>>;
}

export interface WorkflowSweepOptions extends RunControl {
  /** Output folder: results.jsonl, checkpoints/, models/, predictions/. */
  readonly out: string;
  readonly shard?: Shard;
  readonly resume?: boolean;
  /** Save every fine-tuned model (HF layout; bi-encoders also sentence-transformers). */
  readonly exportModels?: boolean;
  /** Trainer checkpoint every N steps (default: only on interrupt and at the end). */
  readonly checkpointEvery?: number;
  readonly log?: (line: string) => void;
  /** Extra setup passed to each fine-tune (data files, negatives, temperature, TREC DL year). */
  readonly setup?: Omit<WorkflowSetup, 'tokenizer' | 'variant' | 'signal' | 'onProgress' | 'checkpoint' | 'resume'>;
  /** Called with each finished run's full result before its encoder is freed. */
  readonly onResult?: (key: string, r: FinetuneResult) => void;
  /** Skip the test file check (tests with small synthetic files). */
  readonly checkTestSize?: boolean;
}

const variantRecord = (v: EncoderVariantSpec): Variant => ({ ...DEFAULT_VARIANT, ...v }) as unknown as Variant;

/** The budget record of a run key: the budget's own fields (seed is the job's) plus the checkpoint identity. */
function budgetRecord(b: TrainBudget, id: { model: string; modelSha: string }): Budget {
  const out: Record<string, FactorValue> = {};
  for (const [k, v] of Object.entries(b)) if (k !== 'seed' && v !== undefined) out[k] = v as FactorValue;
  return { ...out, ...id };
}

const hasCheckpoint = (dir: string) => existsSync(dir) && readdirSync(dir).some((f) => /^ckpt-\d+$/.test(f));

/** Checks everything that can be checked before training: tasks, budgets, files, test files. */
export async function checkSweep(spec: WorkflowSweepSpec, o: Pick<WorkflowSweepOptions, 'checkTestSize'> = {}): Promise<TaskRef[]> {
  const refs = spec.tasks.map(parseTask);
  if (refs.length === 0) throw new ConfigError('no tasks', undefined, 'task');
  if (spec.seeds.length === 0) throw new ConfigError('no seeds', undefined, 'seeds');
  if (!existsSync(join(spec.model, 'config.json'))) throw new ConfigError('no config.json: not a checkpoint folder', spec.model, 'model');
  const missing: string[] = [];
  for (const ref of refs) {
    const f = await taskFiles(ref, spec.files);
    for (const path of [f.train, f.dev]) if (path !== undefined && !existsSync(path)) missing.push(`${taskId(ref)}: ${path}`);
  }
  if (missing.length) throw new ConfigError(`missing data files (give them with --train/--dev or pick other tasks):\n  ${missing.join('\n  ')}`, undefined, 'task');
  for (const [t, file] of Object.entries(spec.testFiles ?? {})) await checkTestFile(parseTask(t), file, { checkSize: o.checkTestSize ?? true });
  const { checkBudget } = await import('../experiments/budget.js');
  spec.budgets.forEach((b, i) => checkBudget(b, `budget ${i + 1}`));
  return refs;
}

export async function runWorkflowSweep(spec: WorkflowSweepSpec, o: WorkflowSweepOptions): Promise<AblationResult> {
  await checkSweep(spec, o);
  const dir = resolve(spec.model);
  const id = await modelIdentity(dir);
  const tokenizerDir = spec.tokenizerDir ?? dir;
  const tokenizer = loadTokenizer(tokenizerDir);
  const variants = (spec.variants?.length ? spec.variants : [{}]).map(variantRecord);
  const budgets = spec.budgets.map((b) => budgetRecord(b, id));
  const file = join(o.out, 'results.jsonl');
  return runAblation(
    { name: spec.name, variants, seeds: spec.seeds, tasks: spec.tasks.map((t) => taskId(parseTask(t))), budget: budgets[0] as Budget, budgets },
    async (job, ctl) => {
      const key = runKey(job);
      const ref = parseTask(job.task);
      const budget: TrainBudget = { ...(spec.budgets[budgets.indexOf(job.budget)] as TrainBudget), seed: job.seed };
      const ckDir = join(o.out, 'checkpoints', key);
      const model = await loadModel(dir);
      let r: FinetuneResult | undefined;
      try {
        r = await finetune(model, ref, budget, {
          ...o.setup,
          ...(spec.files ? { files: spec.files } : {}),
          tokenizer,
          variant: job.variant as unknown as EncoderVariantSpec,
          checkpoint: { dir: ckDir, ...(o.checkpointEvery ? { every: o.checkpointEvery } : {}), keep: 1 },
          ...(o.resume && hasCheckpoint(ckDir) ? { resume: true } : {}),
          ...ctl,
        });
        const label = `${job.task.replace(':', '-')}-seed${job.seed}-${key}`;
        const extra: Record<string, string | number | boolean> = {
          selectedBy: r.selection.by === 'validation' ? `validation (${r.selection.validationExamples} rows carved from train, stratified=${r.selection.stratified}, seed ${r.selection.seed})` : 'none (final weights)',
          devEvaluations: 1,
          trainExamples: r.trainExamples,
          ...(r.selection.best ? { bestStep: r.selection.best.step, bestValidation: r.selection.best.metric } : {}),
          ...Object.fromEntries(Object.entries(r.baseline ?? {}).map(([k, v]) => [`bm25_${k}`, v])),
        };
        if (o.exportModels && !(model instanceof GemmaModel)) extra.model = `not exported: ${model.config.modelType} checkpoints have no export here`;
        else if (o.exportModels && model instanceof GemmaModel) {
          const mdir = join(o.out, 'models', label);
          const meta = { task: job.task, attention: (job.variant.attention as EncoderVariantSpec['attention']) ?? DEFAULT_VARIANT.attention, tokenizerDir, ...(taskLabels(ref) ? { labels: taskLabels(ref) as readonly string[] } : {}) };
          if (ref.benchmark === 'msmarco' && ref.task === 'embed') await saveSentenceTransformerLayout(r.encoder, model, mdir, { ...meta, maxLength: budget.maxLength ?? 128 });
          else await exportHf(r.encoder, model, mdir, meta);
          extra.model = relative(o.out, mdir);
        }
        const test = spec.testFiles?.[job.task];
        if (test) extra.predictions = relative(o.out, await predictTest(r.encoder, ref, test, join(o.out, 'predictions', label), { tokenizer, maxLength: budget.maxLength ?? 128, checkSize: o.checkTestSize ?? true }));
        o.onResult?.(key, r);
        // The run is recorded next: its trainer checkpoint is only needed to resume an interrupted run.
        await rm(ckDir, { recursive: true, force: true });
        return { metric: ref.benchmark === 'msmarco' ? 'ndcg10' : 'score', value: r.score, metrics: r.metrics, steps: r.steps, extra };
      } finally {
        r?.encoder.dispose();
        model.dispose();
      }
    },
    {
      file,
      ...(o.shard ? { shard: o.shard } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.log ? { log: o.log } : {}),
    },
  );
}
