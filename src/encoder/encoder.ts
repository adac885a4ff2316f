/**
 * Gemma Encoder (arXiv 2503.02656): a decoder backbone run with a chosen attention mask, a pooling over
 * its final token states, dropout where configured, and a task head. `toEncoder` adds the pooling and
 * head parameters (seeded init); `params` is everything the trainer updates (backbone + pooler + head).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';
import { variableFrom } from '../models/strict.js';
import { linear } from '../nn/linear.js';
import { Rng } from '../rng/index.js';
import { loadTensorsFile, saveTensors } from '../train/checkpoint.js';
import type { PaddedBatch } from '../train/batching.js';
import { headLoss, headOutputs, type HeadSpec } from './heads.js';
import { poolTokens, ENCODER_POOLINGS, type AttentionPoolWeights, type EncoderPooling } from './pooling.js';

export type EncoderAttention = 'causal' | 'bidirectional_global' | 'bidirectional_sliding';

export interface BackboneDropout {
  readonly embedding?: number;
  readonly attention?: number;
  readonly residual?: number;
}

/** What the encoder needs from a Gemma model (GemmaModel satisfies it). */
export interface EncoderBackbone {
  readonly config: { readonly hiddenSize: number; readonly initializerRange?: number };
  readonly params: Map<string, tf.Variable>;
  forward(
    ids: tf.Tensor2D,
    opts: {
      attentionMask: tf.Tensor2D;
      mode: EncoderAttention;
      training?: boolean;
      dropout?: BackboneDropout;
      seed?: number;
    },
  ): { hiddenStates: tf.Tensor3D; logits?: tf.Tensor };
}

export interface DropoutPlacement {
  readonly embedding?: boolean;
  readonly attention?: boolean;
  readonly residual?: boolean;
  /** On the pooled vector, before the head. */
  readonly head?: boolean;
}

export interface EncoderOptions {
  readonly attention: EncoderAttention;
  readonly pooling: EncoderPooling;
  /** Heads of attention pooling (default 4, as in EmbeddingGemma). */
  readonly attentionPoolingHeads?: number;
  /** Dropout rate and where it applies in training (default placement: attention, residual, head). */
  readonly dropout?: { readonly rate: number; readonly placement?: DropoutPlacement };
  readonly head: HeadSpec;
  /** Seed for the new pooling/head weights. */
  readonly seed?: number;
  /** Fine-tune the backbone too (default); false trains only pooling + head. */
  readonly trainBackbone?: boolean;
}

/** A padded batch with one label per row (class id, score, or relevance). */
export interface EncoderBatch extends PaddedBatch {
  readonly labels: readonly number[];
}

export interface Prediction {
  /** [B, n] raw head outputs (class logits, or one score). */
  readonly logits: number[][];
  /** Classification: argmax class per row; otherwise the scalar output per row. */
  readonly values: number[];
}

const ATTENTIONS: readonly EncoderAttention[] = ['causal', 'bidirectional_global', 'bidirectional_sliding'];

export class GemmaEncoder {
  /** Pooling + head parameters (what saveHead writes). */
  readonly headParams: Map<string, tf.Variable>;
  /** Everything trained: backbone (unless frozen) + pooling + head. */
  readonly params: Map<string, tf.Variable>;
  private readonly backboneDropout: BackboneDropout;
  private readonly headDropout: number;

  constructor(
    readonly backbone: EncoderBackbone,
    readonly options: EncoderOptions,
  ) {
    if (!ATTENTIONS.includes(options.attention)) {
      throw new ConfigError(`'${options.attention}' is not one of ${ATTENTIONS.join(', ')}`, undefined, 'attention');
    }
    if (!ENCODER_POOLINGS.includes(options.pooling)) {
      throw new ConfigError(`'${options.pooling}' is not one of ${ENCODER_POOLINGS.join(', ')}`, undefined, 'pooling');
    }
    const rate = options.dropout?.rate ?? 0;
    if (!(rate >= 0 && rate < 1)) throw new ConfigError(`must be in [0, 1), got ${rate}`, undefined, 'dropout.rate');
    const place = options.dropout?.placement ?? { attention: true, residual: true, head: true };
    // Explicit zeros: an unplaced site must not fall back to the checkpoint's own attention_dropout.
    this.backboneDropout = {
      embedding: place.embedding ? rate : 0,
      attention: place.attention ? rate : 0,
      residual: place.residual ? rate : 0,
    };
    this.headDropout = place.head ? rate : 0;

    const D = backbone.config.hiddenSize;
    const std = backbone.config.initializerRange ?? 0.02;
    const rng = new Rng(options.seed ?? 0);
    const normal = (shape: number[]) =>
      variableFrom(tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => std * rng.normal()), shape));
    this.headParams = new Map();
    if (options.pooling === 'attention') {
      const H = options.attentionPoolingHeads ?? 4;
      if (!(Number.isInteger(H) && H >= 1 && D % H === 0)) {
        throw new ConfigError(`must divide the hidden size ${D}, got ${H}`, undefined, 'attentionPoolingHeads');
      }
      this.headParams.set('pooler.query', normal([D]));
      this.headParams.set('pooler.k_proj.weight', normal([D, D]));
      this.headParams.set('pooler.v_proj.weight', normal([D, D]));
    }
    const n = headOutputs(options.head);
    this.headParams.set('score.weight', normal([n, D]));
    this.headParams.set('score.bias', variableFrom(tf.zeros([n])));
    this.params = new Map([...(options.trainBackbone === false ? [] : backbone.params), ...this.headParams]);
  }

  /** Pooled representation [B, D]; dropout only when `training` (seeded). */
  embed(batch: PaddedBatch, opts: { training?: boolean; seed?: number } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const { ids, mask } = toTensors(batch);
      const training = opts.training ?? false;
      const seeds = new Rng(opts.seed ?? 0);
      const { hiddenStates } = this.backbone.forward(ids, {
        attentionMask: mask,
        mode: this.options.attention,
        training,
        ...(training ? { dropout: this.backboneDropout, seed: seeds.seed() } : {}),
      });
      let pooled = poolTokens(hiddenStates, mask, this.options.pooling, this.attentionPooling());
      if (training && this.headDropout > 0) pooled = tf.dropout(pooled, this.headDropout, undefined, seeds.seed()) as tf.Tensor2D;
      return pooled;
    });
  }

  private attentionPooling(): { weights: AttentionPoolWeights; heads: number } | undefined {
    if (this.options.pooling !== 'attention') return undefined;
    const p = (name: string) => this.headParams.get(name) as tf.Variable;
    return {
      weights: {
        'pooler.query': p('pooler.query') as tf.Tensor as tf.Tensor1D,
        'pooler.k_proj.weight': p('pooler.k_proj.weight') as tf.Tensor as tf.Tensor2D,
        'pooler.v_proj.weight': p('pooler.v_proj.weight') as tf.Tensor as tf.Tensor2D,
      },
      heads: this.options.attentionPoolingHeads ?? 4,
    };
  }

  /** Head outputs [B, n]. */
  logits(batch: PaddedBatch, opts: { training?: boolean; seed?: number } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const pooled = this.embed(batch, opts);
      const w = this.headParams.get('score.weight') as tf.Tensor as tf.Tensor2D; // [n, D]
      const b = this.headParams.get('score.bias') as tf.Tensor as tf.Tensor1D; // [n]
      return tf.add(linear(pooled, w), b) as tf.Tensor2D;
    });
  }

  /** Mean training loss over the batch (dropout on, seeded): the trainer's loss closure. */
  loss(batch: EncoderBatch, ctx: { readonly seed: number }): tf.Scalar {
    return tf.tidy(() => headLoss(this.options.head, this.logits(batch, { training: true, seed: ctx.seed }), batch.labels));
  }

  /** Eval-mode loss (no dropout). */
  evalLoss(batch: EncoderBatch): number {
    return tf.tidy(() => headLoss(this.options.head, this.logits(batch), batch.labels).dataSync()[0] as number);
  }

  /** Eval-mode predictions (no dropout, deterministic). */
  predict(batch: PaddedBatch): Prediction {
    const out = this.logits(batch);
    const logits = out.arraySync();
    out.dispose();
    const values = this.options.head.kind === 'classification' ? logits.map(argmax) : logits.map((r) => r[0] as number);
    return { logits, values };
  }

  /** Writes pooling + head weights (safetensors, atomically). */
  async saveHead(path: string): Promise<void> {
    await saveTensors(path, this.headParams);
  }

  /** Loads pooling + head weights written by saveHead; names and shapes must match. */
  async loadHead(path: string): Promise<void> {
    const got = await loadTensorsFile(path);
    for (const [name, v] of this.headParams) {
      const t = got.get(name);
      if (!t) throw new ConfigError(`missing tensor '${name}'`, path);
      if (t.shape.join(',') !== v.shape.join(',')) throw new ConfigError(`'${name}' has shape [${t.shape}], encoder has [${v.shape}]`, path);
      v.assign(tf.tensor(t.data, t.shape, 'float32'));
    }
  }

  /** Frees the pooling/head variables (the backbone belongs to its creator). */
  dispose(): void {
    for (const v of this.headParams.values()) v.dispose();
  }
}

export function toEncoder(model: EncoderBackbone, options: EncoderOptions): GemmaEncoder {
  return new GemmaEncoder(model, options);
}

function toTensors(b: PaddedBatch): { ids: tf.Tensor2D; mask: tf.Tensor2D } {
  return { ids: tf.tensor2d(b.ids, [b.batch, b.length], 'int32'), mask: tf.tensor2d(b.mask, [b.batch, b.length], 'int32') };
}

function argmax(row: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if ((row[i] as number) > (row[best] as number)) best = i;
  return best;
}
