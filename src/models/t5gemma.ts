/**
 * T5Gemma encoder-decoder (HF transformers 4.57 `modeling_t5gemma.py` semantics; rules in
 * docs/conventions.md), computed in float32.
 *
 * It differs from the Gemma decoder (gemma.ts) only by wiring and masks; the math is the shared
 * nn/ code (attention, GeGLU MLP, RMSNorm, RoPE, mask predicates):
 * - encoder = Gemma 2 blocks, `bidirectional_sliding` masks (full layers: padding only; sliding
 *   layers: |i-j| < W), own embedding table (scaled by sqrt(D_enc)) and final norm, no head;
 * - decoder = causal (sliding-window on sliding layers) self-attention, then cross-attention over the
 *   encoder output (no RoPE, encoder padding mask, same scale/softcap; k/v input width = D_enc), then
 *   the MLP, each sub-block sandwiched by pre/post RMSNorms; own embedding (scaled by sqrt(D_dec));
 * - logits = decoder states @ lm_head (tied to the decoder embedding), softcapped with the decoder
 *   sub-config's final_logit_softcapping.
 * Parameter names are HF's (`model.encoder.*`, `model.decoder.*`, `lm_head.out_proj.weight`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Checkpoint } from '../checkpoint/index.js';
import type { LayerType } from '../config/gemma.js';
import { type T5GemmaConfig, type T5GemmaModuleConfig, parseT5GemmaConfig, t5gemmaConfigToJson } from '../config/t5gemma.js';
import { attention, softcap } from '../nn/attention.js';
import { linear } from '../nn/linear.js';
import type { MaskRule } from '../nn/masks.js';
import { gegluMlp } from '../nn/mlp.js';
import { rmsNorm } from '../nn/norm.js';
import { cachedSelfAttention, crossAttention, type LayerKv } from '../nn/cached_attention.js';
import type { TokenPooling } from '../nn/pooling.js';
import { DecoderCache, encoderKvCache, stepIds, stepTables } from './kvcache.js';
import { defaultMask, encoderInputs } from './seq2seq_inputs.js';
import type { LoadOptions } from './base.js';
import { maskedPool, maskRows, ParamModel, tokenRows, toRows } from './base.js';
import { attentionSpec, selfAttentionTables } from './stack.js';
import { loadStrictParams } from './strict.js';

/** The LM head is the decoder embedding unless stored separately (HF `_tied_weights_keys`). */
export const T5GEMMA_TIED_WEIGHTS: Readonly<Record<string, string>> = Object.freeze({
  'lm_head.out_proj.weight': 'model.decoder.embed_tokens.weight',
});

export interface T5GemmaRunOptions {
  /** Enables dropout at the config's rates (dropout_rate, attention_dropout). Default false. */
  readonly training?: boolean;
  /** Seed of this call's dropout masks; default: the model's own stream. */
  readonly seed?: number;
}

export interface T5GemmaOutput {
  /** [B, S, D_enc] after model.encoder.norm */
  readonly encoderHiddenStates: tf.Tensor3D;
  /** [B, T, D_dec] after model.decoder.norm */
  readonly decoderHiddenStates: tf.Tensor3D;
  /** [B, T, V], final softcap applied */
  readonly logits: tf.Tensor3D;
}

function moduleShapes(c: T5GemmaModuleConfig, side: 'encoder' | 'decoder', V: number, crossIn: number): Map<string, number[]> {
  const { hiddenSize: D, intermediateSize: F, numAttentionHeads: H, numKeyValueHeads: G, headDim: K } = c;
  const shapes = new Map<string, number[]>([[`model.${side}.embed_tokens.weight`, [V, D]]]);
  const blocks: [string, string, number][] = [['self_attn', 'self', D]];
  if (side === 'decoder') blocks.push(['cross_attn', 'cross', crossIn]);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `model.${side}.layers.${i}.`;
    for (const [attn, norm, kvIn] of blocks) {
      shapes.set(`${p}${attn}.q_proj.weight`, [H * K, D]);
      shapes.set(`${p}${attn}.k_proj.weight`, [G * K, kvIn]);
      shapes.set(`${p}${attn}.v_proj.weight`, [G * K, kvIn]);
      shapes.set(`${p}${attn}.o_proj.weight`, [D, H * K]);
      if (c.qkNorm) {
        shapes.set(`${p}${attn}.q_norm.weight`, [K]);
        shapes.set(`${p}${attn}.k_norm.weight`, [K]);
      }
      shapes.set(`${p}pre_${norm}_attn_layernorm.weight`, [D]);
      shapes.set(`${p}post_${norm}_attn_layernorm.weight`, [D]);
    }
    shapes.set(`${p}mlp.gate_proj.weight`, [F, D]);
    shapes.set(`${p}mlp.up_proj.weight`, [F, D]);
    shapes.set(`${p}mlp.down_proj.weight`, [D, F]);
    shapes.set(`${p}pre_feedforward_layernorm.weight`, [D]);
    shapes.set(`${p}post_feedforward_layernorm.weight`, [D]);
  }
  shapes.set(`model.${side}.norm.weight`, [D]);
  return shapes;
}

/** Expected parameters and shapes (HF names). */
export function t5gemmaParameterShapes(c: T5GemmaConfig): Map<string, number[]> {
  const shapes = new Map([
    ...moduleShapes(c.encoder, 'encoder', c.vocabSize, 0),
    ...moduleShapes(c.decoder, 'decoder', c.vocabSize, c.decoder.crossAttentionHiddenSize),
  ]);
  if (!c.tieWordEmbeddings) shapes.set('lm_head.out_proj.weight', [c.vocabSize, c.decoder.hiddenSize]);
  return shapes;
}

/** Parameters of the decoder's cross-attention sub-blocks (trained alone in the unbalanced warm-up). */
export function isCrossAttentionParam(name: string): boolean {
  return /^model\.decoder\.layers\.\d+\.(cross_attn\.|(pre|post)_cross_attn_layernorm\.)/.test(name);
}

export class T5GemmaModel extends ParamModel<T5GemmaConfig> {
  /** `params`: HF tensor name -> trainable variable, exactly the set `t5gemmaParameterShapes(config)` lists. */
  constructor(config: T5GemmaConfig, params: Map<string, tf.Variable>, seed = 0) {
    super(config, params, t5gemmaParameterShapes(config), seed);
  }

  static readonly parameterShapes = t5gemmaParameterShapes;


  /**
   * inputIds [B, S] (+ attentionMask [B, S], right padding; default: ids != pad_token_id, as HF)
   * -> encoder states [B, S, D_enc].
   */
  encode(inputIds: tf.Tensor2D | readonly (readonly number[])[], attentionMask?: tf.Tensor2D | readonly (readonly number[])[], o: T5GemmaRunOptions = {}): tf.Tensor3D {
    const c = this.config.encoder;
    const { ids, B, S, mask } = encoderInputs(inputIds, attentionMask, this.config.vocabSize, this.config.padTokenId);
    const d = this.dropouts(o, this.config.dropoutRate, this.config.attentionDropout);
    return tf.tidy(() => {
      const forType = selfAttentionTables(c, 'bidirectional_sliding', mask, B, S);
      const spec = attentionSpec(c);
      const pd = d.prob ? { probDropout: d.prob } : {};
      let x = tf.mul(tf.gather(this.w2('model.encoder.embed_tokens.weight'), tf.tensor2d(ids, [B, S], 'int32')), Math.sqrt(c.hiddenSize)) as tf.Tensor3D;
      x = d.hidden(x);
      for (let i = 0; i < c.numHiddenLayers; i++) {
        const p = `model.encoder.layers.${i}.`;
        const { mask: rule, rope } = forType(c.layerTypes[i] as LayerType);
        x = this.subBlock(x, `${p}pre_self_attn_layernorm.weight`, `${p}post_self_attn_layernorm.weight`, c.rmsNormEps, d.hidden, (h) =>
          attention(h, h, this.attnWeights(`${p}self_attn.`), spec, { rope: { q: rope, k: rope }, mask: rule, ...pd }),
        );
        x = this.subBlock(x, `${p}pre_feedforward_layernorm.weight`, `${p}post_feedforward_layernorm.weight`, c.rmsNormEps, d.hidden, (h) =>
          gegluMlp(h, this.mlpWeights(`${p}mlp.`), d.hidden),
        );
      }
      return d.hidden(rmsNorm(x, this.w1('model.encoder.norm.weight'), c.rmsNormEps));
    });
  }

  /**
   * decoderInputIds [B, T] (start with bos), encoder states [B, S, D_enc] and the encoder's
   * attentionMask [B, S] -> decoder states [B, T, D_dec] and logits [B, T, V].
   * `decoderAttentionMask` marks right padding of training batches; it is and-ed into the causal
   * mask (real queries never see right pads anyway, so real positions do not depend on it).
   */
  decode(
    decoderInputIds: tf.Tensor2D | readonly (readonly number[])[],
    encoderHiddenStates: tf.Tensor3D,
    attentionMask?: tf.Tensor2D | readonly (readonly number[])[],
    o: T5GemmaRunOptions & { decoderAttentionMask?: readonly (readonly number[])[]; logits?: boolean } = {},
  ): { hiddenStates: tf.Tensor3D; logits?: tf.Tensor3D } {
    const c = this.config.decoder;
    const ids = tokenRows(decoderInputIds, 'decoderInputIds', this.config.vocabSize);
    const B = ids.length;
    const T = (ids[0] as number[]).length;
    const [eB, S, eD] = encoderHiddenStates.shape;
    if (eB !== B || eD !== c.crossAttentionHiddenSize)
      throw new RangeError(`encoderHiddenStates: shape [${encoderHiddenStates.shape.join(', ')}], expected [${B}, S, ${c.crossAttentionHiddenSize}]`);
    const encMask = attentionMask === undefined ? null : maskRows(attentionMask, 'attentionMask', B, S);
    const decMask = o.decoderAttentionMask === undefined ? null : maskRows(o.decoderAttentionMask, 'decoderAttentionMask', B, T);
    const d = this.dropouts(o, this.config.dropoutRate, this.config.attentionDropout);
    return tf.tidy(() => {
      const forType = selfAttentionTables(c, 'causal', decMask, B, T);
      const crossMask: MaskRule = { causal: false, window: null, keyMask: encMask };
      const spec = attentionSpec(c);
      const pd = d.prob ? { probDropout: d.prob } : {};
      let x = tf.mul(tf.gather(this.w2('model.decoder.embed_tokens.weight'), tf.tensor2d(ids, [B, T], 'int32')), Math.sqrt(c.hiddenSize)) as tf.Tensor3D;
      x = d.hidden(x);
      for (let i = 0; i < c.numHiddenLayers; i++) {
        const p = `model.decoder.layers.${i}.`;
        const { mask: rule, rope } = forType(c.layerTypes[i] as LayerType);
        x = this.subBlock(x, `${p}pre_self_attn_layernorm.weight`, `${p}post_self_attn_layernorm.weight`, c.rmsNormEps, d.hidden, (h) =>
          attention(h, h, this.attnWeights(`${p}self_attn.`), spec, { rope: { q: rope, k: rope }, mask: rule, ...pd }),
        );
        x = this.subBlock(x, `${p}pre_cross_attn_layernorm.weight`, `${p}post_cross_attn_layernorm.weight`, c.rmsNormEps, d.hidden, (h) =>
          attention(h, encoderHiddenStates, this.attnWeights(`${p}cross_attn.`), spec, { rope: null, mask: crossMask, ...pd }),
        );
        x = this.subBlock(x, `${p}pre_feedforward_layernorm.weight`, `${p}post_feedforward_layernorm.weight`, c.rmsNormEps, d.hidden, (h) =>
          gegluMlp(h, this.mlpWeights(`${p}mlp.`), d.hidden),
        );
      }
      const hiddenStates = d.hidden(rmsNorm(x, this.w1('model.decoder.norm.weight'), c.rmsNormEps));
      if (o.logits === false) return { hiddenStates };
      let logits = linear(hiddenStates, this.w2(this.config.tieWordEmbeddings ? 'model.decoder.embed_tokens.weight' : 'lm_head.out_proj.weight'));
      if (c.finalLogitSoftcapping !== null) logits = softcap(logits, c.finalLogitSoftcapping);
      return { hiddenStates, logits };
    });
  }

  /** Encoder + decoder in one call (teacher forcing; encoder mask default as in `encode`). The caller disposes the outputs. */
  forward(
    inputIds: tf.Tensor2D | readonly (readonly number[])[],
    decoderInputIds: tf.Tensor2D | readonly (readonly number[])[],
    o: T5GemmaRunOptions & { attentionMask?: readonly (readonly number[])[]; decoderAttentionMask?: readonly (readonly number[])[] } = {},
  ): T5GemmaOutput {
    const run: T5GemmaRunOptions = { ...(o.training !== undefined ? { training: o.training } : {}), seed: o.seed ?? this.rng.seed() };
    const mask = o.attentionMask ?? defaultMask(toRows(inputIds, 'inputIds'), this.config.padTokenId);
    const encoderHiddenStates = this.encode(inputIds, mask, run);
    const dec = this.decode(decoderInputIds, encoderHiddenStates, mask, {
      ...run,
      seed: (run.seed as number) + 1,
      ...(o.decoderAttentionMask ? { decoderAttentionMask: o.decoderAttentionMask } : {}),
    });
    return { encoderHiddenStates, decoderHiddenStates: dec.hiddenStates, logits: dec.logits as tf.Tensor3D };
  }

  /** Cross-attention keys/values of every decoder layer ([B, G, S, K], computed once): an empty cache. */
  startDecoding(encoderHiddenStates: tf.Tensor3D, attentionMask: readonly (readonly number[])[]): DecoderCache {
    const c = this.config.decoder;
    const weights = (i: number) => this.attnWeights(`model.decoder.layers.${i}.cross_attn.`);
    return encoderKvCache(encoderHiddenStates, attentionMask, attentionSpec(c), c.crossAttentionHiddenSize, weights, c.numHiddenLayers);
  }

  /** Appends ids [N][n] at positions t..t+n-1 (CachedSeq2Seq.decodeStep): logits [N, n, V]; `cache` is consumed. */
  decodeStep(cache: DecoderCache, decoderIds: readonly (readonly number[])[]): { logits: tf.Tensor3D; cache: DecoderCache } {
    const c = this.config.decoder;
    const { ids, N, n, t } = stepIds(decoderIds, this.config.vocabSize, cache);
    const spec = attentionSpec(c);
    const self: LayerKv[] = [];
    const id = <T extends tf.Tensor>(x: T): T => x;
    const logits = tf.tidy(() => {
      const forType = stepTables(c, t, n, N);
      const crossBias = cache.crossBias(n);
      let x = tf.mul(tf.gather(this.w2('model.decoder.embed_tokens.weight'), tf.tensor2d(ids, [N, n], 'int32')), Math.sqrt(c.hiddenSize)) as tf.Tensor3D;
      for (let i = 0; i < c.numHiddenLayers; i++) {
        const p = `model.decoder.layers.${i}.`;
        const { bias, rope } = forType(c.layerTypes[i] as LayerType);
        x = this.subBlock(x, `${p}pre_self_attn_layernorm.weight`, `${p}post_self_attn_layernorm.weight`, c.rmsNormEps, id, (h) => {
          const r = cachedSelfAttention({ x: h, w: this.attnWeights(`${p}self_attn.`), spec, rope, past: cache.self[i] ?? null, selfBias: bias });
          self.push({ k: tf.keep(r.self.k), v: tf.keep(r.self.v) });
          return r.out;
        });
        x = this.subBlock(x, `${p}pre_cross_attn_layernorm.weight`, `${p}post_cross_attn_layernorm.weight`, c.rmsNormEps, id, (h) =>
          crossAttention(h, this.attnWeights(`${p}cross_attn.`), spec, cache.cross[i] as LayerKv, crossBias),
        );
        x = this.subBlock(x, `${p}pre_feedforward_layernorm.weight`, `${p}post_feedforward_layernorm.weight`, c.rmsNormEps, id, (h) => gegluMlp(h, this.mlpWeights(`${p}mlp.`)));
      }
      const h = rmsNorm(x, this.w1('model.decoder.norm.weight'), c.rmsNormEps);
      let out = linear(h, this.w2(this.config.tieWordEmbeddings ? 'model.decoder.embed_tokens.weight' : 'lm_head.out_proj.weight'));
      if (c.finalLogitSoftcapping !== null) out = softcap(out, c.finalLogitSoftcapping);
      return out;
    });
    for (const kv of cache.self) if (kv) tf.dispose(kv);
    return { logits, cache: cache.advance(n, self) };
  }

  /** hiddenStates [B, T, D], attentionMask [B][T] -> [B, D] (mean / first / last_non_pad), as GemmaModel.pool. */
  pool(hiddenStates: tf.Tensor3D, attentionMask: readonly (readonly number[])[], kind: TokenPooling): tf.Tensor2D {
    return maskedPool(hiddenStates, attentionMask, kind);
  }

  protected configJson(dtype: string): Record<string, unknown> {
    return t5gemmaConfigToJson(this.config, dtype);
  }
}


/**
 * Checkpoints name tensors `model.encoder.*` (HF ForConditionalGeneration) or `encoder.*` (keras-hub,
 * bare T5GemmaModel exports): match by suffix by viewing the latter under the `model.` prefix.
 */
function withModelPrefix(ckpt: Checkpoint): Checkpoint {
  if (ckpt.tensorNames.some((n) => n.startsWith('model.'))) return ckpt;
  const stored = (name: string): string => (name.startsWith('model.') ? name.slice('model.'.length) : `\u0000${name}`);
  return {
    ...ckpt,
    tensorNames: ckpt.tensorNames.map((n) => (n.startsWith('lm_head.') ? n : `model.${n}`)).sort(),
    has: (name) => (name.startsWith('lm_head.') ? ckpt.has(name) : ckpt.has(stored(name))),
    info: (name) => ckpt.info(name.startsWith('lm_head.') ? name : stored(name)),
    loadTensor: (name) => ckpt.loadTensor(name.startsWith('lm_head.') ? name : stored(name)),
    loadFloat32: (name) => ckpt.loadFloat32(name.startsWith('lm_head.') ? name : stored(name)),
    loadTensorBytes: (name, start, length) => ckpt.loadTensorBytes(name.startsWith('lm_head.') ? name : stored(name), start, length),
  };
}

/** Registry loader for model_type "t5gemma". */
export async function loadT5Gemma(ckpt: Checkpoint, opts: LoadOptions): Promise<T5GemmaModel> {
  const config = parseT5GemmaConfig(ckpt.config, ckpt.configPath, opts.ignoreKeys ? { ignoreKeys: opts.ignoreKeys } : {});
  const view = withModelPrefix(ckpt);
  const params = await loadStrictParams(view, t5gemmaParameterShapes(config), config.tieWordEmbeddings ? T5GEMMA_TIED_WEIGHTS : {});
  return new T5GemmaModel(config, params);
}
