/**
 * Gemma 4 text decoder (HF `Gemma4TextModel` / `Gemma4ForCausalLM`, and the text tower of
 * `Gemma4ForConditionalGeneration`), full-sequence forward in float32. docs/gemma4.md states the math.
 *
 * It is the Gemma 3 block (sandwich norms, q/k norm, GQA, per-type RoPE, GeGLU, masks from nn/masks.ts,
 * the shared attention core `scaledDotProductAttention`) with these differences, each a block or a
 * config flag rather than a fork: RMSNorm multiplies by its weight (`rmsNormDirect`) and v gets a
 * weightless norm; attention scale 1.0; per-layer head dim / KV heads; partial "proportional" RoPE on
 * full layers; `k_eq_v` (V is the raw K projection); KV sharing (the last layers reuse an earlier
 * layer's normed, rotated K/V); per-layer embeddings (PLE); MoE beside the dense MLP; `layer_scalar`.
 *
 * Parameter names are the checkpoint's tensor names verbatim (prefix `model.` or `model.language_model.`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Checkpoint } from '../checkpoint/index.js';
import { gemma4ConfigToJson, gemma4InvFreq, parseGemma4Config, type Gemma4Config, type Gemma4Layer } from '../config/gemma4.js';
import type { LayerType } from '../config/gemma.js';
import { mergeHeads, scaledDotProductAttention, softcap } from '../nn/attention.js';
import { linear } from '../nn/linear.js';
import { layerRule, type AttentionMode, type MaskRule } from '../nn/masks.js';
import { gegluMlp, geluTanh } from '../nn/mlp.js';
import { moeExperts } from '../nn/moe.js';
import { rmsNormDirect } from '../nn/norm.js';
import { pool as poolStates, type TokenPooling } from '../nn/pooling.js';
import { applyRope, ropeTablesFromInvFreq, type RopeTables } from '../nn/rope.js';
import { ParamModel, toRows, type HostParams, type LoadOptions, type ModelClass } from './base.js';
import { forwardInputs, type ForwardOptions, type ForwardOutput } from './gemma.js';
import { hostTableFromFloat32, type HostTable } from './host-table.js';
import { randomHostParams, type InitConfig } from './init.js';
import { loadStrictParamsAndTables, variablesFromFloat32 } from './strict.js';

/** Tensors a `gemma4` checkpoint may hold that the text decoder never reads (skipped unread). */
export const GEMMA4_SKIPPED_PREFIXES: readonly string[] = ['model.vision_tower.', 'model.audio_tower.', 'model.embed_vision.', 'model.embed_audio.'];

/** Expected parameters and shapes (HF names). */
export function gemma4ParameterShapes(c: Gemma4Config): Map<string, number[]> {
  const { hiddenSize: D, numAttentionHeads: H, hiddenSizePerLayerInput: P, numHiddenLayers: L } = c;
  const m = c.prefix;
  const shapes = new Map<string, number[]>([[`${m}embed_tokens.weight`, [c.vocabSize, D]]]);
  if (P > 0) {
    shapes.set(`${m}embed_tokens_per_layer.weight`, [c.vocabSizePerLayerInput, L * P]);
    shapes.set(`${m}per_layer_model_projection.weight`, [L * P, D]);
    shapes.set(`${m}per_layer_projection_norm.weight`, [P]);
  }
  c.layers.forEach((l, i) => {
    const p = `${m}layers.${i}.`;
    const K = l.headDim;
    for (const n of ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm']) shapes.set(`${p}${n}.weight`, [D]);
    shapes.set(`${p}layer_scalar`, [1]);
    shapes.set(`${p}self_attn.q_proj.weight`, [H * K, D]);
    shapes.set(`${p}self_attn.q_norm.weight`, [K]);
    shapes.set(`${p}self_attn.o_proj.weight`, [D, H * K]);
    if (!l.kvShared) {
      shapes.set(`${p}self_attn.k_proj.weight`, [l.numKvHeads * K, D]);
      shapes.set(`${p}self_attn.k_norm.weight`, [K]);
      if (!l.kEqV) shapes.set(`${p}self_attn.v_proj.weight`, [l.numKvHeads * K, D]);
    }
    shapes.set(`${p}mlp.gate_proj.weight`, [l.intermediateSize, D]);
    shapes.set(`${p}mlp.up_proj.weight`, [l.intermediateSize, D]);
    shapes.set(`${p}mlp.down_proj.weight`, [D, l.intermediateSize]);
    if (P > 0) {
      shapes.set(`${p}per_layer_input_gate.weight`, [P, D]);
      shapes.set(`${p}per_layer_projection.weight`, [D, P]);
      shapes.set(`${p}post_per_layer_input_norm.weight`, [D]);
    }
    if (c.enableMoeBlock) {
      const E = c.numExperts as number;
      const I = c.moeIntermediateSize as number;
      shapes.set(`${p}router.proj.weight`, [E, D]);
      shapes.set(`${p}router.scale`, [D]);
      shapes.set(`${p}router.per_expert_scale`, [E]);
      shapes.set(`${p}experts.gate_up_proj`, [E, 2 * I, D]);
      shapes.set(`${p}experts.down_proj`, [E, D, I]);
      for (const n of ['post_feedforward_layernorm_1', 'post_feedforward_layernorm_2', 'pre_feedforward_layernorm_2']) shapes.set(`${p}${n}.weight`, [D]);
    }
  });
  shapes.set(`${m}norm.weight`, [D]);
  if (!c.tieWordEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, D]);
  return shapes;
}

/**
 * Parameters kept as frozen host tables (host-table.ts) rather than variables: the PLE table always
 * (only ever gathered; 2.35 G values in E2B, past what one typed array or the float32 budget holds),
 * and `embed_tokens` when asked (`hostEmbeddings`: for an encoder forward it is only gathered too; a
 * tied LM head then widens it for the call that wants logits).
 */
export function gemma4TableNames(c: Gemma4Config, hostEmbeddings = false): Set<string> {
  const names = new Set<string>();
  if (c.hiddenSizePerLayerInput > 0) names.add(`${c.prefix}embed_tokens_per_layer.weight`);
  if (hostEmbeddings) names.add(`${c.prefix}embed_tokens.weight`);
  return names;
}

/** `gemma4ParameterShapes` split into trainable variables and host tables. */
function splitShapes(c: Gemma4Config, tableNames: ReadonlySet<string>): { vars: Map<string, number[]>; tables: Map<string, number[]> } {
  const vars = new Map<string, number[]>();
  const tables = new Map<string, number[]>();
  for (const [name, shape] of gemma4ParameterShapes(c)) (tableNames.has(name) ? tables : vars).set(name, shape);
  return { vars, tables };
}

/** Float32 host params -> variables + host tables (F32) for a fresh model. */
function fromHost(c: Gemma4Config, host: HostParams): { params: Map<string, tf.Variable>; tables: Map<string, HostTable> } {
  const { vars, tables: tableShapes } = splitShapes(c, gemma4TableNames(c));
  const tables = new Map<string, HostTable>();
  for (const name of tableShapes.keys()) {
    const t = host.get(name);
    if (t) tables.set(name, hostTableFromFloat32(name, t.data, t.shape as [number, number]));
  }
  const rest = new Map([...host].filter(([name]) => !tableShapes.has(name)));
  return { params: variablesFromFloat32(rest, vars, c.sourcePath), tables };
}

/** Stored tensors HF ignores on load: K/V projections and norms of KV-shared layers (older exports kept them). */
function ignoredOnLoad(c: Gemma4Config, name: string): boolean {
  if (c.modelType === 'gemma4' && GEMMA4_SKIPPED_PREFIXES.some((p) => name.startsWith(p))) return true;
  const m = new RegExp(`^${c.prefix.replace(/\./g, '\\.')}layers\\.(\\d+)\\.self_attn\\.(k_proj|v_proj|k_norm|v_norm)\\.`).exec(name);
  return m !== null && (c.layers[Number(m[1])]?.kvShared ?? false);
}

/** Float32 host tensors with HF's init: linear/embedding/expert weights N(0, range), pad rows zero, norms and scalars one. */
export function gemma4RandomHost(c: Gemma4Config, seed: number): Map<string, { shape: number[]; data: Float32Array }> {
  const host = randomHostParams(gemma4ParameterShapes(c), c, seed);
  for (const [name, t] of host) {
    if (/norm(_\d)?\.weight$/.test(name) || name.endsWith('layer_scalar') || name.endsWith('router.scale') || name.endsWith('router.per_expert_scale')) t.data.fill(1);
    if (name.endsWith('embed_tokens_per_layer.weight')) {
      const W = t.shape[1] as number;
      t.data.fill(0, c.padTokenId * W, (c.padTokenId + 1) * W);
    }
  }
  return host;
}

export class Gemma4Model extends ParamModel<Gemma4Config> {
  /**
   * `params`: the trainable variables; `tables`: the host tables of `gemma4TableNames` (the PLE table,
   * plus `embed_tokens` when it is stored there instead of in `params`).
   */
  constructor(config: Gemma4Config, params: Map<string, tf.Variable>, tables: Map<string, HostTable> = new Map(), seed = 0) {
    const { vars, tables: tableShapes } = splitShapes(config, gemma4TableNames(config, tables.has(`${config.prefix}embed_tokens.weight`)));
    super(config, params, vars, seed, tables, tableShapes);
  }

  /** Every stored tensor (variables and host tables), as the checkpoint holds them. */
  static readonly parameterShapes = gemma4ParameterShapes;

  /** HF's Gemma 4 init: norms, layer scalars and router scales one (not Gemma 1-3's zero offsets). */
  static override random<C extends InitConfig & { readonly sourcePath: string }, M>(this: ModelClass<C, M>, config: C, seed: number): M {
    const c = config as unknown as Gemma4Config;
    const { params, tables } = fromHost(c, gemma4RandomHost(c, seed));
    return new Gemma4Model(c, params, tables) as unknown as M;
  }

  /** From float32 host data keyed by HF name (the PLE table becomes an F32 host table). */
  static override fromFloat32<C extends { readonly sourcePath: string }, M>(this: ModelClass<C, M>, config: C, tensors: HostParams): M {
    const c = config as unknown as Gemma4Config;
    const { params, tables } = fromHost(c, tensors);
    return new Gemma4Model(c, params, tables) as unknown as M;
  }

  /** A table row gather [B, T, W] or the variable's tf.gather: the same float32 values. */
  private embedRows(name: string, ids: number[][], idsT: tf.Tensor2D): tf.Tensor3D {
    const t = this.tables.get(name);
    return t ? t.gatherTensor(ids) : (tf.gather(this.w2(name), idsT) as tf.Tensor as tf.Tensor3D);
  }

  /** HF "all" runs the whole decoder bidirectionally; otherwise (null / "vision") text is causal. */
  get defaultMode(): AttentionMode {
    return this.config.useBidirectionalAttention === 'all' ? 'bidirectional_sliding_gemma4_hf' : 'causal';
  }

  /** inputIds [B, T] -> final hidden states [B, T, D] (+ logits [B, T, V] after the final softcap). Positions 0..T-1. */
  forward(inputIds: tf.Tensor2D | number[][], opts: ForwardOptions = {}): ForwardOutput {
    const c = this.config;
    // Ids index both tables when PLE is on.
    const vocab = c.hiddenSizePerLayerInput > 0 ? Math.min(c.vocabSize, c.vocabSizePerLayerInput) : c.vocabSize;
    const { ids, B, T, mask, mode, wantLogits, rates, drop, probDropout } = forwardInputs(inputIds, opts, vocab, this.defaultMode, c.attentionDropout, this.rng);
    const eps = c.rmsNormEps;
    const m = c.prefix;
    const positions = Array.from({ length: T }, (_, t) => t);

    return tf.tidy(() => {
      // One mask rule and one RoPE table per layer type (each type has one head dim).
      const perType = new Map<LayerType, { mask: MaskRule; rope: RopeTables }>();
      const tables = (l: Gemma4Layer) => {
        let e = perType.get(l.type);
        if (!e) {
          e = {
            mask: { ...layerRule(mode, l.type, c.slidingWindow), keyMask: mask ?? null },
            rope: ropeTablesFromInvFreq(positions, gemma4InvFreq(c.rope[l.type], l.headDim)),
          };
          perType.set(l.type, e);
        }
        return e;
      };
      const n = (x: tf.Tensor3D, name: string) => rmsNormDirect(x, this.w1(name), eps);

      // 1. scaled embedding; 2. per-layer inputs [B, T, L, P] from the token table and the embedding
      const idsT = tf.tensor2d(ids, [B, T], 'int32');
      let x = tf.mul(this.embedRows(`${m}embed_tokens.weight`, ids, idsT), Math.sqrt(c.hiddenSize)) as tf.Tensor3D; // [B, T, D]
      const P = c.hiddenSizePerLayerInput;
      const L = c.numHiddenLayers;
      let perLayer: tf.Tensor4D | null = null;
      if (P > 0) {
        const x0 = x;
        // Own scope: its [B, T, L*P] intermediates (7 of them, 73 MB each in E2B at B4 T512) are freed here,
        // not held by the outer scope for the whole forward.
        perLayer = tf.tidy(() => {
          // Host table (frozen, stored dtype): its rows for these ids, widened to float32 [B, T, L*P].
          const tok = tf.reshape(tf.mul(this.embedRows(`${m}embed_tokens_per_layer.weight`, ids, idsT), Math.sqrt(P)), [B, T, L, P]);
          let ctx = tf.reshape(tf.mul(linear(x0, this.w2(`${m}per_layer_model_projection.weight`)), c.hiddenSize ** -0.5), [B, T, L, P]) as tf.Tensor4D;
          ctx = rmsNormDirect(ctx, this.w1(`${m}per_layer_projection_norm.weight`), eps);
          return tf.mul(tf.add(ctx, tok), 2 ** -0.5) as tf.Tensor4D;
        });
      }
      x = drop(x, rates.embedding);
      const layerStates = opts.layerStates ? [x] : undefined;

      // 3. layers; K/V kept for the layers other layers share from: [B, G, T, K] after norm and RoPE
      const sources = new Set(c.layers.map((l) => l.kvSource).filter((s): s is number => s !== null));
      const kvStore = new Map<number, { k: tf.Tensor4D; v: tf.Tensor4D }>();
      c.layers.forEach((l, i) => {
        const p = `${m}layers.${i}.`;
        const { mask: rule, rope } = tables(l);
        // One scope per layer, so inference holds one layer's intermediates (only x and shared K/V leave it).
        const out = tf.tidy(() => {
          let x1 = x;
          const a = n(x1, `${p}input_layernorm.weight`);
          const heads = (t: tf.Tensor, h: number) => tf.transpose(tf.reshape(t, [B, T, h, l.headDim]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, h, T, K]
          const proj = (name: string, h: number) => tf.reshape(linear(a, this.w2(`${p}self_attn.${name}.weight`)), [B, T, h, l.headDim]) as tf.Tensor4D;
          const q = applyRope(heads(rmsNormDirect(proj('q_proj', c.numAttentionHeads), this.w1(`${p}self_attn.q_norm.weight`), eps), c.numAttentionHeads), rope);
          let kv = l.kvSource !== null ? kvStore.get(l.kvSource) : undefined;
          let fresh: { k: tf.Tensor4D; v: tf.Tensor4D } | null = null;
          if (!kv) {
            const G = l.numKvHeads;
            const kRaw = proj('k_proj', G);
            const vRaw = l.kEqV ? kRaw : proj('v_proj', G); // k_eq_v: V is the raw K projection (before k_norm and RoPE)
            kv = { k: applyRope(heads(rmsNormDirect(kRaw, this.w1(`${p}self_attn.k_norm.weight`), eps), G), rope), v: heads(rmsNormDirect(vRaw, null, eps), G) };
            fresh = kv;
          }
          const o = scaledDotProductAttention(q, kv.k, kv.v, { scale: 1, softcap: null, mask: rule, ...(probDropout ? { probDropout } : {}) });
          const attn = linear(mergeHeads(o), this.w2(`${p}self_attn.o_proj.weight`));
          x1 = tf.add(x1, drop(n(attn, `${p}post_attention_layernorm.weight`), rates.residual));

          const r = x1;
          let f = gegluMlp(n(r, `${p}pre_feedforward_layernorm.weight`), {
            gateProj: this.w2(`${p}mlp.gate_proj.weight`),
            upProj: this.w2(`${p}mlp.up_proj.weight`),
            downProj: this.w2(`${p}mlp.down_proj.weight`),
        });
        if (c.enableMoeBlock) {
          // The router reads the un-normed residual r; the experts read pre_feedforward_layernorm_2(r).
          const flat = tf.reshape(r, [B * T, c.hiddenSize]) as tf.Tensor2D;
          const weights = {
            routerProj: this.w2(`${p}router.proj.weight`),
            routerScale: this.w1(`${p}router.scale`),
            perExpertScale: this.w1(`${p}router.per_expert_scale`),
            gateUp: this.params.get(`${p}experts.gate_up_proj`) as tf.Tensor3D,
            down: this.params.get(`${p}experts.down_proj`) as tf.Tensor3D,
          };
          const u = rmsNormDirect(flat, this.w1(`${p}pre_feedforward_layernorm_2.weight`), eps);
          const e = tf.reshape(moeExperts(u, flat, weights, c.topKExperts as number, eps), [B, T, c.hiddenSize]) as tf.Tensor3D;
          f = tf.add(n(f, `${p}post_feedforward_layernorm_1.weight`), n(e, `${p}post_feedforward_layernorm_2.weight`));
        }
        x1 = tf.add(r, drop(n(f, `${p}post_feedforward_layernorm.weight`), rates.residual));

        if (perLayer) {
          const pli = tf.reshape(tf.slice(perLayer, [0, 0, i, 0], [B, T, 1, P]), [B, T, P]);
          const g = tf.mul(geluTanh(linear(x1, this.w2(`${p}per_layer_input_gate.weight`))), pli) as tf.Tensor3D; // [B, T, P]
          x1 = tf.add(x1, n(linear(g, this.w2(`${p}per_layer_projection.weight`)), `${p}post_per_layer_input_norm.weight`));
        }
        x1 = tf.mul(x1, this.w1(`${p}layer_scalar`)) as tf.Tensor3D;
        const keep = fresh !== null && sources.has(i) ? [fresh.k, fresh.v] : [];
        return { x: x1, keep };
        });
        x = out.x;
        const [k, v] = out.keep;
        if (k && v) kvStore.set(i, { k, v });
        layerStates?.push(x);
      });

      // 4. final norm; 5. tied output projection and the final softcap
      const hiddenStates = n(x, `${m}norm.weight`);
      const extra = layerStates ? { layerStates } : {};
      if (!wantLogits) return { hiddenStates, ...extra };
      const embedTable = c.tieWordEmbeddings ? this.tables.get(`${m}embed_tokens.weight`) : undefined;
      // A host-stored tied embedding is widened for this call only (the tidy frees it).
      const head = embedTable ? embedTable.toTensor() : this.w2(c.tieWordEmbeddings ? `${m}embed_tokens.weight` : 'lm_head.weight');
      let logits = linear(hiddenStates, head);
      if (c.finalLogitSoftcapping !== null) logits = softcap(logits, c.finalLogitSoftcapping);
      return { hiddenStates, logits, ...extra };
    });
  }

  /** hiddenStates [B, T, D], attentionMask [B, T] -> [B, D] (mean / first / last). */
  pool(hiddenStates: tf.Tensor3D, attentionMask: tf.Tensor2D | number[][], kind: TokenPooling): tf.Tensor2D {
    const [B, T] = hiddenStates.shape;
    const rows = Array.isArray(attentionMask) ? toRows(attentionMask, 'attentionMask', B, T) : null;
    return tf.tidy(() => poolStates(hiddenStates, rows ? tf.tensor2d(rows, [B, T], 'float32') : (attentionMask as tf.Tensor2D), kind));
  }

  protected configJson(dtype: string): Record<string, unknown> {
    return gemma4ConfigToJson(this.config, dtype);
  }
}

/** Registry loader: validates the config, skips towers and HF-ignored shared-layer K/V, loads the rest strictly. */
export async function loadGemma4(ckpt: Checkpoint, opts: LoadOptions): Promise<Gemma4Model> {
  const config = parseGemma4Config(ckpt.config, ckpt.configPath, opts.ignoreKeys ? { ignoreKeys: opts.ignoreKeys } : {});
  const names = ckpt.tensorNames.filter((name) => !ignoredOnLoad(config, name));
  const view: Checkpoint = {
    dir: ckpt.dir,
    configPath: ckpt.configPath,
    config: ckpt.config,
    tensorNames: names,
    has: (name) => ckpt.has(name) && !ignoredOnLoad(config, name),
    info: (name) => ckpt.info(name),
    loadTensor: (name) => ckpt.loadTensor(name),
    loadFloat32: (name) => ckpt.loadFloat32(name),
    loadTensorBytes: (name, start, length) => ckpt.loadTensorBytes(name, start, length),
  };
  const tied: Record<string, string> = config.tieWordEmbeddings ? { 'lm_head.weight': `${config.prefix}embed_tokens.weight` } : {};
  const { params, tables } = await loadStrictParamsAndTables(view, gemma4ParameterShapes(config), tied, gemma4TableNames(config, opts.hostEmbeddings ?? false));
  return new Gemma4Model(config, params, tables);
}
