/**
 * Embedding lookups in JS on the backend's memory: `GatherV2` as row copies, and its gradient
 * `UnsortedSegmentSum`. Stock wasm gathers element by element (7 ms for 512 rows of 640 floats,
 * a tenth of a tiny-Gemma forward) and has no segment sum at all; the stock cpu segment sum takes
 * most of a train step (docs/engine.md).
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

/**
 * out[o, i, :] = x[o, ids[i], :] for x [outer, axisDim, inner], out [outer, ids.length, inner].
 * Returns false, writing nothing, when an id is outside [0, axisDim) (the stock kernel then reports it).
 */
export function gatherRows(x: Float32Array, ids: Int32Array, outer: number, axisDim: number, inner: number, out: Float32Array): boolean {
  if (!idsInRange(ids, axisDim)) return false;
  const n = ids.length;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < n; i++) {
      const src = (o * axisDim + (ids[i] as number)) * inner;
      out.set(x.subarray(src, src + inner), (o * n + i) * inner);
    }
  }
  return true;
}

function idsInRange(ids: Int32Array, axisDim: number): boolean {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    if (id < 0 || id >= axisDim) return false;
  }
  return true;
}

/** [outer, axisDim, inner] around the gather axis, and the output shape; undefined for what the row copy does not cover. */
function gatherPlan(args: Parameters<tf.KernelFunc>[0]) {
  const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const rank = x.shape.length;
  const axisAttr = Number(args.attrs?.axis ?? 0);
  const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  if (Number(args.attrs?.batchDims ?? 0) !== 0 || x.dtype !== 'float32' || indices.dtype !== 'int32' || axis < 0 || axis >= rank) return undefined;
  const prod = (d: number[]) => d.reduce((a, b) => a * b, 1);
  const outShape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
  return { x, indices, outer: prod(x.shape.slice(0, axis)), axisDim: x.shape[axis] as number, inner: prod(x.shape.slice(axis + 1)), outShape };
}

/** GatherV2 for float32 data and int32 ids (batchDims 0); everything else, and bad ids, go to the stock kernel. */
export function makeGather(backendName: 'wasm' | 'cpu', stock: tf.KernelFunc): tf.KernelFunc {
  if (backendName === 'wasm') {
    return (args) => {
      const plan = gatherPlan(args);
      if (!plan) return stock(args);
      const backend = args.backend as HeapBackend;
      if (!idsInRange(backend.typedArrayFromHeap(plan.indices) as Int32Array, plan.axisDim)) return stock(args);
      const out = backend.makeOutput(plan.outShape, 'float32');
      // Views after makeOutput: the heap may have grown.
      const o = backend.typedArrayFromHeap(out) as Float32Array;
      gatherRows(backend.typedArrayFromHeap(plan.x) as Float32Array, backend.typedArrayFromHeap(plan.indices) as Int32Array, plan.outer, plan.axisDim, plan.inner, o);
      return out;
    };
  }
  return (args) => {
    const plan = gatherPlan(args);
    const backend = args.backend as CpuBackend;
    const xv = plan && backend.data.get(plan.x.dataId)?.values;
    const iv = plan && backend.data.get(plan.indices.dataId)?.values;
    if (!plan || !(xv instanceof Float32Array) || !(iv instanceof Int32Array)) return stock(args);
    const o = new Float32Array(plan.outShape.reduce((a, b) => a * b, 1));
    if (!gatherRows(xv, iv, plan.outer, plan.axisDim, plan.inner, o)) return stock(args);
    return backend.makeTensorInfo(plan.outShape, 'float32', o);
  };
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
