/**
 * What an encoder is built on: any stack that turns a padded token batch into token states. Families
 * plug in here (a Gemma decoder run with a chosen attention mode, the T5Gemma encoder; later
 * T5Gemma 2 / Gemma 4), and the one head module (./head.ts) sits on top of every one of them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';
import type { GemmaModel } from '../models/gemma.js';
import type { T5GemmaModel } from '../models/t5gemma.js';
import { ATTENTION_MODES, type AttentionMode } from '../nn/masks.js';
import type { PaddedBatch } from '../tokenize/batch.js';

/** Dropout rates at a decoder's sites; a backbone without such sites uses its own config's rates. */
export interface BackboneDropout {
  readonly embedding?: number;
  readonly attention?: number;
  readonly residual?: number;
}

export interface BackboneRun {
  /** Dropout on (default false). */
  readonly training?: boolean;
  readonly dropout?: BackboneDropout;
  /** Seed of this call's dropout masks. */
  readonly seed?: number;
}

export interface EncoderBackbone {
  /** D of the returned states. */
  readonly hiddenSize: number;
  /** Std a new head on this backbone is initialised with (the checkpoint's initializer_range). */
  readonly initializerRange: number;
  /** The parameters fine-tuning updates (HF names). */
  readonly params: ReadonlyMap<string, tf.Variable>;
  /** batch [B, T] -> token states [B, T, D] and the mask [B, T] they are valid under (caller disposes). */
  forward(batch: PaddedBatch, run?: BackboneRun): { hiddenStates: tf.Tensor3D; mask: tf.Tensor2D };
  /** Frees the underlying model. */
  dispose(): void;
}

const batchTensors = (b: PaddedBatch) => ({
  ids: tf.tensor2d(b.ids, [b.batch, b.length], 'int32'),
  mask: tf.tensor2d(b.mask, [b.batch, b.length], 'int32'),
});

/** What a decoder-only Gemma of any generation (GemmaModel, Gemma4Model) offers a backbone. */
export type DecoderStack = Pick<GemmaModel, 'forward' | 'params' | 'dispose'> & {
  readonly config: { readonly hiddenSize: number; readonly initializerRange: number };
};

/** A Gemma decoder run with `attention` (bidirectional modes make it an encoder, Gemma Encoder §3). */
export function gemmaBackbone(model: DecoderStack, attention: AttentionMode): EncoderBackbone {
  if (!ATTENTION_MODES.includes(attention)) {
    throw new ConfigError(`'${attention}' is not one of ${ATTENTION_MODES.join(', ')}`, undefined, 'attention');
  }
  return {
    hiddenSize: model.config.hiddenSize,
    initializerRange: model.config.initializerRange,
    params: model.params,
    forward(batch, run = {}) {
      const { ids, mask } = batchTensors(batch);
      const training = run.training ?? false;
      const { hiddenStates } = model.forward(ids, {
        attentionMask: mask,
        attention,
        logits: false,
        training,
        ...(training && run.dropout ? { dropout: run.dropout } : {}),
        ...(run.seed !== undefined ? { seed: run.seed } : {}),
      });
      ids.dispose();
      return { hiddenStates, mask };
    },
    dispose: () => model.dispose(),
  };
}

/** The T5Gemma encoder (bidirectional, its own sliding rule); dropout at the config's rates when training. */
export function t5gemmaEncoderBackbone(model: T5GemmaModel): EncoderBackbone {
  return {
    hiddenSize: model.config.encoder.hiddenSize,
    initializerRange: model.config.initializerRange,
    params: new Map([...model.params].filter(([n]) => n.startsWith('model.encoder.'))),
    forward(batch, run = {}) {
      const { ids, mask } = batchTensors(batch);
      const hiddenStates = model.encode(ids, mask, { training: run.training ?? false, ...(run.seed !== undefined ? { seed: run.seed } : {}) });
      ids.dispose();
      return { hiddenStates, mask };
    },
    dispose: () => model.dispose(),
  };
}
