/**
 * Native elementwise kernels (the hot ones of a Gemma train step): same-shape, plus binary ops where
 * one operand broadcasts as a scalar, a trailing block ([D] onto [B,T,D]) or a [..., 1] column
 * (RMSNorm's [B,T,1]). Anything else (other broadcasts, non-float32) goes to the stock kernel,
 * which stays registered underneath.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { BINARY_OPS, UNARY_OPS, type BinaryOp, type NativeLib, type UnaryOp } from './native.js';
import type { Storage } from './storage.js';

/** tfjs kernel name -> native op. */
export const NATIVE_UNARY_KERNELS: Readonly<Record<string, UnaryOp>> = {
  Exp: 'Exp',
  Tanh: 'Tanh',
  Neg: 'Neg',
  Square: 'Square',
  Rsqrt: 'Rsqrt',
  Log: 'Log',
};
export const NATIVE_BINARY_KERNELS: Readonly<Record<string, BinaryOp>> = {
  Add: 'Add',
  Multiply: 'Mul',
  Sub: 'Sub',
  RealDiv: 'Div',
};

/** rows x inner view of a binary op: element strides of each operand (column strides 0 or 1). */
interface BroadcastPlan {
  readonly outShape: number[];
  readonly rows: number;
  readonly inner: number;
  readonly a: readonly [row: number, col: number];
  readonly b: readonly [row: number, col: number];
}

/** Plans `a op b` when one side has the output shape and the other is scalar / trailing / column. */
function planBroadcast(aShape: readonly number[], bShape: readonly number[]): BroadcastPlan | undefined {
  const rank = Math.max(aShape.length, bShape.length);
  const pad = (s: readonly number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const A = pad(aShape);
  const B = pad(bShape);
  if (A.some((d, i) => d !== B[i] && d !== 1 && B[i] !== 1)) return undefined; // stock kernel reports it
  const out = A.map((d, i) => Math.max(d, B[i] as number));
  const aFull = sameShape(A, out);
  const bFull = sameShape(B, out);
  if (aFull === bFull) return undefined; // same shape (plain kernel) or both broadcast
  const other = aFull ? B : A;
  const n = out.reduce((x, y) => x * y, 1);
  const last = out[rank - 1] as number;
  if (n === 0) return undefined;
  let inner: number;
  let strides: readonly [number, number];
  const firstReal = other.findIndex((d) => d !== 1);
  if (firstReal < 0) {
    inner = last;
    strides = [0, 0];
  } else if (other.slice(firstReal).every((d, i) => d === out[firstReal + i])) {
    inner = out.slice(firstReal).reduce((x, y) => x * y, 1);
    strides = [0, 1];
  } else if (other[rank - 1] === 1 && other.slice(0, -1).every((d, i) => d === out[i])) {
    inner = last;
    strides = [1, 0];
  } else {
    return undefined;
  }
  const full = [inner, 1] as const;
  return { outShape: out, rows: n / inner, inner, a: aFull ? full : strides, b: aFull ? strides : full };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function makeUnary(lib: NativeLib, storage: Storage, op: UnaryOp, stock: tf.KernelFunc): tf.KernelFunc {
  const code = UNARY_OPS.indexOf(op);
  return (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype !== 'float32') return stock(args);
    const out = storage.output(args.backend, x.shape.slice());
    const X = storage.read(args.backend, x);
    if (!X) throw new Error(`native ${op}: float32 input without float32 data`);
    lib.unary(code, X, out.values);
    return out.info;
  };
}

export function makeBinary(lib: NativeLib, storage: Storage, op: BinaryOp, stock: tf.KernelFunc): tf.KernelFunc {
  const code = BINARY_OPS.indexOf(op);
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return stock(args);
    const same = sameShape(a.shape, b.shape);
    const plan = same ? undefined : planBroadcast(a.shape, b.shape);
    if (!same && !plan) return stock(args);
    const out = storage.output(args.backend, plan ? plan.outShape : a.shape.slice());
    const A = storage.read(args.backend, a);
    const B = storage.read(args.backend, b);
    if (!A || !B) throw new Error(`native ${op}: float32 input without float32 data`);
    if (plan) lib.binaryStrided(code, A, plan.a[0], plan.a[1], B, plan.b[0], plan.b[1], out.values, plan.rows, plan.inner);
    else lib.binary(code, A, B, out.values);
    return out.info;
  };
}
