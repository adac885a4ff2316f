/**
 * Native same-shape elementwise kernels (the hot ones of a Gemma train step). Anything else
 * (broadcasting, non-float32) goes to the stock kernel, which stays registered underneath.
 */
import type * as tf from '@tensorflow/tfjs';
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
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || !sameShape(a.shape, b.shape)) return stock(args);
    const out = storage.output(args.backend, a.shape.slice());
    const A = storage.read(args.backend, a);
    const B = storage.read(args.backend, b);
    if (!A || !B) throw new Error(`native ${op}: float32 input without float32 data`);
    lib.binary(code, A, B, out.values);
    return out.info;
  };
}
