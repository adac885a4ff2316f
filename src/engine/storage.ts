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
  /** The float32 data of an input, or undefined when it is not float32 data (use the stock kernel). */
  read(backend: unknown, t: TensorInfo): Float32Array | undefined;
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
};

const cpuStorage: Storage = {
  output(backend, shape) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    return { info: (backend as CpuBackendLike).makeTensorInfo(shape, 'float32', values), values };
  },
  read(backend, t) {
    if (t.dtype !== 'float32') return undefined;
    const v = (backend as CpuBackendLike).data.get(t.dataId)?.values;
    return v instanceof Float32Array ? v : undefined;
  },
};

export function storageFor(backendName: BackendName): Storage {
  return backendName === 'wasm' ? wasmStorage : cpuStorage;
}
