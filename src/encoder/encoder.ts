/**
 * Gemma Encoder (arXiv 2503.02656) over any backbone (./backbone.ts): token states from the backbone,
 * then the one head module (./head.ts): pooling, dropout where configured, a task head and its loss.
 * `toEncoder` builds it from a Gemma decoder (run with the chosen attention mode), a T5Gemma model
 * (its encoder) or any EncoderBackbone; `params` is everything the trainer updates.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { tidy } from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';
import { GemmaModel } from '../models/gemma.js';
import { Gemma4Model } from '../models/gemma4.js';
import { T5GemmaModel } from '../models/t5gemma.js';
import type { AttentionMode } from '../nn/masks.js';
import type { Pooling } from '../nn/pooling.js';
import { Rng } from '../rng/index.js';
import type { Labelled, PaddedBatch } from '../tokenize/batch.js';
import { gemmaBackbone, t5gemmaEncoderBackbone, type BackboneDropout, type EncoderBackbone } from './backbone.js';
import { EncoderHead, type HeadSpec } from './head.js';

export interface DropoutPlacement {
  readonly embedding?: boolean;
  readonly attention?: boolean;
  readonly residual?: boolean;
  /** On the pooled vector, before the head. */
  readonly head?: boolean;
}

export interface EncoderOptions {
  /** How a Gemma decoder attends (required for one; a T5Gemma encoder is always 'bidirectional_sliding'). */
  readonly attention?: AttentionMode;
  readonly pooling: Pooling;
  /** Heads of attention pooling (default 4, as in EmbeddingGemma). */
  readonly attentionPoolingHeads?: number;
  /** Dropout rate and where it applies in training (default placement: attention, residual, head). */
  readonly dropout?: { readonly rate: number; readonly placement?: DropoutPlacement };
  readonly head: HeadSpec;
  /** Learn `score.bias` (default true); false is HF's bias-free `score` layout (./head.ts). */
  readonly bias?: boolean;
  /** Seed for the new pooling/head weights. */
  readonly seed?: number;
  /** Fine-tune the backbone too (default); false trains only pooling + head. */
  readonly trainBackbone?: boolean;
}

export interface Prediction {
  /** [B, n] raw head outputs (class logits, or one score). */
  readonly logits: number[][];
  /** Classification: argmax class per row; otherwise the scalar output per row. */
  readonly values: number[];
}

export interface RunOpts {
  readonly training?: boolean;
  readonly seed?: number;
}

export class GemmaEncoder {
  readonly head: EncoderHead;
  /** Everything trained: backbone (unless frozen) + pooling + head. */
  readonly params: Map<string, tf.Variable>;
  private readonly backboneDropout: BackboneDropout;

  constructor(
    readonly backbone: EncoderBackbone,
    readonly options: EncoderOptions,
  ) {
    const rate = options.dropout?.rate ?? 0;
    if (!(rate >= 0 && rate < 1)) throw new ConfigError(`must be in [0, 1), got ${rate}`, undefined, 'dropout.rate');
    const place = options.dropout?.placement ?? { attention: true, residual: true, head: true };
    // Explicit zeros: an unplaced site must not fall back to the checkpoint's own attention_dropout.
    this.backboneDropout = {
      embedding: place.embedding ? rate : 0,
      attention: place.attention ? rate : 0,
      residual: place.residual ? rate : 0,
    };
    this.head = new EncoderHead(backbone.hiddenSize, {
      pooling: options.pooling,
      ...(options.attentionPoolingHeads !== undefined ? { attentionPoolingHeads: options.attentionPoolingHeads } : {}),
      head: options.head,
      ...(options.bias !== undefined ? { bias: options.bias } : {}),
      dropout: place.head ? rate : 0,
      seed: options.seed ?? 0,
      initializerRange: backbone.initializerRange,
    });
    this.params = new Map([...(options.trainBackbone === false ? [] : backbone.params), ...this.head.params]);
  }

  /** Pooling + head parameters (what saveHead writes). */
  get headParams(): Map<string, tf.Variable> {
    return this.head.params;
  }

  /** Pooled representation [B, D]; dropout only when `training` (seeded). */
  embed(batch: PaddedBatch, opts: RunOpts = {}): tf.Tensor2D {
    return tidy(() => {
      const training = opts.training ?? false;
      const seeds = new Rng(opts.seed ?? 0);
      const { hiddenStates, mask } = this.backbone.forward(batch, training ? { training, dropout: this.backboneDropout, seed: seeds.seed() } : {});
      return this.head.pool(hiddenStates, mask, training ? { training, seed: seeds.seed() } : {});
    });
  }

  /** Head outputs [B, n]. */
  logits(batch: PaddedBatch, opts: RunOpts = {}): tf.Tensor2D {
    return tidy(() => this.head.project(this.embed(batch, opts)));
  }

  /** Mean training loss over the batch (dropout on, seeded): the trainer's loss closure. */
  loss(batch: Labelled, ctx: { readonly seed: number }): tf.Scalar {
    return tidy(() => this.head.loss(this.logits(batch, { training: true, seed: ctx.seed }), batch.labels));
  }

  /** Eval-mode loss (no dropout). */
  evalLoss(batch: Labelled): number {
    return tidy(() => this.head.loss(this.logits(batch), batch.labels).dataSync()[0] as number);
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
    await this.head.save(path);
  }

  /** Loads pooling + head weights written by saveHead (or an HF classification head); names and shapes must match. */
  async loadHead(path: string): Promise<void> {
    await this.head.load(path);
  }

  /** Frees the pooling/head variables (the backbone belongs to its creator). */
  dispose(): void {
    this.head.dispose();
  }
}

/** An encoder on a Gemma decoder (`options.attention` required), a T5Gemma model's encoder, or any backbone. */
export function toEncoder(source: GemmaModel | Gemma4Model | T5GemmaModel | EncoderBackbone, options: EncoderOptions): GemmaEncoder {
  if (source instanceof GemmaModel || source instanceof Gemma4Model) {
    if (options.attention === undefined) throw new ConfigError('a Gemma decoder needs an attention mode', undefined, 'attention');
    return new GemmaEncoder(gemmaBackbone(source, options.attention), options);
  }
  if (source instanceof T5GemmaModel) {
    if (options.attention !== undefined && options.attention !== 'bidirectional_sliding') {
      throw new ConfigError(`the T5Gemma encoder attends 'bidirectional_sliding', not '${options.attention}'`, undefined, 'attention');
    }
    return new GemmaEncoder(t5gemmaEncoderBackbone(source), options);
  }
  return new GemmaEncoder(source, options);
}

function argmax(row: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if ((row[i] as number) > (row[best] as number)) best = i;
  return best;
}
