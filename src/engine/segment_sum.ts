/**
 * `UnsortedSegmentSum` in JS: the gradient of `gather` (embedding lookups). The wasm backend has
 * no such kernel, and the stock cpu one takes most of a train step (docs/engine.md).
 */
import type * as tf from '@tensorflow/tfjs-core';

interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}
interface CpuBackend {
  data: { get(dataId: unknown): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array | Int32Array): tf.TensorInfo;
}

type Numbers = Float32Array | Int32Array | Uint8Array;

/**
 * out[s, ...] = sum of x[i, ...] over i with ids[i] == s; ids outside [0, numSegments) are
 * dropped (TensorFlow semantics). x is [I..., R...] with ids of shape [I...]; out is [numSegments, R...].
 */
export function segmentSum(x: Numbers, ids: Numbers, inner: number, out: Float32Array | Int32Array, numSegments: number): void {
  out.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i] as number;
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] = (out[dst + j] as number) + (x[src + j] as number);
  }
}

function shapes(args: Parameters<tf.KernelFunc>[0]) {
  const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = Number(args.attrs?.numSegments);
  const rest = x.shape.slice(segmentIds.shape.length);
  const inner = rest.reduce((a, b) => a * b, 1);
  const dtype: 'float32' | 'int32' = x.dtype === 'int32' ? 'int32' : 'float32';
  return { x, segmentIds, numSegments, outShape: [numSegments, ...rest], inner, dtype };
}

export function makeSegmentSum(backendName: 'wasm' | 'cpu'): tf.KernelFunc {
  if (backendName === 'wasm') {
    return (args) => {
      const { x, segmentIds, numSegments, outShape, inner, dtype } = shapes(args);
      const backend = args.backend as HeapBackend;
      const out = backend.makeOutput(outShape, dtype);
      // Views after makeOutput: the heap may have grown.
      const o = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
      segmentSum(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(segmentIds), inner, o, numSegments);
      return out;
    };
  }
  return (args) => {
    const { x, segmentIds, numSegments, outShape, inner, dtype } = shapes(args);
    const backend = args.backend as CpuBackend;
    const xv = backend.data.get(x.dataId)?.values as Numbers;
    const iv = backend.data.get(segmentIds.dataId)?.values as Numbers;
    const size = outShape.reduce((a, b) => a * b, 1);
    const o = dtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
    segmentSum(xv, iv, inner, o, numSegments);
    return backend.makeTensorInfo(outShape, dtype, o);
  };
}
