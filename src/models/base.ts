/**
 * What every model family shares: HF-named trainable parameters checked against the family's
 * expected set at construction (also from host data or a seeded random init), their count, export
 * as host tensors, checkpoint saving and disposal; the input checks of every forward pass; the
 * sandwich residual sub-block of the Gemma-family stacks.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ResolveOptions } from '../checkpoint/hub.js';
import { fromFloat32, saveCheckpoint, type StoredTensor } from '../checkpoint/index.js';
import type { AttentionWeights } from '../nn/attention.js';
import type { MlpWeights } from '../nn/mlp.js';
import { rmsNorm } from '../nn/norm.js';
import { pool, type TokenPooling } from '../nn/pooling.js';
import { Rng } from '../rng/index.js';
import type { HostTable } from './host-table.js';
import { randomHostParams, type InitConfig } from './init.js';
import { checkParamShapes, variablesFromFloat32 } from './strict.js';

/** How a checkpoint is loaded (every family's loader takes it). */
export interface LoadOptions {
  /** config.json keys the caller has vetted as irrelevant to the math (see config KNOWN_IRRELEVANT_KEYS). */
  readonly ignoreKeys?: readonly string[];
  /** For `hf://` sources: cache dir, offline mode, endpoint, token, progress (checkpoint/hub.ts). */
  readonly hub?: ResolveOptions;
  /** Where one-line notes go (e.g. vision tensors skipped, not read). Default: console.info. */
  readonly onInfo?: (line: string) => void;
  /**
   * Gemma 4: keep `embed_tokens` on the host in its stored dtype, frozen (host-table.ts), like the PLE
   * table: E2B's [262144, 1536] table is 0.75 GiB in BF16 instead of 1.5 GiB float32. For inference and
   * frozen-embedding fine-tuning of models too big otherwise; a tied LM head widens it per logits call.
   * Other families ignore it.
   */
  readonly hostEmbeddings?: boolean;
}

export type StoredDtype = 'F32' | 'F16' | 'BF16';

const HF_DTYPE: Readonly<Record<StoredDtype, string>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

export abstract class ParamModel<C extends { readonly sourcePath: string }> {
  /** Dropout seeds for calls without an explicit seed. */
  protected readonly rng: Rng;

  /**
   * `params`: HF tensor name -> trainable variable, exactly the names and shapes of `expected`.
   * `tables`: HF tensor name -> frozen host lookup table (host-table.ts), exactly those of `expectedTables`;
   * not variables, so no optimizer or gradient sees them; counted, saved and disposed with the rest.
   */
  constructor(
    readonly config: C,
    readonly params: Map<string, tf.Variable>,
    expected: ReadonlyMap<string, readonly number[]>,
    seed: number,
    readonly tables: Map<string, HostTable> = new Map(),
    expectedTables: ReadonlyMap<string, readonly number[]> = new Map(),
  ) {
    checkParamShapes(params, expected, config.sourcePath);
    checkParamShapes(tables, expectedTables, config.sourcePath);
    this.rng = new Rng(seed);
  }

  /** Builds a model of this family from float32 host data keyed by HF name (copies into variables). */
  static fromFloat32<C extends { readonly sourcePath: string }, M>(this: ModelClass<C, M>, config: C, tensors: HostParams): M {
    return new this(config, variablesFromFloat32(tensors, this.parameterShapes(config), config.sourcePath));
  }

  /**
   * HF-like random init (`_init_weights`): linear and embedding weights ~ N(0, initializer_range),
   * the padding row of every embedding zero, RMSNorm offsets zero (so the norm scale is 1).
   */
  static random<C extends InitConfig & { readonly sourcePath: string }, M>(this: ModelClass<C, M>, config: C, seed: number): M {
    const shapes = this.parameterShapes(config);
    return new this(config, variablesFromFloat32(randomHostParams(shapes, config, seed), shapes, config.sourcePath));
  }

  /** config.json as transformers writes it, declaring `dtype` (HF name, e.g. 'bfloat16'). */
  protected abstract configJson(dtype: string): Record<string, unknown>;

  /** Total number of parameter values (frozen host tables included, as HF counts them). */
  get parameterCount(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    for (const t of this.tables.values()) n += t.size;
    return n;
  }

  /**
   * One residual sub-block: x + drop(post(f(pre(x)))), post-norm skipped when `post` is null (Gemma 1).
   * pre/post: names of RMSNorm weights [D]; x: [B, T, D].
   */
  protected subBlock(
    x: tf.Tensor3D,
    pre: string,
    post: string | null,
    eps: number,
    drop: <T extends tf.Tensor>(t: T) => T,
    f: (h: tf.Tensor3D) => tf.Tensor3D,
  ): tf.Tensor3D {
    const out = f(rmsNorm(x, this.w1(pre), eps));
    return tf.add(x, drop(post === null ? out : rmsNorm(out, this.w1(post), eps)));
  }

  /** `prefix` + {q,k,v,o}_proj weights, with q_norm / k_norm when the checkpoint has them (Gemma 3 style). */
  protected attnWeights(prefix: string): AttentionWeights {
    const qk = this.params.has(`${prefix}q_norm.weight`) ? { qNorm: this.w1(`${prefix}q_norm.weight`), kNorm: this.w1(`${prefix}k_norm.weight`) } : {};
    return {
      qProj: this.w2(`${prefix}q_proj.weight`),
      kProj: this.w2(`${prefix}k_proj.weight`),
      vProj: this.w2(`${prefix}v_proj.weight`),
      oProj: this.w2(`${prefix}o_proj.weight`),
      ...qk,
    };
  }

  /** `prefix` + {gate,up,down}_proj weights of a GeGLU MLP. */
  protected mlpWeights(prefix: string): MlpWeights {
    return { gateProj: this.w2(`${prefix}gate_proj.weight`), upProj: this.w2(`${prefix}up_proj.weight`), downProj: this.w2(`${prefix}down_proj.weight`) };
  }

  /**
   * Dropout closures for one call, seeded from `o.seed` or the model's stream: identity unless
   * training with a non-zero rate. `prob` drops attention probabilities [B, H, T, S], or is undefined.
   */
  protected dropouts(o: { readonly training?: boolean; readonly seed?: number }, hiddenRate: number, attentionRate: number) {
    const on = o.training ?? false;
    const rng = new Rng(o.seed ?? this.rng.seed());
    const make = (rate: number) =>
      on && rate > 0 ? <T extends tf.Tensor>(x: T): T => tf.dropout(x, rate, undefined, rng.seed()) as T : <T extends tf.Tensor>(x: T): T => x;
    const attention = make(attentionRate);
    return { hidden: make(hiddenRate), prob: on && attentionRate > 0 ? (p: tf.Tensor4D) => attention(p) : undefined };
  }

  /**
   * Recompute each layer's activations in the backward pass instead of keeping them (engine/recompute.ts):
   * a backward pass then holds one layer's intermediates, not the stack's, at the cost of one more
   * forward. Applies under a gradient tape without dropout; the results are the same.
   */
  recomputeLayers = false;

  /** Weights a recomputed block reads in place of the variables (its customGrad inputs). */
  private paramOverride: ReadonlyMap<string, tf.Tensor> | undefined;

  /** Runs `f` with `w1`/`w2` reading `override` first. */
  protected withParams<T>(override: ReadonlyMap<string, tf.Tensor>, f: () => T): T {
    const prev = this.paramOverride;
    this.paramOverride = override;
    try {
      return f();
    } finally {
      this.paramOverride = prev;
    }
  }

  protected w2(name: string): tf.Tensor2D {
    return (this.paramOverride?.get(name) ?? this.params.get(name)) as tf.Tensor2D;
  }

  protected w1(name: string): tf.Tensor1D {
    return (this.paramOverride?.get(name) ?? this.params.get(name)) as tf.Tensor1D;
  }

  /**
   * The parameters as host tensors (F32 by default), keyed by HF name, sorted (tied tensors are not stored).
   * Host tables go as their stored bytes (HostTable.toStored: a BF16 table stays BF16 whatever `dtype`).
   */
  toHostTensors(dtype: StoredDtype = 'F32'): Map<string, StoredTensor> {
    const out = new Map<string, StoredTensor>();
    for (const name of [...this.params.keys(), ...this.tables.keys()].sort()) {
      const t = this.tables.get(name);
      if (t) {
        out.set(name, t.toStored(dtype));
        continue;
      }
      const v = this.params.get(name) as tf.Variable;
      out.set(name, fromFloat32(v.dataSync() as Float32Array, v.shape, dtype));
    }
    return out;
  }

  /** Writes config.json + safetensors that HF transformers (and `loadModel`) can read back. */
  async save(dir: string, dtype: StoredDtype = 'F32'): Promise<void> {
    await saveCheckpoint(dir, { config: this.configJson(HF_DTYPE[dtype]), tensors: this.toHostTensors(dtype) });
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
    this.tables.clear();
  }
}

/** Host float32 tensors keyed by HF name. */
export type HostParams = ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>;

/** A family's class as ParamModel's static builders see it. */
export interface ModelClass<C, M> {
  new (config: C, params: Map<string, tf.Variable>): M;
  /** HF tensor name -> shape, for a config. */
  parameterShapes(config: C): Map<string, number[]>;
}

/** number[][] from a tensor or nested array, checked to be rectangular (and [B, T] when given). */
export function toRows(x: tf.Tensor2D | readonly (readonly number[])[], what: string, B?: number, T?: number): number[][] {
  const rows = (Array.isArray(x) ? x : (x as tf.Tensor2D).arraySync()) as number[][];
  if (rows.length === 0) throw new RangeError(`${what}: empty batch`);
  if (B !== undefined && rows.length !== B) throw new RangeError(`${what}: ${rows.length} rows, expected ${B}`);
  const width = T ?? (rows[0] as number[]).length;
  if (width === 0) throw new RangeError(`${what}: empty sequence`);
  rows.forEach((r, b) => {
    if (!Array.isArray(r) || r.length !== width) throw new RangeError(`${what}: row ${b} has length ${Array.isArray(r) ? r.length : '?'}, expected ${width}`);
  });
  return rows;
}

/** Token ids [B][T], every one an integer in [0, vocabSize). */
export function tokenRows(x: tf.Tensor2D | readonly (readonly number[])[], what: string, vocabSize: number): number[][] {
  const rows = toRows(x, what);
  rows.forEach((row, b) =>
    row.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new RangeError(`${what}[${b}][${t}] = ${id} is not a token id in [0, ${vocabSize})`);
    }),
  );
  return rows;
}

/** An attention mask [B][T] of 0/1. */
export function maskRows(x: tf.Tensor2D | readonly (readonly number[])[], what: string, B: number, T: number): number[][] {
  const rows = toRows(x, what, B, T);
  rows.forEach((row, b) =>
    row.forEach((m, t) => {
      if (m !== 0 && m !== 1) throw new RangeError(`${what}[${b}][${t}] = ${m}, expected 0 or 1`);
    }),
  );
  return rows;
}

/** hiddenStates [B, T, D] pooled over the real tokens of attentionMask [B][T] (checked 0/1) -> [B, D]. */
export function maskedPool(hiddenStates: tf.Tensor3D, attentionMask: readonly (readonly number[])[], kind: TokenPooling): tf.Tensor2D {
  const [B, T] = hiddenStates.shape;
  const rows = maskRows(attentionMask, 'attentionMask', B, T);
  return tf.tidy(() => pool(hiddenStates, tf.tensor2d(rows, [B, T], 'float32'), kind));
}
