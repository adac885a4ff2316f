/**
 * Gemma 1 / 2 / 3 (text) decoder stack, HF transformers 4.57 semantics (modeling_gemma.py,
 * modular_gemma2.py, modular_gemma3.py), computed in float32. The exact rules are in
 * docs/conventions.md; the parity tests hold this file to them.
 *
 * Parameter names are the checkpoint's tensor names verbatim, so loading is a lookup.
 * Variants are values of the config (sandwichNorms, qkNorm, softcaps, layerTypes, rope per layer
 * type), and attention modes are mask predicates (nn/masks.ts), not forks of this code.
 *
 * Embedding scale: HF multiplies by sqrt(D) cast to the activation dtype (bf16 rounds it, e.g.
 * sqrt(2304)=48 exactly but sqrt(1152)=33.94 -> 34.0; transformers#38702). We compute in float32 and
 * use float32 sqrt(D), as docs/conventions.md (and HF run in float32) does; bf16-run HF logits of large
 * checkpoints therefore differ slightly from ours by design.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GemmaConfig, LayerType } from '../config/gemma.js';
import { gemmaConfigToJson } from '../config/gemma.js';
import { Rng } from '../rng/index.js';
import { attention, softcap } from '../nn/attention.js';
import { recompute, tapeRecording } from '../engine/recompute.js';
import { linear } from '../nn/linear.js';
import type { AttentionMode } from '../nn/masks.js';
import { gegluMlp } from '../nn/mlp.js';
import { rmsNorm } from '../nn/norm.js';
import type { RopeTables } from '../nn/rope.js';
import { pool as poolStates, type TokenPooling } from '../nn/pooling.js';
import { maskRows, ParamModel, tokenRows, toRows } from './base.js';
import { attentionSpec, selfAttentionTables } from './stack.js';

export type { AttentionMode } from '../nn/masks.js';
export type { Pooling, TokenPooling } from '../nn/pooling.js';

/** Ties declared as data: the tensor that stands in for an absent one (HF `_tied_weights_keys`). */
export const GEMMA_TIED_WEIGHTS: Readonly<Record<string, string>> = Object.freeze({
  'lm_head.weight': 'model.embed_tokens.weight',
});

export interface DropoutRates {
  /** After the scaled embedding. */
  readonly embedding?: number;
  /** On attention probabilities. Default: config.attentionDropout. */
  readonly attention?: number;
  /** On each sub-block output (after its post-norm), before the residual add. */
  readonly residual?: number;
}

export interface ForwardOptions {
  /** [B, T], 1 = real token, 0 = pad. Default: all ones. */
  readonly attentionMask?: tf.Tensor2D | number[][];
  /** Default: 'causal' (or 'bidirectional_sliding_gemma3_hf' when the config sets use_bidirectional_attention). */
  readonly attention?: AttentionMode;
  /** Compute logits. Default: true in causal mode only. */
  readonly logits?: boolean;
  /** Enables dropout (rates from `dropout`). Default: false. */
  readonly training?: boolean;
  readonly dropout?: DropoutRates;
  /** Seed for the dropout masks of this call; default: the model's own stream. */
  readonly seed?: number;
  /** Also return the residual stream after the embedding and after each layer (for debugging parity). */
  readonly layerStates?: boolean;
}

/**
 * The per-call inputs every decoder forward pass (Gemma 1/2/3, Gemma 4) derives the same way: checked
 * ids [B, T] (below `vocabSize`), padding mask [B, T] or null, attention mode, whether to compute
 * logits, dropout rates (zero unless training) and a dropout seeded from `opts.seed` or `rng`.
 */
export function forwardInputs(
  inputIds: tf.Tensor2D | number[][],
  opts: ForwardOptions,
  vocabSize: number,
  defaultMode: AttentionMode,
  attentionDropout: number,
  rng: Rng,
) {
  const ids = tokenRows(inputIds, 'inputIds', vocabSize);
  const B = ids.length;
  const T = (ids[0] as number[]).length;
  const mask = opts.attentionMask === undefined ? null : maskRows(opts.attentionMask, 'attentionMask', B, T);
  const mode = opts.attention ?? defaultMode;
  const wantLogits = opts.logits ?? mode === 'causal';
  const training = opts.training ?? false;
  const rates = {
    embedding: training ? (opts.dropout?.embedding ?? 0) : 0,
    attention: training ? (opts.dropout?.attention ?? attentionDropout) : 0,
    residual: training ? (opts.dropout?.residual ?? 0) : 0,
  };
  const dropRng = new Rng(opts.seed ?? rng.seed());
  const drop = <X extends tf.Tensor>(x: X, rate: number): X => (rate > 0 ? (tf.dropout(x, rate, undefined, dropRng.seed()) as X) : x);
  const probDropout = rates.attention > 0 ? (p: tf.Tensor4D) => drop(p, rates.attention) : undefined;
  return { ids, B, T, mask, mode, wantLogits, rates, drop, probDropout };
}

/** A type alias (not an interface) so it is a tf.TensorContainer: `tf.dispose(out)` works. */
export type ForwardOutput = {
  /** Final-norm output [B, T, D]. */
  readonly hiddenStates: tf.Tensor3D;
  /** [B, T, V], final softcap applied. */
  readonly logits?: tf.Tensor3D;
  /** With `layerStates`: [scaled embedding, after layer 0, ..., after layer L-1], each [B, T, D], before the final norm. */
  readonly layerStates?: tf.Tensor3D[];
};

/** Expected parameters and shapes for a config (HF names). */
export function gemmaParameterShapes(c: GemmaConfig): Map<string, number[]> {
  const { hiddenSize: D, intermediateSize: F, numAttentionHeads: H, numKeyValueHeads: G, headDim: K } = c;
  const shapes = new Map<string, number[]>([['model.embed_tokens.weight', [c.vocabSize, D]]]);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `model.layers.${i}.`;
    shapes.set(`${p}self_attn.q_proj.weight`, [H * K, D]);
    shapes.set(`${p}self_attn.k_proj.weight`, [G * K, D]);
    shapes.set(`${p}self_attn.v_proj.weight`, [G * K, D]);
    shapes.set(`${p}self_attn.o_proj.weight`, [D, H * K]);
    if (c.qkNorm) {
      shapes.set(`${p}self_attn.q_norm.weight`, [K]);
      shapes.set(`${p}self_attn.k_norm.weight`, [K]);
    }
    shapes.set(`${p}mlp.gate_proj.weight`, [F, D]);
    shapes.set(`${p}mlp.up_proj.weight`, [F, D]);
    shapes.set(`${p}mlp.down_proj.weight`, [D, F]);
    shapes.set(`${p}input_layernorm.weight`, [D]);
    if (c.preNormsOnly) {
      shapes.set(`${p}pre_feedforward_layernorm.weight`, [D]);
      continue;
    }
    shapes.set(`${p}post_attention_layernorm.weight`, [D]);
    if (c.sandwichNorms) {
      shapes.set(`${p}pre_feedforward_layernorm.weight`, [D]);
      shapes.set(`${p}post_feedforward_layernorm.weight`, [D]);
    }
  }
  shapes.set('model.norm.weight', [D]);
  if (!c.tieWordEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, D]);
  return shapes;
}

export class GemmaModel extends ParamModel<GemmaConfig> {
  /** `params`: HF tensor name -> trainable variable, exactly the set `gemmaParameterShapes(config)` lists. */
  constructor(config: GemmaConfig, params: Map<string, tf.Variable>, seed = 0) {
    super(config, params, gemmaParameterShapes(config), seed);
  }

  static readonly parameterShapes = gemmaParameterShapes;

  /** The attention mode used when `forward` is given none. */
  get defaultMode(): AttentionMode {
    return this.config.useBidirectionalAttention ? 'bidirectional_sliding_gemma3_hf' : 'causal';
  }

  /**
   * inputIds [B, T] -> final hidden states [B, T, D] (+ logits [B, T, V]). Positions are 0..T-1 in
   * every row (padding goes on the right). The caller owns (and disposes) the returned tensors.
   */
  forward(inputIds: tf.Tensor2D | number[][], opts: ForwardOptions = {}): ForwardOutput {
    const c = this.config;
    const { ids, B, T, mask, mode, wantLogits, rates, drop, probDropout } = forwardInputs(inputIds, opts, c.vocabSize, this.defaultMode, c.attentionDropout, this.rng);

    return tf.tidy(() => {
      // One mask rule and one RoPE table per layer type, shared by the layers of that type.
      const forType = selfAttentionTables(c, mode, mask, B, T);
      const spec = attentionSpec(c);
      const eps = c.rmsNormEps;
      const dropResidual = <T extends tf.Tensor>(t: T): T => drop(t, rates.residual);
      const dropoutOn = rates.embedding > 0 || rates.residual > 0 || probDropout !== undefined;

      // 1. embed and scale by sqrt(D)
      const idsT = tf.tensor2d(ids, [B, T], 'int32');
      let x = tf.mul(tf.gather(this.w2('model.embed_tokens.weight'), idsT), Math.sqrt(c.hiddenSize)) as tf.Tensor3D; // [B, T, D]
      x = drop(x, rates.embedding);
      const layerStates = opts.layerStates ? [x] : undefined;

      // 2. decoder layers
      for (let i = 0; i < c.numHiddenLayers; i++) {
        const p = `model.layers.${i}.`;
        const { mask: rule, rope: ropeOfType } = forType(c.layerTypes[i] as LayerType);
        const layer = (xIn: tf.Tensor3D, rope: RopeTables): tf.Tensor3D => {
          const selfAttn = (h: tf.Tensor3D) =>
            attention(
              h,
              h,
              {
                qProj: this.w2(`${p}self_attn.q_proj.weight`),
                kProj: this.w2(`${p}self_attn.k_proj.weight`),
                vProj: this.w2(`${p}self_attn.v_proj.weight`),
                oProj: this.w2(`${p}self_attn.o_proj.weight`),
                ...(c.qkNorm ? { qNorm: this.w1(`${p}self_attn.q_norm.weight`), kNorm: this.w1(`${p}self_attn.k_norm.weight`) } : {}),
              },
              spec,
              { rope: { q: rope, k: rope }, mask: rule, ...(probDropout ? { probDropout } : {}) },
            );
          const mlp = (h: tf.Tensor3D) =>
            gegluMlp(h, { gateProj: this.w2(`${p}mlp.gate_proj.weight`), upProj: this.w2(`${p}mlp.up_proj.weight`), downProj: this.w2(`${p}mlp.down_proj.weight`) });
          // One tidy per layer: a layer's intermediates are freed when it ends (inference memory is one
          // layer's, not the stack's; under a gradient tape the tensors backprop needs are kept by tfjs).
          return tf.tidy(() => {
            if (c.sandwichNorms) {
              // Gemma 2/3: x += post_attn(attn(in(x))); x += post_ff(mlp(pre_ff(x)))
              const y = this.subBlock(xIn, `${p}input_layernorm.weight`, `${p}post_attention_layernorm.weight`, eps, dropResidual, selfAttn);
              return this.subBlock(y, `${p}pre_feedforward_layernorm.weight`, `${p}post_feedforward_layernorm.weight`, eps, dropResidual, mlp);
            }
            // Gemma 1: x += attn(in(x)); x += mlp(post_attention_layernorm(x)) (that norm is the pre-MLP norm);
            // VaultGemma: the same two sub-blocks with the pre-MLP norm named pre_feedforward_layernorm.
            const y = this.subBlock(xIn, `${p}input_layernorm.weight`, null, eps, dropResidual, selfAttn);
            const preMlp = c.preNormsOnly ? `${p}pre_feedforward_layernorm.weight` : `${p}post_attention_layernorm.weight`;
            return this.subBlock(y, preMlp, null, eps, dropResidual, mlp);
          });
        };
        if (this.recomputeLayers && !dropoutOn && tapeRecording()) {
          // The layer as one tape node keeping only its inputs (engine/recompute.ts): weights and RoPE
          // tables go in as inputs so the recomputation reads them (and the weights get gradients).
          const names = [...this.params.keys()].filter((n) => n.startsWith(p));
          const inputs = [x, ropeOfType.cos, ropeOfType.sin, ropeOfType.rotate, ...names.map((n) => this.params.get(n) as tf.Tensor)];
          x = recompute(([xi, cos, sin, rotate, ...ws]) => {
            const rope: RopeTables = { cos: cos as tf.Tensor2D, sin: sin as tf.Tensor2D, rotate: rotate as tf.Tensor2D };
            return this.withParams(new Map(names.map((n, k) => [n, ws[k] as tf.Tensor])), () => layer(xi as tf.Tensor3D, rope));
          }, inputs);
        } else {
          x = layer(x, ropeOfType);
        }
        layerStates?.push(x);
      }

      // 3. final norm, 4. tied (or separate) output projection with the final softcap
      const hiddenStates = rmsNorm(x, this.w1('model.norm.weight'), eps);
      const extra = layerStates ? { layerStates } : {};
      if (!wantLogits) return { hiddenStates, ...extra };
      const head = this.w2(c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
      let logits = linear(hiddenStates, head); // [B, T, V]
      if (c.finalLogitSoftcapping !== null) logits = softcap(logits, c.finalLogitSoftcapping);
      return { hiddenStates, logits, ...extra };
    });
  }

  /** hiddenStates [B, T, D], attentionMask [B, T] -> [B, D] (mean / first / last). */
  pool(hiddenStates: tf.Tensor3D, attentionMask: tf.Tensor2D | number[][], kind: TokenPooling): tf.Tensor2D {
    const [B, T] = hiddenStates.shape;
    if (Array.isArray(attentionMask)) {
      const rows = toRows(attentionMask, 'attentionMask', B, T);
      return tf.tidy(() => poolStates(hiddenStates, tf.tensor2d(rows, [B, T], 'float32'), kind));
    }
    if (attentionMask.shape[0] !== B || attentionMask.shape[1] !== T)
      throw new RangeError(`attentionMask: shape [${attentionMask.shape.join(', ')}], expected [${B}, ${T}]`);
    return poolStates(hiddenStates, attentionMask, kind);
  }

  protected configJson(dtype: string): Record<string, unknown> {
    return gemmaConfigToJson(this.config, dtype);
  }
}
