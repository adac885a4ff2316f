/**
 * The ranking / embedding findings (issue 16 (f)-(h), after the EmbeddingGemma paper's ablations), as one
 * run function for the sweep runner. A variant is
 *   { model: 'bi' | 'cross', init: 'encoder_decoder' | 'decoder' | 'random', pooling, attention }:
 * - init: the encoder of the encoder-decoder adapted from the checkpoint (T5Gemma 2 recipe, UL2), or the
 *   decoder continued with causal LM on the same adaptation tokens (equal compute), or random weights in
 *   the checkpoint's architecture;
 * - bi: a bi-encoder trained with the multiple-negatives ranking loss (in-batch + hard negatives) on the
 *   MS MARCO triples, scored by dense retrieval over the TREC DL 2019 and 2020 pooled candidates
 *   (nDCG@10) and by cosine similarity on STS-B dev (Spearman); headline: the mean of the three;
 * - cross: a cross-encoder reranker (pairwise softmax loss) re-scoring TREC DL's BM25 top-100; headline:
 *   the mean nDCG@10 of 2019 and 2020.
 * `validation` groups carved from the triples (seeded) choose the kept step and, under the v2 protocol,
 * the learning rate: the fraction of them whose positive outranks their negative. TREC DL and STS-B dev
 * are scored once, at the end.
 */
import { join } from 'node:path';
import { toEncoder, type GemmaEncoder } from '../encoder/encoder.js';
import { glueFile } from '../encoder/glue.js';
import { ConfigError } from '../errors.js';
import { spearman } from '../eval/metrics.js';
import { readBudgetNumber, readModelIdentity } from '../experiments/budget.js';
import type { Budget, Variant } from '../experiments/grid.js';
import { modelIdentity } from '../experiments/glue.js';
import type { RunFn } from '../experiments/runner.js';
import { adaptedArm, type Adapted } from '../experiments/superglue.js';
import { REPO_ROOT } from '../io/paths.js';
import { GemmaModel } from '../models/gemma.js';
import { loadDecoderModel, randomLike } from '../models/load.js';
import type { AttentionMode } from '../nn/masks.js';
import type { Pooling } from '../nn/pooling.js';
import type { RunControl } from '../progress/index.js';
import { BiEncoderObjective, CrossEncoderObjective, EncoderEmbedder, EncoderPairScorer, rankingData, type RankingGroup } from '../rank/encoder.js';
import type { TrecDlYear } from '../rank/trecdl.js';
import { Rng } from '../rng/index.js';
import { loadGlue } from '../tasks/glue.js';
import { loadTokenizer, type Tokenizer } from '../tokenize/index.js';
import { train } from '../train/trainer.js';
import { DEFAULT_TRIPLES, loadRankingGroups, rerankScores, retrieveScores } from './ranking.js';

export interface RankVariant {
  readonly model: 'bi' | 'cross';
  readonly init: 'encoder_decoder' | 'decoder' | 'random';
  readonly pooling: Pooling;
  readonly attention: AttentionMode;
}

export function rankVariant(v: Variant): RankVariant {
  const pick = <T extends string>(k: string, allowed: readonly T[]): T => {
    const x = v[k];
    if (typeof x !== 'string' || !(allowed as readonly string[]).includes(x)) throw new ConfigError(`must be one of ${allowed.join(', ')}, got ${JSON.stringify(x)}`, undefined, k);
    return x as T;
  };
  return {
    model: pick('model', ['bi', 'cross'] as const),
    init: pick('init', ['encoder_decoder', 'decoder', 'random'] as const),
    pooling: pick('pooling', ['mean', 'first', 'last', 'attention'] as const),
    attention: pick('attention', ['bidirectional_global', 'bidirectional_sliding', 'causal'] as const),
  };
}

/** The budget of a ranking run: adaptation (for the adapted inits), training, evaluation sizes. */
export interface RankBudget {
  readonly adaptSteps: number;
  readonly adaptBatch: number;
  readonly adaptSeqLen: number;
  readonly adaptLr: number;
  readonly steps: number;
  readonly batch: number;
  readonly lr: number;
  readonly maxLength: number;
  /** Training groups carved off for selection (0: none; final weights kept). */
  readonly validation: number;
  readonly evalEvery: number;
  /** MNRL temperature (bi-encoder). */
  readonly temperature: number;
  /** First N TREC DL queries per year (0: all) and first N STS-B dev pairs (0: all). */
  readonly queries: number;
  readonly stsLimit: number;
  readonly model: string;
  readonly modelSha: string;
}

const RANK_FIELDS = ['adaptSteps', 'adaptBatch', 'adaptSeqLen', 'adaptLr', 'steps', 'batch', 'lr', 'maxLength', 'validation', 'evalEvery', 'temperature', 'queries', 'stsLimit'] as const;

export function rankBudget(b: Budget): RankBudget {
  const out = Object.fromEntries(RANK_FIELDS.map((k) => [k, readBudgetNumber(b, k)])) as Record<(typeof RANK_FIELDS)[number], number>;
  for (const k of ['steps', 'batch', 'maxLength', 'evalEvery'] as const) if (!(Number.isInteger(out[k]) && out[k] >= 1)) throw new ConfigError(`must be a positive integer, got ${out[k]}`, undefined, k);
  if (!(out.lr > 0) || !(out.temperature > 0)) throw new ConfigError('lr and temperature must be > 0', undefined, out.lr > 0 ? 'temperature' : 'lr');
  return { ...out, ...readModelIdentity(b) };
}

/** The backbone an init names (caller disposes it). */
async function backbone(v: RankVariant, b: RankBudget, tok: Tokenizer, seed: number, ctl: RunControl): Promise<Adapted['model']> {
  const dir = join(REPO_ROOT, b.model);
  if (v.init === 'random') {
    const pretrained = await loadDecoderModel(dir);
    const fresh = randomLike(pretrained, seed);
    pretrained.dispose();
    return fresh;
  }
  const arm = v.init === 'encoder_decoder' ? { arch: 'encoder_decoder', objective: 'ul2' } : { arch: 'decoder_only', objective: 'causal_lm' };
  return (await adaptedArm(arm, b, tok, ctl)).model;
}

/** Pairwise accuracy on held-out groups: how often the positive outranks every negative. */
async function groupAccuracy(groups: readonly RankingGroup[], score: (q: string, passages: readonly string[]) => Promise<number[]>): Promise<number> {
  let right = 0;
  for (const g of groups) {
    const s = await score(g.query, [g.positive, ...g.negatives]);
    if (s.slice(1).every((x) => (s[0] as number) > x)) right += 1;
  }
  return right / groups.length;
}

const cosine = (a: Float32Array, b: Float32Array): number => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i] as number) * (b[i] as number);
    aa += (a[i] as number) ** 2;
    bb += (b[i] as number) ** 2;
  }
  return ab / Math.sqrt(aa * bb || 1);
};

/** STS-B dev Spearman of cosine similarities (the first `limit` pairs; 0 = all). */
export async function stsbSpearman(embedder: EncoderEmbedder, limit: number): Promise<number> {
  const rows = (await loadGlue('stsb', glueFile('stsb', 'dev'))).examples.slice(0, limit > 0 ? limit : undefined);
  const a = await embedder.embed(rows.map((r) => r.texts[0]), 'query');
  const b = await embedder.embed(rows.map((r) => r.texts[1] ?? ''), 'query');
  return spearman(rows.map((_, i) => cosine(a[i] as Float32Array, b[i] as Float32Array)), rows.map((r) => r.label as number));
}

/** One ranking-finding run: init, train on the triples, score on TREC DL (+ STS-B for bi-encoders). */
export const rankFindingRun: RunFn = async (job, ctl) => {
  const v = rankVariant(job.variant);
  const b = rankBudget(job.budget);
  const task = v.model === 'bi' ? 'embed' : 'rerank';
  if (job.task !== task) throw new ConfigError(`a ${v.model}-encoder variant runs task '${task}', got '${job.task}'`, undefined, 'task');
  const dir = join(REPO_ROOT, b.model);
  const got = (await modelIdentity(dir)).modelSha;
  if (got !== b.modelSha) throw new ConfigError(`weights hash ${got} differs from the budget's ${b.modelSha}`, join(dir, 'model.safetensors'), 'modelSha');
  const tok = loadTokenizer(dir);
  const groups = new Rng(`${job.seed}/triples`).shuffle(await loadRankingGroups(DEFAULT_TRIPLES));
  const validation = groups.slice(0, b.validation);
  const trainGroups = groups.slice(b.validation);
  if (trainGroups.length < b.batch) throw new ConfigError(`${trainGroups.length} training groups after ${b.validation} for validation; batch is ${b.batch}`, DEFAULT_TRIPLES, 'batch');

  const model = await backbone(v, b, tok, job.seed, ctl);
  let encoder: GemmaEncoder | undefined;
  try {
    encoder = toEncoder(model, { ...(model instanceof GemmaModel ? { attention: v.attention } : {}), pooling: v.pooling, dropout: { rate: 0 }, head: { kind: 'ranking', loss: 'pairwise' }, seed: job.seed });
    const enc = encoder;
    const text = { maxLength: b.maxLength };
    const embedder = new EncoderEmbedder(enc, tok, text);
    const pairScorer = new EncoderPairScorer(enc, tok, text);
    const objective = v.model === 'cross' ? new CrossEncoderObjective(enc, tok, text, 'pairwise') : new BiEncoderObjective(enc, tok, text, b.temperature);
    const score = async (q: string, passages: readonly string[]): Promise<number[]> => {
      if (v.model === 'cross') return [...(await pairScorer.scoreBatch(passages.map(() => q), passages))];
      const [qv, ...pv] = await embedder.embed([q, ...passages], 'query');
      return pv.map((p) => cosine(qv as Float32Array, p));
    };
    const run = await train(objective, rankingData(trainGroups, b.batch), {
      seed: job.seed,
      maxSteps: b.steps,
      schedule: { lr: b.lr, decay: 'linear', warmupSteps: Math.round(0.06 * b.steps) },
      ...(validation.length > 0 ? { evaluate: { every: b.evalEvery, name: 'triples validation', mode: 'max' as const, run: () => groupAccuracy(validation, score) } } : {}),
      ...(ctl.signal ? { signal: ctl.signal } : {}),
      ...(ctl.onProgress ? { onProgress: ctl.onProgress } : {}),
    });
    const evalOpts = { tokenizer: tok, maxLength: b.maxLength, ...(b.queries > 0 ? { queries: b.queries } : {}), ...(ctl.signal ? { signal: ctl.signal } : {}) };
    const metrics: Record<string, number> = {};
    for (const year of [2019, 2020] as TrecDlYear[]) {
      const s = v.model === 'cross' ? await rerankScores(enc, year, evalOpts) : await retrieveScores(enc, year, evalOpts);
      metrics[`ndcg10_dl${year % 100}`] = s.model.ndcg10;
      metrics[`bm25_ndcg10_dl${year % 100}`] = s.bm25.ndcg10;
    }
    const parts = [metrics.ndcg10_dl19 as number, metrics.ndcg10_dl20 as number];
    if (v.model === 'bi') {
      metrics.stsb_spearman = await stsbSpearman(embedder, b.stsLimit);
      parts.push(metrics.stsb_spearman);
    }
    const value = parts.reduce((x, y) => x + y, 0) / parts.length;
    return {
      metric: v.model === 'bi' ? 'mean(nDCG@10 DL19, DL20, STS-B Spearman)' : 'mean(nDCG@10 DL19, DL20)',
      value,
      metrics: { ...metrics, score: value },
      steps: run.steps,
      extra: {
        lastTrainLoss: run.logs.at(-1)?.loss ?? NaN,
        trainGroups: trainGroups.length,
        ...(run.best && validation.length > 0 ? { validationScore: run.best.metric, selectedStep: run.best.step, validationExamples: validation.length } : {}),
      },
    };
  } finally {
    encoder?.dispose();
    (model as { dispose(): void }).dispose();
  }
};
