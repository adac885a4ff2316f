/**
 * Float32 data access for kernels on the two backends we override. On `wasm` tensors live on the
 * wasm heap, which may grow (and detach old views) whenever an output is allocated: always
 * allocate the output first, then take input views. On `cpu` the values are plain JS arrays.
 */
import type * as tf from '@tensorflow/tfjs-core';

type TensorInfo = tf.TensorInfo;

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): ArrayLike<number>;
}

interface CpuBackendLike {
  data: { get(dataId: unknown): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): TensorInfo;
}

export type BackendName = 'wasm' | 'cpu';

export interface Storage {
  /** Allocates a float32 output; `values` is valid until the next allocation. */
  output(backend: unknown, shape: number[]): { info: TensorInfo; values: Float32Array };
  /**
   * The float32 values of an input (possibly a converted copy: read only), or undefined when the
   * tensor is not float32 (use the stock kernel).
   */
  read(backend: unknown, t: TensorInfo): Float32Array | undefined;
  /** The tensor's own float32 storage, for in-place updates; undefined when there is none. */
  owned(backend: unknown, t: TensorInfo): Float32Array | undefined;
}

const wasmStorage: Storage = {
  output(backend, shape) {
    const b = backend as WasmBackendLike;
    const info = b.makeOutput(shape, 'float32');
    return { info, values: b.typedArrayFromHeap(info) as Float32Array };
  },
  read(backend, t) {
    if (t.dtype !== 'float32') return undefined;
    const v = (backend as WasmBackendLike).typedArrayFromHeap(t);
    return v instanceof Float32Array ? v : undefined;
  },
  owned(backend, t) {
    return wasmStorage.read(backend, t);
  },
};

const cpuStorage: Storage = {
  output(backend, shape) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    return { info: (backend as CpuBackendLike).makeTensorInfo(shape, 'float32', values), values };
  },
  read(backend, t) {
    if (t.dtype !== 'float32') return undefined;
    const v = (backend as CpuBackendLike).data.get(t.dataId)?.values;
    if (v instanceof Float32Array) return v;
    // The cpu backend's Cast to a wider dtype (int32/bool -> float32) shares the source's Int32Array /
    // Uint8Array under a float32 tensor. Kernels only read inputs, so a float32 copy serves (these are
    // masks and ids, small); in-place writers (AdamW) use `owned`, which refuses such data.
    if (v instanceof Int32Array || v instanceof Uint8Array) return Float32Array.from(v);
    return undefined;
  },
  owned(backend, t) {
    if (t.dtype !== 'float32') return undefined;
    const v = (backend as CpuBackendLike).data.get(t.dataId)?.values;
    return v instanceof Float32Array ? v : undefined;
  },
};

export function storageFor(backendName: BackendName): Storage {
  return backendName === 'wasm' ? wasmStorage : cpuStorage;
}
