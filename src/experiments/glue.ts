/**
 * The run function of the Gemma Encoder ablations: one variant (attention, pooling, dropout, init) fine-tuned
 * on one GLUE task with the encoder engineer's runner (`finetuneGlue`), scored on the dev split.
 * The backbone is the tiny pretrained Gemma (init "pretrained") or the same architecture freshly
 * initialised with the run's seed (init "random"); the tokenizer is the checkpoint's own.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join, relative } from 'node:path';
import { toEncoder } from '../encoder/encoder.js';
import { exampleTokenizer, finetuneGlue } from '../encoder/glue.js';
import { ConfigError } from '../errors.js';
import { REPO_ROOT } from '../io/paths.js';
import { loadDecoderModel, randomLike } from '../models/load.js';
import type { AttentionMode } from '../nn/masks.js';
import type { Pooling } from '../nn/pooling.js';
import { GLUE_TASKS, type GlueTaskId } from '../tasks/glue.js';
import { loadTokenizer } from '../tokenize/index.js';
import { glueFinetuneOptions, readBudget, readModelIdentity, type ModelIdentity, type TrainBudget } from './budget.js';
import type { Budget, Variant } from './grid.js';
import type { RunFn } from './runner.js';

export interface EncoderVariant {
  readonly attention: AttentionMode;
  readonly pooling: Pooling;
  readonly dropout: number;
  readonly init: 'pretrained' | 'random';
}

/** A GLUE ablation run's budget record: the fine-tune's spend and the checkpoint it starts from. */
export type GlueBudget = Required<Pick<TrainBudget, 'steps' | 'batch' | 'lr' | 'trainLimit' | 'devLimit' | 'maxLength'>> & TrainBudget & ModelIdentity;

/** sha256 of a file, hex (streamed). */
export async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The budget fields that identify the checkpoint: its repo-relative folder and weights hash. */
export async function modelIdentity(dir: string): Promise<{ model: string; modelSha: string }> {
  return { model: relative(REPO_ROOT, dir) || '.', modelSha: (await fileSha256(join(dir, 'model.safetensors'))).slice(0, 12) };
}

function str(v: Variant | Budget, k: string): string {
  const x = v[k];
  if (typeof x !== 'string') throw new ConfigError(`expected a string, got ${JSON.stringify(x)}`, undefined, k);
  return x;
}
function num(v: Variant | Budget, k: string): number {
  const x = v[k];
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new ConfigError(`expected a number, got ${JSON.stringify(x)}`, undefined, k);
  return x;
}

export function encoderVariant(v: Variant): EncoderVariant {
  const init = str(v, 'init');
  if (init !== 'pretrained' && init !== 'random') throw new ConfigError(`'${init}' is not pretrained or random`, undefined, 'init');
  return { attention: str(v, 'attention') as AttentionMode, pooling: str(v, 'pooling') as Pooling, dropout: num(v, 'dropout'), init };
}

export function glueBudget(b: Budget): GlueBudget {
  return { ...readBudget(b, ['steps', 'batch', 'lr', 'trainLimit', 'devLimit', 'maxLength']), ...readModelIdentity(b) };
}

/** Fine-tune + dev score of one encoder variant on one GLUE task (the budget names the checkpoint). */
export const glueEncoderRun: RunFn = async (job, ctl) => {
  const v = encoderVariant(job.variant);
  const b = glueBudget(job.budget);
  const task = job.task as GlueTaskId;
  const spec = GLUE_TASKS[task];
  if (!spec) throw new ConfigError(`'${job.task}' is not a GLUE task`, undefined, 'task');
  const dir = join(REPO_ROOT, b.model);
  const got = (await modelIdentity(dir)).modelSha;
  if (got !== b.modelSha) throw new ConfigError(`weights hash ${got} differs from the budget's ${b.modelSha} (checkpoint changed?)`, join(dir, 'model.safetensors'), 'modelSha');
  const pretrained = await loadDecoderModel(dir);
  const model = v.init === 'pretrained' ? pretrained : randomLike(pretrained, job.seed);
  if (model !== pretrained) pretrained.dispose();
  const tokenizer = loadTokenizer(dir);
  const encoder = toEncoder(model, {
    attention: v.attention,
    pooling: v.pooling,
    dropout: { rate: v.dropout },
    head: spec.kind === 'regression' ? { kind: 'regression' } : { kind: 'classification', numClasses: spec.labelNames?.length ?? 2 },
    seed: job.seed,
  });
  try {
    // One dev evaluation, at the end; the job's seed drives init, subset and batches. Without a budget
    // `validation` nothing is evaluated before the end, so the final weights are scored (v1 findings).
    const r = await finetuneGlue(task, encoder, glueFinetuneOptions({ ...b, seed: job.seed, evalEvery: b.evalEvery ?? b.steps }, exampleTokenizer(tokenizer, b.maxLength), ctl));
    const best = r.selection.best;
    const metrics = Object.fromEntries(Object.entries(r.dev.metrics).filter((e): e is [string, number] => typeof e[1] === 'number'));
    const last = r.logs.slice(-10);
    return {
      metric: spec.metrics.join('+'),
      value: r.dev.score,
      metrics,
      steps: r.steps,
      extra: {
        trainLossLast10: last.reduce((a, l) => a + l.loss, 0) / Math.max(1, last.length),
        trainExamples: r.trainExamples,
        devExamples: r.dev.examples,
        trainSeconds: r.trainSeconds,
        // What chose the kept weights (and, in the v2 protocol, the learning rate): never dev.
        ...(best ? { validationScore: best.metric, selectedStep: best.step, validationExamples: r.selection.validationExamples } : {}),
      },
    };
  } finally {
    encoder.dispose();
    model.dispose();
  }
};
