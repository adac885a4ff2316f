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
 * Sources are Gemma 2 or Gemma 3 (Gemma 1 lacks the sandwich norms and is refused). A Gemma 3 source
 * keeps its blocks: q/k norms (copied into cross-attention too) and local/global RoPE bases.
 *
 * Two recipes (`recipe`):
 * - 't5gemma' (default): the T5Gemma layout above; encoder and decoder embedding tables are separate
 *   copies, the LM head is the decoder table; balanced or unbalanced widths.
 * - 't5gemma2' (Gemma 3 sources; T5Gemma 2 paper): one embedding table (the encoder source's) shared by
 *   encoder, decoder and LM head; the decoder's self-attention doubles as cross-attention (merged
 *   attention), so no new weights at all. Encoder and decoder widths must match (HF refuses otherwise);
 *   depth, FFN and heads may differ (unbalanced). `eoi_embedding` is the source's row for
 *   `eoi_token_index` times sqrt(D) (the model uses it unscaled), or zeros when the vocabulary is smaller.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GemmaConfig } from '../config/gemma.js';
import type { T5GemmaConfig, T5GemmaModuleConfig } from '../config/t5gemma.js';
import { ConfigError } from '../errors.js';
import type { GemmaModel } from '../models/gemma.js';
import { loadGemmaModel } from '../models/load.js';
import { variableFrom } from '../models/stream-load.js';
import { randomHostParams } from '../models/init.js';
import { T5GemmaModel, isCrossAttentionParam, t5gemmaParameterShapes } from '../models/t5gemma.js';
import type { GemmaStackConfig } from '../config/gemma.js';
import type { T5Gemma2Config } from '../config/t5gemma2.js';
import { T5Gemma2Model, t5gemma2ParameterShapes } from '../models/t5gemma2.js';

export type EncoderDecoderRecipe = 't5gemma' | 't5gemma2';

export type CrossAttentionInit = 'copy' | 'random';

export interface ToEncoderDecoderOptions {
  /** 't5gemma' (separate cross-attention, separate tables; default) or 't5gemma2' (tied, merged attention). */
  readonly recipe?: EncoderDecoderRecipe;
  readonly crossAttentionInit?: CrossAttentionInit;
  /** Seed of the random cross-attention init. */
  readonly seed?: number;
  /** T5Gemma dropout rates (the released configs use 0). */
  readonly dropoutRate?: number;
  readonly attentionDropout?: number;
  readonly classifierDropoutRate?: number;
}

function stackFrom(g: GemmaConfig, families: readonly string[]): GemmaStackConfig {
  if (!families.includes(g.modelType)) {
    throw new ConfigError(`expected a ${families.join(' or ')} checkpoint (sandwich-norm Gemma blocks), got model_type '${g.modelType}'`, g.sourcePath, 'model_type');
  }
  const { modelType: _m, tieWordEmbeddings: _t, useBidirectionalAttention: _u, dtype: _d, sourcePath: _s, ...stack } = g;
  return stack;
}

function moduleFrom(g: GemmaConfig, dropoutRate: number): T5GemmaModuleConfig {
  return { ...stackFrom(g, ['gemma2', 'gemma3_text']), dropoutRate };
}

/** The T5Gemma 2 config of an encoder-decoder built from two Gemma 3 configs (equal widths and vocabularies). */
export function t5gemma2ConfigFrom(enc: GemmaConfig, dec: GemmaConfig, o: ToEncoderDecoderOptions = {}): T5Gemma2Config {
  const attentionDropout = o.attentionDropout ?? 0;
  const encoder = { ...stackFrom(enc, ['gemma3_text']), attentionDropout };
  const decoder = { ...stackFrom(dec, ['gemma3_text']), attentionDropout };
  if (enc.vocabSize !== dec.vocabSize)
    throw new ConfigError(`encoder and decoder vocabularies differ (${enc.vocabSize} vs ${dec.vocabSize})`, dec.sourcePath, 'vocab_size');
  if (enc.hiddenSize !== dec.hiddenSize)
    throw new ConfigError(`T5Gemma 2 needs equal encoder and decoder widths (merged attention reads encoder states with decoder projections): ${enc.hiddenSize} vs ${dec.hiddenSize}`, dec.sourcePath, 'hidden_size');
  return Object.freeze({
    modelType: 't5gemma2',
    encoder: Object.freeze(encoder),
    decoder: Object.freeze(decoder),
    vocabSize: enc.vocabSize,
    eoiTokenIndex: 256_000,
    dropoutRate: o.dropoutRate ?? 0,
    attentionDropout,
    classifierDropoutRate: o.classifierDropoutRate ?? 0,
    padTokenId: dec.padTokenId,
    bosTokenId: dec.bosTokenId,
    eosTokenId: dec.eosTokenId,
    initializerRange: dec.initializerRange,
    dtype: 'float32',
    encoderVision: Object.freeze({}),
    imageTokenIndex: 256_001,
    sourcePath: `toEncoderDecoder(${enc.sourcePath}, ${dec.sourcePath}, t5gemma2)`,
  });
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
    'cross_attn.q_norm.weight': 'self_attn.q_norm.weight',
    'cross_attn.k_norm.weight': 'self_attn.k_norm.weight',
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
 * Builds a T5Gemma (or, with `recipe: 't5gemma2'`, a T5Gemma 2) model: fresh variables; the sources
 * are left untouched and loaded ones disposed. Sources are GemmaModel instances or checkpoint paths.
 */
export async function toEncoderDecoder(encoderSource: GemmaModel | string, decoderSource?: GemmaModel | string, o?: ToEncoderDecoderOptions & { recipe?: 't5gemma' }): Promise<T5GemmaModel>;
export async function toEncoderDecoder(encoderSource: GemmaModel | string, decoderSource: GemmaModel | string | undefined, o: ToEncoderDecoderOptions & { recipe: 't5gemma2' }): Promise<T5Gemma2Model>;
export async function toEncoderDecoder(encoderSource: GemmaModel | string, decoderSource?: GemmaModel | string, o?: ToEncoderDecoderOptions): Promise<T5GemmaModel | T5Gemma2Model>;
export async function toEncoderDecoder(
  encoderSource: GemmaModel | string,
  decoderSource?: GemmaModel | string,
  o: ToEncoderDecoderOptions = {},
): Promise<T5GemmaModel | T5Gemma2Model> {
  const enc = await resolve(encoderSource);
  const dec = decoderSource === undefined ? enc : await resolve(decoderSource);
  try {
    if (o.recipe === 't5gemma2') return buildT5Gemma2(enc.model, dec.model, o);
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
    const params = buildVariables(shapes, (name, shape) => {
      const from = sourceName(name, init);
      if (from === null) return tf.tensor((random.get(name) as { data: Float32Array }).data, shape, 'float32');
      return copyParam(name.startsWith('model.encoder.') ? enc.model : dec.model, from, name, shape);
    });
    return new T5GemmaModel(config, params);
  } finally {
    if (enc.owned) enc.model.dispose();
    if (dec !== enc && dec.owned) dec.model.dispose();
  }
}

/**
 * name -> trainable variable of `make(name, shape)` for every target tensor. A source that lacks a
 * tensor must not leave the variables made so far behind, so they are disposed on any error.
 */
function buildVariables(shapes: ReadonlyMap<string, number[]>, make: (name: string, shape: number[]) => tf.Tensor): Map<string, tf.Variable> {
  const params = new Map<string, tf.Variable>();
  try {
    for (const [name, shape] of shapes) params.set(name, variableFrom(make(name, shape)));
  } catch (err) {
    for (const v of params.values()) v.dispose();
    throw err;
  }
  return params;
}

/** A copy of the source model's tensor `from` for the target tensor `name` [shape]; the source must match the shape. */
function copyParam(side: GemmaModel, from: string, name: string, shape: readonly number[]): tf.Tensor {
  const v = side.params.get(from);
  if (!v) throw new ConfigError(`source has no tensor '${from}' for '${name}'`, side.config.sourcePath, from);
  if (v.shape.join(',') !== shape.join(',')) throw new ConfigError(`'${from}' has shape [${v.shape}], '${name}' needs [${shape}]`, side.config.sourcePath, from);
  return v.clone();
}

/** T5Gemma 2 name -> (side, Gemma 3 name) it copies from; null for the eoi embedding. */
function sourceName2(name: string): { side: 'encoder' | 'decoder'; from: string } | null {
  if (name === 'model.encoder.embed_tokens.eoi_embedding') return null;
  const m = /^model\.(encoder|decoder)\.(.*)$/.exec(name) as RegExpExecArray;
  const side = m[1] as 'encoder' | 'decoder';
  const rest = (m[2] as string)
    .replace('pre_self_attn_layernorm', 'input_layernorm')
    .replace('post_self_attn_layernorm', 'post_attention_layernorm');
  return { side, from: `model.${rest}` };
}

function buildT5Gemma2(enc: GemmaModel, dec: GemmaModel, o: ToEncoderDecoderOptions): T5Gemma2Model {
  const config = t5gemma2ConfigFrom(enc.config, dec.config, o);
  const params = buildVariables(t5gemma2ParameterShapes(config), (name, shape) => {
    const src = sourceName2(name);
    if (src !== null) return copyParam(src.side === 'encoder' ? enc : dec, src.from, name, shape);
    const D = config.encoder.hiddenSize;
    const E = enc.params.get('model.embed_tokens.weight') as tf.Variable;
    return config.eoiTokenIndex < config.vocabSize ? tf.tidy(() => tf.mul(tf.reshape(tf.slice(E, [config.eoiTokenIndex, 0], [1, D]), [D]), Math.sqrt(D))) : tf.zeros([D]);
  });
  return new T5Gemma2Model(config, params);
}

/** The cross-attention variables (q/k/v/o and its two norms) trained alone during the warm-up. */
export function crossAttentionParams(model: { readonly params: ReadonlyMap<string, tf.Variable> }): Map<string, tf.Variable> {
  return new Map([...model.params].filter(([n]) => isCrossAttentionParam(n)));
}
