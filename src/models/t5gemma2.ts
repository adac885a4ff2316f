/**
 * T5Gemma 2 encoder-decoder, text only (transformers' modeling_t5gemma2.py semantics; docs/t5gemma2.md),
 * computed in float32. Parameter names are HF's (`model.encoder.*`, `model.decoder.*`).
 *
 * - One embedding table (`model.encoder.embed_tokens.weight`) feeds the encoder, the decoder and the
 *   LM head; tokens equal to `eoi_token_index` take the learned `embed_tokens.eoi_embedding` (unscaled)
 *   instead of their scaled row.
 * - Encoder: Gemma 3 blocks (q/k norm, RoPE 1e4 local / 1e6 global), bidirectional; sliding layers see
 *   ceil(W/2)-1 keys to the left and floor(W/2) to the right; full layers every non-pad key.
 * - Decoder: Gemma 3 blocks whose attention is merged: one softmax over [causal decoder keys (sliding
 *   window on sliding layers); encoder keys] with shared q/k/v/o projections. Encoder-side keys get
 *   k_norm but no RoPE; encoder pads are masked.
 * - Layer norms are named as in T5Gemma (pre/post_self_attn_layernorm, pre/post_feedforward_layernorm).
 * Vision weights (`model.encoder.vision_tower.*`, `model.encoder.multi_modal_projector.*`) are skipped unread.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Checkpoint } from '../checkpoint/index.js';
import type { GemmaStackConfig, LayerType } from '../config/gemma.js';
import { type T5Gemma2Config, parseT5Gemma2Config, t5gemma2ConfigToJson } from '../config/t5gemma2.js';
import { type AttentionSpec, mergeHeads, scaledDotProductAttention, softcap } from '../nn/attention.js';
import { cachedSelfAttention, type LayerKv, projectKv, projectQ } from '../nn/cached_attention.js';
import { linear } from '../nn/linear.js';
import { andMasks, bidirectional, maskBias, padding, slidingWindowBidirectionalT5Gemma2 } from '../nn/masks.js';
import { gegluMlp } from '../nn/mlp.js';
import { rmsNorm } from '../nn/norm.js';
import type { TokenPooling } from '../nn/pooling.js';
import { ropeTables } from '../nn/rope.js';
import { type LoadOptions, maskedPool, ParamModel, toRows } from './base.js';
import { DecoderCache, encoderKvCache, stepIds, stepTables } from './kvcache.js';
import { attentionSpec } from './stack.js';
import { loadStrictParams } from './strict.js';
import { defaultMask, encoderInputs } from './seq2seq_inputs.js';
import { withoutVisionTower } from './vision.js';

/** Tensors HF stores or not at will: each duplicates the one it names (HF `_tied_weights_keys`). */
export const T5GEMMA2_TIED_WEIGHTS: Readonly<Record<string, string>> = Object.freeze({
  'model.decoder.embed_tokens.weight': 'model.encoder.embed_tokens.weight',
  'model.decoder.embed_tokens.eoi_embedding': 'model.encoder.embed_tokens.eoi_embedding',
  'lm_head.out_proj.weight': 'model.encoder.embed_tokens.weight',
});

const EMBED = 'model.encoder.embed_tokens.weight';
const EOI = 'model.encoder.embed_tokens.eoi_embedding';

function stackShapes(c: GemmaStackConfig, side: 'encoder' | 'decoder'): [string, number[]][] {
  const { hiddenSize: D, intermediateSize: F, numAttentionHeads: H, numKeyValueHeads: G, headDim: K } = c;
  const out: [string, number[]][] = [];
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `model.${side}.layers.${i}.`;
    out.push(
      [`${p}self_attn.q_proj.weight`, [H * K, D]],
      [`${p}self_attn.k_proj.weight`, [G * K, D]],
      [`${p}self_attn.v_proj.weight`, [G * K, D]],
      [`${p}self_attn.o_proj.weight`, [D, H * K]],
      [`${p}self_attn.q_norm.weight`, [K]],
      [`${p}self_attn.k_norm.weight`, [K]],
      [`${p}mlp.gate_proj.weight`, [F, D]],
      [`${p}mlp.up_proj.weight`, [F, D]],
      [`${p}mlp.down_proj.weight`, [D, F]],
      [`${p}pre_self_attn_layernorm.weight`, [D]],
      [`${p}post_self_attn_layernorm.weight`, [D]],
      [`${p}pre_feedforward_layernorm.weight`, [D]],
      [`${p}post_feedforward_layernorm.weight`, [D]],
    );
  }
  out.push([`model.${side}.norm.weight`, [D]]);
  return out;
}

/** Expected parameters and shapes (HF names; tied copies excluded). */
export function t5gemma2ParameterShapes(c: T5Gemma2Config): Map<string, number[]> {
  return new Map([
    [EMBED, [c.vocabSize, c.encoder.hiddenSize]],
    [EOI, [c.encoder.hiddenSize]],
    ...stackShapes(c.encoder, 'encoder'),
    ...stackShapes(c.decoder, 'decoder'),
  ]);
}

export interface T5Gemma2RunOptions {
  readonly training?: boolean;
  readonly seed?: number;
}

export interface T5Gemma2Output {
  readonly encoderHiddenStates: tf.Tensor3D;
  readonly decoderHiddenStates: tf.Tensor3D;
  readonly logits: tf.Tensor3D;
}

export class T5Gemma2Model extends ParamModel<T5Gemma2Config> {
  constructor(config: T5Gemma2Config, params: Map<string, tf.Variable>, seed = 0) {
    super(config, params, t5gemma2ParameterShapes(config), seed);
  }

  static readonly parameterShapes = t5gemma2ParameterShapes;


  /** ids [B][L] -> E[ids] * sqrt(D), eoi ids replaced by the eoi embedding: [B, L, D]. */
  private embed(ids: readonly (readonly number[])[], D: number): tf.Tensor3D {
    return tf.tidy(() => {
      const B = ids.length;
      const L = (ids[0] as readonly number[]).length;
      const x = tf.mul(tf.gather(this.w2(EMBED), tf.tensor2d(ids.map((r) => [...r]), [B, L], 'int32')), Math.sqrt(D)) as tf.Tensor3D;
      const eoi = this.config.eoiTokenIndex;
      // Always in the graph (even without eoi ids) so the eoi embedding gets a (zero) gradient like every parameter.
      // x * (1 - m) + m * e (exact for finite values) rather than where(m, broadcastTo(e), x): tfjs
      // differentiates broadcastTo as Tile, with one slice + add per repeated row (B * L of them).
      const isEoi = tf.tensor3d(ids.map((r) => r.map((id) => [id === eoi ? 1 : 0])), [B, L, 1], 'float32'); // [B, L, 1]
      return tf.add(tf.mul(x, tf.sub(1, isEoi)), tf.mul(isEoi, this.w1(EOI))) as tf.Tensor3D;
    });
  }

  /** Sandwich sub-block `which` of layer prefix `p` (T5Gemma norm names). */
  private block(x: tf.Tensor3D, p: string, which: 'self_attn' | 'feedforward', eps: number, drop: <T extends tf.Tensor>(t: T) => T, f: (h: tf.Tensor3D) => tf.Tensor3D): tf.Tensor3D {
    return this.subBlock(x, `${p}pre_${which}_layernorm.weight`, `${p}post_${which}_layernorm.weight`, eps, drop, f);
  }

  /** inputIds [B][S] (+ attentionMask, default ids != pad) -> encoder states [B, S, D] after the final norm. */
  encode(inputIds: tf.Tensor2D | readonly (readonly number[])[], attentionMask?: tf.Tensor2D | readonly (readonly number[])[], o: T5Gemma2RunOptions = {}): tf.Tensor3D {
    const c = this.config.encoder;
    const { ids, B, S, mask } = encoderInputs(inputIds, attentionMask, this.config.vocabSize, this.config.padTokenId);
    const d = this.dropouts(o, this.config.dropoutRate, this.config.attentionDropout);
    const spec = attentionSpec(c);
    const positions = Array.from({ length: S }, (_, t) => t);
    return tf.tidy(() => {
      const tables = new Map<LayerType, { bias: tf.Tensor4D; rope: ReturnType<typeof ropeTables> }>();
      const forType = (lt: LayerType) => {
        let e = tables.get(lt);
        if (!e) {
          const rule = lt === 'sliding_attention' ? slidingWindowBidirectionalT5Gemma2(c.slidingWindow as number) : bidirectional;
          e = { bias: maskBias(andMasks(rule, padding(mask)), B, S, S), rope: ropeTables(positions, c.headDim, c.rope[lt]) };
          tables.set(lt, e);
        }
        return e;
      };
      let x = d.hidden(this.embed(ids, c.hiddenSize));
      for (let i = 0; i < c.numHiddenLayers; i++) {
        const p = `model.encoder.layers.${i}.`;
        const { bias, rope } = forType(c.layerTypes[i] as LayerType);
        x = this.block(x, p, 'self_attn', c.rmsNormEps, d.hidden, (h) => {
          const q = projectQ(h, this.attnWeights(`${p}self_attn.`), spec, rope);
          const kv = projectKv(h, this.attnWeights(`${p}self_attn.`), spec, rope);
          return attend(q, kv, bias, spec, this.w2(`${p}self_attn.o_proj.weight`), d.prob);
        });
        x = this.block(x, p, 'feedforward', c.rmsNormEps, d.hidden, (h) => gegluMlp(h, this.mlpWeights(`${p}mlp.`), d.hidden));
      }
      return d.hidden(rmsNorm(x, this.w1('model.encoder.norm.weight'), c.rmsNormEps));
    });
  }

  /** Encoder-side keys/values of every decoder layer ([B, G, S, K]; k_norm, no RoPE): an empty cache. */
  startDecoding(encoderHiddenStates: tf.Tensor3D, attentionMask: readonly (readonly number[])[]): DecoderCache {
    const c = this.config.decoder;
    const weights = (i: number) => this.attnWeights(`model.decoder.layers.${i}.self_attn.`);
    return encoderKvCache(encoderHiddenStates, attentionMask, attentionSpec(c), c.hiddenSize, weights, c.numHiddenLayers);
  }

  /** Appends ids [N][n] at positions t..t+n-1 (see CachedSeq2Seq.decodeStep); logits [N, n, V]. */
  decodeStep(cache: DecoderCache, decoderIds: readonly (readonly number[])[], o: T5Gemma2RunOptions = {}): { logits: tf.Tensor3D; cache: DecoderCache } {
    const r = this.decodeStepWithStates(cache, decoderIds, o);
    r.hiddenStates.dispose();
    return { logits: r.logits, cache: r.cache };
  }

  /** decodeStep that also returns the decoder states [N, n, D] after the final norm. */
  decodeStepWithStates(cache: DecoderCache, decoderIds: readonly (readonly number[])[], o: T5Gemma2RunOptions = {}): { logits: tf.Tensor3D; hiddenStates: tf.Tensor3D; cache: DecoderCache } {
    const c = this.config.decoder;
    const { ids, N, n, t } = stepIds(decoderIds, this.config.vocabSize, cache);
    const d = this.dropouts(o, this.config.dropoutRate, this.config.attentionDropout);
    const spec = attentionSpec(c);
    const self: LayerKv[] = [];
    const result = tf.tidy(() => {
      const forType = stepTables(c, t, n, N);
      const crossBias = cache.crossBias(n);
      let x = d.hidden(this.embed(ids, c.hiddenSize));
      for (let i = 0; i < c.numHiddenLayers; i++) {
        const p = `model.decoder.layers.${i}.`;
        const { bias, rope } = forType(c.layerTypes[i] as LayerType);
        x = this.block(x, p, 'self_attn', c.rmsNormEps, d.hidden, (h) => {
          const r = cachedSelfAttention({
            x: h,
            w: this.attnWeights(`${p}self_attn.`),
            spec,
            rope,
            past: cache.self[i] ?? null,
            selfBias: bias,
            merged: { kv: cache.cross[i] as LayerKv, bias: crossBias },
            ...(d.prob ? { probDropout: d.prob } : {}),
          });
          self.push({ k: tf.keep(r.self.k), v: tf.keep(r.self.v) });
          return r.out;
        });
        x = this.block(x, p, 'feedforward', c.rmsNormEps, d.hidden, (h) => gegluMlp(h, this.mlpWeights(`${p}mlp.`), d.hidden));
      }
      const hiddenStates = d.hidden(rmsNorm(x, this.w1('model.decoder.norm.weight'), c.rmsNormEps));
      let logits = linear(hiddenStates, this.w2(EMBED));
      if (c.finalLogitSoftcapping !== null) logits = softcap(logits, c.finalLogitSoftcapping);
      return { logits, hiddenStates };
    });
    for (const kv of cache.self) if (kv) tf.dispose(kv);
    return { ...result, cache: cache.advance(n, self) };
  }

  /**
   * decoderInputIds [B][T] (start with bos), encoder states and the encoder mask -> decoder states and
   * logits [B, T, V]. Decoder right padding needs no mask: real queries never see later keys.
   */
  decode(
    decoderInputIds: tf.Tensor2D | readonly (readonly number[])[],
    encoderHiddenStates: tf.Tensor3D,
    attentionMask?: readonly (readonly number[])[],
    o: T5Gemma2RunOptions = {},
  ): { hiddenStates: tf.Tensor3D; logits: tf.Tensor3D } {
    const ids = toRows(decoderInputIds, 'decoderInputIds');
    const [B, S] = encoderHiddenStates.shape;
    const mask = attentionMask ?? Array.from({ length: B }, () => new Array<number>(S).fill(1));
    const cache = this.startDecoding(encoderHiddenStates, mask);
    const r = this.decodeStepWithStates(cache, ids, o);
    r.cache.dispose();
    return { hiddenStates: r.hiddenStates, logits: r.logits };
  }

  /** Encoder + decoder (teacher forcing). The caller disposes the outputs. */
  forward(
    inputIds: tf.Tensor2D | readonly (readonly number[])[],
    decoderInputIds: tf.Tensor2D | readonly (readonly number[])[],
    // decoderAttentionMask: accepted for T5Gemma's call shape; right pads never reach real positions (causal).
    o: T5Gemma2RunOptions & { attentionMask?: readonly (readonly number[])[]; decoderAttentionMask?: readonly (readonly number[])[] } = {},
  ): T5Gemma2Output {
    const mask = o.attentionMask ?? defaultMask(toRows(inputIds, 'inputIds'), this.config.padTokenId);
    const run = { ...(o.training !== undefined ? { training: o.training } : {}), seed: o.seed ?? this.rng.seed() };
    const encoderHiddenStates = this.encode(inputIds, mask, run);
    const dec = this.decode(decoderInputIds, encoderHiddenStates, mask, { ...run, seed: run.seed + 1 });
    return { encoderHiddenStates, decoderHiddenStates: dec.hiddenStates, logits: dec.logits };
  }

  /** hiddenStates [B, T, D], attentionMask [B][T] -> [B, D] (mean / first / last_non_pad). */
  pool(hiddenStates: tf.Tensor3D, attentionMask: readonly (readonly number[])[], kind: TokenPooling): tf.Tensor2D {
    return maskedPool(hiddenStates, attentionMask, kind);
  }

  protected configJson(dtype: string): Record<string, unknown> {
    return t5gemma2ConfigToJson(this.config, dtype);
  }
}

/** q [B, H, T, K] over kv [B, G, S, K] with bias, then o_proj -> [B, T, D]. */
function attend(q: tf.Tensor4D, kv: LayerKv, bias: tf.Tensor4D, spec: AttentionSpec, oProj: tf.Tensor2D, prob?: (p: tf.Tensor4D) => tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const o = scaledDotProductAttention(q, kv.k, kv.v, { scale: spec.scale, softcap: spec.softcap, bias, ...(prob ? { probDropout: prob } : {}) });
    return linear(mergeHeads(o), oProj);
  });
}

/** Registry loader for model_type "t5gemma2" (text weights only). */
export async function loadT5Gemma2(ckpt: Checkpoint, opts: LoadOptions): Promise<T5Gemma2Model> {
  const config = parseT5Gemma2Config(ckpt.config, ckpt.configPath, opts.ignoreKeys ? { ignoreKeys: opts.ignoreKeys } : {});
  const view = withoutVisionTower(withModelPrefix(ckpt), ['model.encoder.vision_tower.', 'model.encoder.multi_modal_projector.']);
  const params = await loadStrictParams(view, t5gemma2ParameterShapes(config), T5GEMMA2_TIED_WEIGHTS);
  return new T5Gemma2Model(config, params);
}

/** Bare `T5Gemma2Model` exports name tensors `encoder.*` / `decoder.*`: view them under `model.`. */
function withModelPrefix(ckpt: Checkpoint): Checkpoint {
  if (ckpt.tensorNames.some((n) => n.startsWith('model.'))) return ckpt;
  const stored = (name: string): string => (name.startsWith('model.') ? name.slice('model.'.length) : name.startsWith('lm_head.') ? name : `\u0000${name}`);
  return {
    ...ckpt,
    tensorNames: ckpt.tensorNames.map((n) => (n.startsWith('lm_head.') ? n : `model.${n}`)).sort(),
    has: (name) => ckpt.has(stored(name)),
    info: (name) => ckpt.info(stored(name)),
    loadTensor: (name) => ckpt.loadTensor(stored(name)),
    loadFloat32: (name) => ckpt.loadFloat32(stored(name)),
    loadTensorBytes: (name, start, length) => ckpt.loadTensorBytes(stored(name), start, length),
  };
}
