/**
 * Native Transpose, last-axis Softmax and contiguous-axes Sum for the `cpu` backend, whose stock
 * versions dominate a train step there once matmuls are native (wasm's own are fast and stay).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { NativeLib } from './native.js';
import type { Storage } from './storage.js';

export function makeTranspose(lib: NativeLib, storage: Storage, stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const perm = (args.attrs?.perm as number[] | undefined) ?? [];
    if (x.dtype !== 'float32' || x.shape.length < 1 || x.shape.length > 8 || perm.length !== x.shape.length) return stock(args);
    const out = storage.output(args.backend, perm.map((p) => x.shape[p] as number));
    const X = storage.read(args.backend, x);
    if (!X) throw new Error('native Transpose: float32 input without float32 data');
    lib.transpose(X, out.values, Float64Array.from(x.shape), Float64Array.from(perm));
    return out.info;
  };
}

export function makeSoftmax(lib: NativeLib, storage: Storage, stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { logits } = args.inputs as { logits: tf.TensorInfo };
    const rank = logits.shape.length;
    const dim = Number(args.attrs?.dim ?? -1);
    if (logits.dtype !== 'float32' || rank === 0 || (dim !== -1 && dim !== rank - 1)) return stock(args);
    const out = storage.output(args.backend, logits.shape.slice());
    const X = storage.read(args.backend, logits);
    if (!X) throw new Error('native Softmax: float32 input without float32 data');
    lib.softmaxRows(X, out.values, logits.shape[rank - 1] as number);
    return out.info;
  };
}

/** Sum over one contiguous block of axes (e.g. last axis, or the leading [B, T] of a bias gradient). */
export function makeSum(lib: NativeLib, storage: Storage, stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const rank = x.shape.length;
    const raw = args.attrs?.axis as number | number[] | null | undefined;
    const keepDims = Boolean(args.attrs?.keepDims);
    const given = raw === null || raw === undefined ? x.shape.map((_, i) => i) : Array.isArray(raw) ? raw : [raw];
    const axes = [...new Set(given.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
    const first = axes[0];
    const last = axes[axes.length - 1];
    if (x.dtype !== 'float32' || first === undefined || last === undefined || first < 0 || last >= rank || last - first + 1 !== axes.length) {
      return stock(args);
    }
    const prod = (dims: number[]) => dims.reduce((p, d) => p * d, 1);
    const P = prod(x.shape.slice(0, first));
    const Q = prod(x.shape.slice(first, last + 1));
    const R = prod(x.shape.slice(last + 1));
    const outShape = keepDims ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d)) : [...x.shape.slice(0, first), ...x.shape.slice(last + 1)];
    const out = storage.output(args.backend, outShape);
    const X = storage.read(args.backend, x);
    if (!X) throw new Error('native Sum: float32 input without float32 data');
    lib.sumMiddle(X, out.values, P, Q, R);
    return out.info;
  };
}
