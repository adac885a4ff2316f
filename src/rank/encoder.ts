/**
 * Adapters from a Gemma encoder (src/encoder: `toEncoder(model, {attention, pooling, head})`) to the
 * ranking interfaces, and the cross-encoder training objective over MS MARCO triples.
 *
 * The encoder is used only through `logits`/`embed` on padded token batches (GemmaEncoder has both);
 * text becomes ids with the project tokenizer's `encodeBatch` (pairs as `bos query eos passage`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, GemmaLabError } from '../errors.js';
import type { Rng } from '../rng/index.js';
import type { BgeExample, Triple } from '../tasks/msmarco.js';
import { encodeBatch, type Tokenizer } from '../tokenize/index.js';
import type { PaddedBatch } from '../tokenize/batch.js';
import type { Trainable, TrainData } from '../train/trainer.js';
import { multipleNegativesRanking, pointwiseBce, softmaxCrossEntropy } from './losses.js';
import type { EmbedRole, PairScorer, TextEmbedder } from './scorer.js';

export interface RankTextOptions {
  /** Tokens per row at most, special tokens included (longer pairs lose tokens from the longer side). */
  readonly maxLength: number;
  /** Append EOS to every row (default false, as encodeBatch). */
  readonly addEos?: boolean;
}

interface ForwardOpts {
  readonly training?: boolean;
  readonly seed?: number;
}

/** A cross-encoder: [B, 1] relevance logits for a padded batch (GemmaEncoder with a ranking head). */
export interface LogitModel {
  logits(batch: PaddedBatch, opts?: ForwardOpts): tf.Tensor2D;
}

/** A bi-encoder: [B, D] pooled vectors for a padded batch (GemmaEncoder.embed). */
export interface EmbeddingModel {
  embed(batch: PaddedBatch, opts?: ForwardOpts): tf.Tensor2D;
}

/**
 * Rows as the project tokenizes every text pair (`bos query eos passage [eos]`, src/tokenize
 * `encodeBatch`), right-padded, as the encoder's batch type.
 */
export function rankingBatch(tok: Tokenizer, texts: readonly string[] | readonly (readonly [string, string])[], o: RankTextOptions): PaddedBatch {
  if (texts.length === 0) throw new GemmaLabError('ranking batch: no texts');
  return encodeBatch(tok, texts, { maxLength: o.maxLength, addEos: o.addEos ?? false });
}

/** Scores pairs with a cross-encoder in eval mode (no dropout). */
export class EncoderPairScorer implements PairScorer {
  constructor(
    private readonly model: LogitModel,
    private readonly tok: Tokenizer,
    private readonly options: RankTextOptions,
  ) {}

  async scoreBatch(queries: readonly string[], passages: readonly string[]): Promise<Float32Array> {
    if (queries.length !== passages.length) {
      throw new GemmaLabError(`scoreBatch: ${queries.length} queries but ${passages.length} passages`);
    }
    const batch = rankingBatch(this.tok, queries.map((q, i) => [q, passages[i] as string] as const), this.options);
    const out = this.model.logits(batch);
    try {
      if (out.shape[0] !== queries.length || out.shape[1] !== 1) {
        throw new GemmaLabError(`scoreBatch: the model returned logits [${out.shape}], expected [${queries.length}, 1] (a ranking head)`);
      }
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  }
}

export interface EmbedderOptions extends RankTextOptions {
  /** Text prepended to queries / passages before tokenizing (e.g. "query: "). */
  readonly queryPrefix?: string;
  readonly passagePrefix?: string;
  /** Texts per forward pass (default 64): one pass over all of STS-B dev's 1500 sentences needs GiBs of activations. */
  readonly batchSize?: number;
}

/** Embeds texts with a bi-encoder's pooled output in eval mode, batchSize texts per forward pass. */
export class EncoderEmbedder implements TextEmbedder {
  constructor(
    private readonly model: EmbeddingModel,
    private readonly tok: Tokenizer,
    private readonly options: EmbedderOptions,
  ) {}

  async embed(texts: readonly string[], role: EmbedRole): Promise<Float32Array[]> {
    const prefix = (role === 'query' ? this.options.queryPrefix : this.options.passagePrefix) ?? '';
    const size = this.options.batchSize ?? 64;
    if (!(Number.isInteger(size) && size >= 1)) throw new ConfigError(`must be a positive integer, got ${size}`, undefined, 'batchSize');
    const vectors: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += size) {
      const chunk = texts.slice(i, i + size);
      const out = this.model.embed(rankingBatch(this.tok, chunk.map((t) => prefix + t), this.options));
      try {
        const flat = (await out.data()) as Float32Array;
        const D = out.shape[1];
        vectors.push(...chunk.map((_, j) => flat.slice(j * D, (j + 1) * D)));
      } finally {
        out.dispose();
      }
    }
    return vectors;
  }
}

/** Training groups: each query with one positive and N >= 1 negatives. */
export interface RankingBatch {
  readonly queries: readonly string[];
  readonly positives: readonly string[];
  /** negatives[i] holds query i's N negatives (N equal across the batch). */
  readonly negatives: readonly (readonly string[])[];
}

export type RankingLoss = 'pointwise' | 'pairwise';

/**
 * Cross-encoder objective for the trainer (src/train `Trainable`): every (query, passage) row of a
 * batch is scored in one forward pass as logits [B * (1 + N)], viewed as [B, 1 + N] (positive first).
 * - pointwise: BCE with labels 1 for the positive, 0 for each negative (monoBERT);
 * - pairwise: softmax cross-entropy of the positive against its negatives (N = 1: RankNet).
 */
export class CrossEncoderObjective implements Trainable<RankingBatch> {
  constructor(
    private readonly model: LogitModel & { readonly params: ReadonlyMap<string, tf.Variable> },
    private readonly tok: Tokenizer,
    private readonly options: RankTextOptions,
    readonly lossKind: RankingLoss,
  ) {}

  get params(): ReadonlyMap<string, tf.Variable> {
    return this.model.params;
  }

  /** Rows in model order: query i's positive, then its negatives. */
  rows(batch: RankingBatch): PaddedBatch {
    const B = batch.queries.length;
    const N = batch.negatives[0]?.length ?? 0;
    if (B === 0 || batch.positives.length !== B || batch.negatives.length !== B || N === 0 || batch.negatives.some((n) => n.length !== N)) {
      throw new GemmaLabError(`ranking batch: need B >= 1 queries, B positives and B lists of N >= 1 negatives (equal N)`);
    }
    const pairs: [string, string][] = [];
    batch.queries.forEach((q, i) => {
      pairs.push([q, batch.positives[i] as string]);
      for (const neg of batch.negatives[i] as readonly string[]) pairs.push([q, neg]);
    });
    return rankingBatch(this.tok, pairs, this.options);
  }

  loss(batch: RankingBatch, ctx: { readonly seed: number }): tf.Scalar {
    return this.lossOn(batch, { training: true, seed: ctx.seed });
  }

  /** Eval-mode loss (no dropout). */
  evalLoss(batch: RankingBatch): number {
    return tf.tidy(() => this.lossOn(batch, { training: false }).dataSync()[0] as number);
  }

  private lossOn(batch: RankingBatch, opts: ForwardOpts): tf.Scalar {
    return tf.tidy(() => {
      const B = batch.queries.length;
      const group = 1 + (batch.negatives[0]?.length ?? 0);
      const scores = tf.reshape(this.model.logits(this.rows(batch), opts), [B, group]) as tf.Tensor2D;
      if (this.lossKind === 'pairwise') return softmaxCrossEntropy(scores);
      const labels = tf.tensor2d(Array.from({ length: B }, () => Array.from({ length: group }, (_, j) => (j === 0 ? 1 : 0))));
      return pointwiseBce(tf.reshape(scores, [B * group]) as tf.Tensor1D, tf.reshape(labels, [B * group]) as tf.Tensor1D);
    });
  }
}

/** One training group: a query, its positive and N >= 1 negatives. */
export interface RankingGroup {
  readonly query: string;
  readonly positive: string;
  readonly negatives: readonly string[];
}

/** MS MARCO train triples as groups with one negative each. */
export function groupsFromTriples(triples: readonly Triple[]): RankingGroup[] {
  return triples.map((t) => ({ query: t.query, positive: t.positive, negatives: [t.negative] }));
}

/**
 * BGE jsonl examples as groups: the first positive and the first `negatives` mined negatives
 * (examples with fewer are an error, so every batch has the same N).
 */
export function groupsFromBge(examples: readonly BgeExample[], negatives: number): RankingGroup[] {
  return examples.map((e, i) => {
    if (e.neg.length < negatives) throw new GemmaLabError(`BGE example ${i} has ${e.neg.length} negatives, need ${negatives}`);
    return { query: e.query, positive: e.pos[0] as string, negatives: e.neg.slice(0, negatives) };
  });
}

/** Groups as trainer data: reshuffled every epoch by the trainer's rng, `batchSize` groups a batch. */
export function rankingData(groups: readonly RankingGroup[], batchSize: number): TrainData<RankingBatch> {
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new ConfigError(`must be a positive integer, got ${batchSize}`, undefined, 'batchSize');
  if (groups.length === 0) throw new GemmaLabError('rankingData: no training groups');
  return {
    epoch(_epoch: number, rng: Rng): RankingBatch[] {
      const order = rng.shuffle(groups.map((_, i) => i));
      const out: RankingBatch[] = [];
      for (let s = 0; s < order.length; s += batchSize) {
        const gs = order.slice(s, s + batchSize).map((i) => groups[i] as RankingGroup);
        out.push({ queries: gs.map((g) => g.query), positives: gs.map((g) => g.positive), negatives: gs.map((g) => g.negatives) });
      }
      return out;
    },
    size: (b) => b.queries.length,
  };
}

/**
 * Bi-encoder objective for the trainer: queries and passages are embedded by the same encoder
 * (`embed`, pooled [B, D]); the loss is the multiple-negatives ranking loss over the batch's positives
 * (in-batch negatives) and every group's hard negatives, at `temperature`.
 */
export class BiEncoderObjective implements Trainable<RankingBatch> {
  /** The model's parameters minus a task head's `score.*` (unused by `embed`, so it gets no gradient). */
  readonly params: ReadonlyMap<string, tf.Variable>;

  constructor(
    private readonly model: EmbeddingModel & { readonly params: ReadonlyMap<string, tf.Variable> },
    private readonly tok: Tokenizer,
    private readonly options: EmbedderOptions,
    readonly temperature = 0.05,
  ) {
    this.params = new Map([...model.params].filter(([n]) => !n.startsWith('score.')));
  }

  loss(batch: RankingBatch, ctx: { readonly seed: number }): tf.Scalar {
    return tf.tidy(() => {
      const qp = this.options.queryPrefix ?? '';
      const pp = this.options.passagePrefix ?? '';
      const q = this.model.embed(rankingBatch(this.tok, batch.queries.map((t) => qp + t), this.options), { training: true, seed: ctx.seed });
      const docs = [...batch.positives, ...batch.negatives.flat()].map((t) => pp + t);
      const d = this.model.embed(rankingBatch(this.tok, docs, this.options), { training: true, seed: ctx.seed + 1 });
      return multipleNegativesRanking(q, d, this.temperature);
    });
  }
}
