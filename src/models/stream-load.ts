/**
 * Loading a stored tensor into a trainable float32 variable without a float32 copy on the JS side:
 * on the wasm and cpu backends the variable's storage is allocated first and the stored bytes are
 * widened straight into it (BF16 `u16 << 16`, F32 copied), so a load's transient memory is the stored
 * bytes of one tensor rather than stored + aligned copy + float32 array + backend copy. Other backends
 * (or a backend whose internals differ) take the plain path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { numElements, toFloat32, type HostTensor } from '../checkpoint/index.js';

/**
 * A trainable, unnamed (tfjs variable names are global) variable holding `value`; `value` is disposed.
 * tfjs variables share the tensor's data and add a reference, so keeping `value` would leak it.
 */
export function variableFrom(value: tf.Tensor): tf.Variable {
  const v = tf.variable(value, true);
  value.dispose();
  return v;
}

interface WasmLike {
  readonly dataIdMap: { get(id: object): { memoryOffset?: number } | undefined };
  readonly wasm: { readonly HEAPU8: Uint8Array };
}
interface CpuLike {
  readonly data: { get(id: object): { values?: unknown } | undefined };
}

/** A zero float32 tensor of `shape` and a writable view of its backend storage, or null. */
function writableFloat32(shape: readonly number[], n: number): { tensor: tf.Tensor; view: Float32Array } | null {
  const backend = tf.getBackend();
  if (n === 0 || (backend !== 'wasm' && backend !== 'cpu')) return null;
  const tensor = tf.zeros([...shape], 'float32');
  try {
    if (backend === 'wasm') {
      const b = tf.backend() as unknown as WasmLike;
      const off = b.dataIdMap?.get(tensor.dataId)?.memoryOffset;
      const heap = b.wasm?.HEAPU8;
      if (typeof off === 'number' && heap instanceof Uint8Array && off % 4 === 0 && off + n * 4 <= heap.buffer.byteLength)
        return { tensor, view: new Float32Array(heap.buffer, off, n) };
    } else {
      const values = (tf.backend() as unknown as CpuLike).data?.get(tensor.dataId)?.values;
      if (values instanceof Float32Array && values.length === n) return { tensor, view: values };
    }
  } catch {
    // internals not as expected: plain path
  }
  tensor.dispose();
  return null;
}

/** `raw` (shape already checked) -> trainable float32 variable. */
export function variableFromHost(raw: HostTensor, shape: readonly number[], name: string): tf.Variable {
  const n = numElements(shape);
  if (raw.dtype === 'BF16' || raw.dtype === 'F32') {
    const target = writableFloat32(shape, n);
    if (target) {
      const src = raw.data;
      if (src.length !== n * (raw.dtype === 'BF16' ? 2 : 4)) {
        target.tensor.dispose();
        return variableFrom(tf.tensor(toFloat32(raw, name), [...shape], 'float32')); // toFloat32 reports the size error
      }
      if (raw.dtype === 'F32') new Uint8Array(target.view.buffer, target.view.byteOffset, n * 4).set(src);
      else {
        const out = new Uint32Array(target.view.buffer, target.view.byteOffset, n);
        for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = ((src[j] as number) | ((src[j + 1] as number) << 8)) << 16;
      }
      return variableFrom(target.tensor);
    }
  }
  return variableFrom(tf.tensor(toFloat32(raw, name), [...shape], 'float32'));
}
