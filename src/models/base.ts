/**
 * What every model family shares: HF-named trainable parameters checked against the family's
 * expected set at construction, their count, export as host tensors, checkpoint saving and disposal.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fromFloat32, saveCheckpoint, type HostTensor } from '../checkpoint/index.js';
import { Rng } from '../rng/index.js';
import { checkParamShapes } from './strict.js';

export type StoredDtype = 'F32' | 'F16' | 'BF16';

const HF_DTYPE: Readonly<Record<StoredDtype, string>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

export abstract class ParamModel<C extends { readonly sourcePath: string }> {
  /** Dropout seeds for calls without an explicit seed. */
  protected readonly rng: Rng;

  /** `params`: HF tensor name -> trainable variable, exactly the names and shapes of `expected`. */
  constructor(
    readonly config: C,
    readonly params: Map<string, tf.Variable>,
    expected: ReadonlyMap<string, readonly number[]>,
    seed: number,
  ) {
    checkParamShapes(params, expected, config.sourcePath);
    this.rng = new Rng(seed);
  }

  /** config.json as transformers writes it, declaring `dtype` (HF name, e.g. 'bfloat16'). */
  protected abstract configJson(dtype: string): Record<string, unknown>;

  /** Total number of parameter values. */
  get parameterCount(): number {
    let n = 0;
    for (const v of this.params.values()) n += v.size;
    return n;
  }

  protected w2(name: string): tf.Tensor2D {
    return this.params.get(name) as tf.Tensor2D;
  }

  protected w1(name: string): tf.Tensor1D {
    return this.params.get(name) as tf.Tensor1D;
  }

  /** The parameters as host tensors (F32 by default), keyed by HF name, sorted (tied tensors are not stored). */
  toHostTensors(dtype: StoredDtype = 'F32'): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const name of [...this.params.keys()].sort()) {
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
  }
}
