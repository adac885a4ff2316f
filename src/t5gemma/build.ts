/**
 * `toEncoderDecoder`: a T5Gemma model from decoder-only Gemma 2 checkpoints (T5Gemma paper §3.2,
 * models.md §4.2).
 *
 * - Encoder: the encoder source's weights, unchanged (it runs bidirectional_sliding in T5Gemma).
 * - Decoder: the decoder source's (default: the same model) self-attention, MLP, norms, embedding.
 * - Cross-attention, per decoder layer:
 *   'copy'   (balanced): q/k/v/o copied from that layer's self-attention, and pre/post cross norms
 *            from its input/post-attention norms (the paper says "from self-attention weights";
 *            the norms are our reading, as in models.md §4.2);
 *   'random' (unbalanced, e.g. 9B encoder + 2B decoder): q/o ~ N(0, initializer_range), k/v
 *            [G*K, D_enc] likewise, norm offsets 0; train it alone first (`crossAttentionParams` +
 *            the warm-up in pretrain.ts).
 *   Default: 'copy' when encoder and decoder widths match, else 'random'.
 * Only Gemma 2 sources map 1:1 onto T5Gemma's Gemma 2-style blocks (Gemma 1 lacks the sandwich
 * norms, Gemma 3 adds q/k norms), so other families are refused.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GemmaConfig } from '../config/gemma.js';
import type { T5GemmaConfig, T5GemmaModuleConfig } from '../config/t5gemma.js';
import { ConfigError } from '../errors.js';
import type { GemmaModel } from '../models/gemma.js';
import { loadGemmaModel } from '../models/load.js';
import { variableFrom } from '../models/strict.js';
import { randomHostParams } from '../models/init.js';
import { T5GemmaModel, isCrossAttentionParam, t5gemmaParameterShapes } from '../models/t5gemma.js';

export type CrossAttentionInit = 'copy' | 'random';

export interface ToEncoderDecoderOptions {
  readonly crossAttentionInit?: CrossAttentionInit;
  /** Seed of the random cross-attention init. */
  readonly seed?: number;
  /** T5Gemma dropout rates (the released configs use 0). */
  readonly dropoutRate?: number;
  readonly attentionDropout?: number;
  readonly classifierDropoutRate?: number;
}

function moduleFrom(g: GemmaConfig, dropoutRate: number): T5GemmaModuleConfig {
  if (g.modelType !== 'gemma2') {
    throw new ConfigError(`only Gemma 2 checkpoints map onto T5Gemma blocks, got model_type '${g.modelType}'`, g.sourcePath, 'model_type');
  }
  const { modelType: _m, tieWordEmbeddings: _t, useBidirectionalAttention: _u, dtype: _d, sourcePath: _s, ...stack } = g;
  return { ...stack, dropoutRate };
}

/** The T5Gemma config of an encoder-decoder built from two Gemma 2 configs. */
export function t5gemmaConfigFrom(enc: GemmaConfig, dec: GemmaConfig, o: ToEncoderDecoderOptions = {}): T5GemmaConfig {
  if (enc.vocabSize !== dec.vocabSize)
    throw new ConfigError(`encoder and decoder vocabularies differ (${enc.vocabSize} vs ${dec.vocabSize})`, dec.sourcePath, 'vocab_size');
  const dropoutRate = o.dropoutRate ?? 0;
  const attentionDropout = o.attentionDropout ?? 0;
  const encoder = { ...moduleFrom(enc, dropoutRate), attentionDropout };
  const decoder = { ...moduleFrom(dec, dropoutRate), attentionDropout, crossAttentionHiddenSize: enc.hiddenSize };
  return Object.freeze({
    modelType: 't5gemma',
    encoder: Object.freeze(encoder),
    decoder: Object.freeze(decoder),
    vocabSize: enc.vocabSize,
    isEncoderDecoder: true,
    dropoutRate,
    attentionDropout,
    classifierDropoutRate: o.classifierDropoutRate ?? 0,
    tieWordEmbeddings: true,
    padTokenId: dec.padTokenId,
    bosTokenId: dec.bosTokenId,
    eosTokenId: dec.eosTokenId,
    initializerRange: dec.initializerRange,
    dtype: 'float32',
    sourcePath: `toEncoderDecoder(${enc.sourcePath}, ${dec.sourcePath})`,
  });
}

/** T5Gemma name -> Gemma 2 name it copies from (within one side). */
function sourceName(t5Name: string, init: CrossAttentionInit): string | null {
  const m = /^model\.(encoder|decoder)\.(.*)$/.exec(t5Name);
  if (!m) return null;
  const rest = m[2] as string;
  const layer = /^layers\.(\d+)\.(.*)$/.exec(rest);
  if (!layer) return `model.${rest}`; // embed_tokens, norm
  const [, i, part] = layer as unknown as [string, string, string];
  const renames: Record<string, string> = {
    'pre_self_attn_layernorm.weight': 'input_layernorm.weight',
    'post_self_attn_layernorm.weight': 'post_attention_layernorm.weight',
    'pre_cross_attn_layernorm.weight': 'input_layernorm.weight',
    'post_cross_attn_layernorm.weight': 'post_attention_layernorm.weight',
  };
  if (part.startsWith('cross_attn.') || part.includes('cross_attn_layernorm')) {
    if (init === 'random') return null;
    return `model.layers.${i}.${renames[part] ?? part.replace('cross_attn.', 'self_attn.')}`;
  }
  return `model.layers.${i}.${renames[part] ?? part}`;
}

async function resolve(src: GemmaModel | string): Promise<{ model: GemmaModel; owned: boolean }> {
  return typeof src === 'string' ? { model: await loadGemmaModel(src), owned: true } : { model: src, owned: false };
}

/**
 * Builds a T5Gemma model (fresh variables; the sources are left untouched and loaded ones disposed).
 * Sources are GemmaModel instances or checkpoint paths.
 */
export async function toEncoderDecoder(
  encoderSource: GemmaModel | string,
  decoderSource?: GemmaModel | string,
  o: ToEncoderDecoderOptions = {},
): Promise<T5GemmaModel> {
  const enc = await resolve(encoderSource);
  const dec = decoderSource === undefined ? enc : await resolve(decoderSource);
  try {
    const config = t5gemmaConfigFrom(enc.model.config, dec.model.config, o);
    const init = o.crossAttentionInit ?? (config.encoder.hiddenSize === config.decoder.hiddenSize ? 'copy' : 'random');
    if (init === 'copy' && config.encoder.hiddenSize !== config.decoder.hiddenSize) {
      throw new ConfigError(
        `cannot copy self-attention into cross-attention: encoder width ${config.encoder.hiddenSize} != decoder width ${config.decoder.hiddenSize}`,
        config.sourcePath,
        'crossAttentionInit',
      );
    }
    const shapes = t5gemmaParameterShapes(config);
    const fresh = new Map([...shapes].filter(([n]) => init === 'random' && isCrossAttentionParam(n)));
    const random = randomHostParams(fresh, config, o.seed ?? 0);
    const params = new Map<string, tf.Variable>();
    try {
      for (const [name, shape] of shapes) {
        const from = sourceName(name, init);
        const side = name.startsWith('model.encoder.') ? enc.model : dec.model;
        let value: tf.Tensor;
        if (from === null) {
          const r = random.get(name) as { data: Float32Array };
          value = tf.tensor(r.data, shape, 'float32');
        } else {
          const v = side.params.get(from);
          if (!v) throw new ConfigError(`source has no tensor '${from}' for '${name}'`, side.config.sourcePath, from);
          if (v.shape.join(',') !== shape.join(',')) throw new ConfigError(`'${from}' has shape [${v.shape}], '${name}' needs [${shape}]`, side.config.sourcePath, from);
          value = v.clone();
        }
        params.set(name, variableFrom(value));
      }
    } catch (err) {
      // A source that lacks a tensor must not leave the variables made so far behind.
      for (const v of params.values()) v.dispose();
      throw err;
    }
    return new T5GemmaModel(config, params);
  } finally {
    if (enc.owned) enc.model.dispose();
    if (dec !== enc && dec.owned) dec.model.dispose();
  }
}

/** The cross-attention variables (q/k/v/o and its two norms) trained alone during the warm-up. */
export function crossAttentionParams(model: T5GemmaModel): Map<string, tf.Variable> {
  return new Map([...model.params].filter(([n]) => isCrossAttentionParam(n)));
}
