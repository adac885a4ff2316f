/**
 * Fused native ops of a Gemma layer, each a tfjs kernel with a registered gradient (so tf.grad
 * works through them) and served by the addon on wasm and cpu:
 *   GemmaLabRmsNorm  x [.., D], w [D] -> [y, rstd]   (grad kernel GemmaLabRmsNormGrad -> [dx, dw])
 *   GemmaLabGeglu    gate, up (same shape) -> h       (grad kernel GemmaLabGegluGrad -> [dgate, dup])
 *   GemmaLabRope     x [.., T, K], cos/sin [T, K] -> y (its gradient is the same kernel with sign -1)
 * One kernel replaces 4-9 tfjs kernels (and their saved intermediates) per op.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeLib } from './native.js';
import type { Storage } from './storage.js';

export const RMSNORM_KERNEL = 'GemmaLabRmsNorm';
export const RMSNORM_GRAD_KERNEL = 'GemmaLabRmsNormGrad';
export const GEGLU_KERNEL = 'GemmaLabGeglu';
export const GEGLU_GRAD_KERNEL = 'GemmaLabGegluGrad';
export const ROPE_KERNEL = 'GemmaLabRope';

type Inputs = Record<string, tf.TensorInfo>;
const sizeOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Allocates the outputs, then takes every view (the wasm heap may grow on allocation). */
function run(storage: Storage, backend: unknown, kernel: string, inputs: tf.TensorInfo[], outShapes: number[][], body: (ins: Float32Array[], outs: Float32Array[]) => void): tf.TensorInfo[] {
  for (const t of inputs) if (t.dtype !== 'float32') throw new Error(`${kernel}: float32 inputs only, got ${t.dtype}`);
  const outs = outShapes.map((s) => storage.output(backend, s).info);
  const view = (t: tf.TensorInfo) => {
    if (sizeOf(t.shape) === 0) return new Float32Array(0);
    const v = storage.read(backend, t);
    if (!v) throw new Error(`${kernel}: float32 data expected`);
    return v;
  };
  body(inputs.map(view), outs.map(view));
  return outs;
}

function checkLast(kernel: string, x: tf.TensorInfo, w: tf.TensorInfo): number {
  const D = x.shape[x.shape.length - 1] ?? 0;
  if (w.shape.length !== 1 || w.shape[0] !== D) throw new Error(`${kernel}: weight [${w.shape}] does not match the last dim of [${x.shape}]`);
  return D;
}

export function installFusedKernels(lib: NativeLib, storage: Storage, register: (name: string, fn: tf.KernelFunc) => void): void {
  register(RMSNORM_KERNEL, (args) => {
    const { x, w } = args.inputs as Inputs as { x: tf.TensorInfo; w: tf.TensorInfo };
    const D = checkLast(RMSNORM_KERNEL, x, w);
    const eps = Number((args.attrs as { eps?: number } | undefined)?.eps ?? 1e-6);
    return run(storage, args.backend, RMSNORM_KERNEL, [x, w], [x.shape.slice(), x.shape.slice(0, -1)], ([X, W], [Y, R]) =>
      lib.rmsNorm(X as Float32Array, W as Float32Array, Y as Float32Array, R as Float32Array, D, eps),
    );
  });
  register(RMSNORM_GRAD_KERNEL, (args) => {
    const { x, w, rstd, dy } = args.inputs as Inputs as Record<'x' | 'w' | 'rstd' | 'dy', tf.TensorInfo>;
    const D = checkLast(RMSNORM_GRAD_KERNEL, x, w);
    return run(storage, args.backend, RMSNORM_GRAD_KERNEL, [x, w, rstd, dy], [x.shape.slice(), w.shape.slice()], ([X, W, R, DY], [DX, DW]) =>
      lib.rmsNormBackward(X as Float32Array, W as Float32Array, R as Float32Array, DY as Float32Array, DX as Float32Array, DW as Float32Array, D),
    );
  });
  register(GEGLU_KERNEL, (args) => {
    const { gate, up } = args.inputs as Inputs as { gate: tf.TensorInfo; up: tf.TensorInfo };
    if (gate.shape.join() !== up.shape.join()) throw new Error(`${GEGLU_KERNEL}: gate [${gate.shape}] and up [${up.shape}] differ`);
    return run(storage, args.backend, GEGLU_KERNEL, [gate, up], [gate.shape.slice()], ([G, U], [H]) => lib.geglu(G as Float32Array, U as Float32Array, H as Float32Array))[0] as tf.TensorInfo;
  });
  register(GEGLU_GRAD_KERNEL, (args) => {
    const { gate, up, dy } = args.inputs as Inputs as Record<'gate' | 'up' | 'dy', tf.TensorInfo>;
    return run(storage, args.backend, GEGLU_GRAD_KERNEL, [gate, up, dy], [gate.shape.slice(), up.shape.slice()], ([G, U, DH], [DG, DU]) =>
      lib.gegluBackward(G as Float32Array, U as Float32Array, DH as Float32Array, DG as Float32Array, DU as Float32Array),
    );
  });
  register(ROPE_KERNEL, (args) => {
    const { x, cos, sin } = args.inputs as Inputs as Record<'x' | 'cos' | 'sin', tf.TensorInfo>;
    const [T, K] = cos.shape as [number, number];
    const r = x.shape.length;
    if (cos.shape.length !== 2 || sin.shape.join() !== cos.shape.join() || x.shape[r - 1] !== K || x.shape[r - 2] !== T)
      throw new Error(`${ROPE_KERNEL}: x [${x.shape}] does not end in cos/sin [${cos.shape}]`);
    const sign = Number((args.attrs as { sign?: number } | undefined)?.sign ?? 1);
    return run(storage, args.backend, ROPE_KERNEL, [x, cos, sin], [x.shape.slice()], ([X, C, S], [Y]) =>
      lib.rope(X as Float32Array, C as Float32Array, S as Float32Array, Y as Float32Array, T, K, sign),
    )[0] as tf.TensorInfo;
  });
}

export function registerFusedGradients(): void {
  tf.registerGradient({
    kernelName: RMSNORM_KERNEL,
    inputsToSave: ['x', 'w'],
    outputsToSave: [false, true],
    gradFunc: (dy, saved) => {
      const [x, w, rstd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const g = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
      const [dx, dw] = tf.engine().runKernel(RMSNORM_GRAD_KERNEL, { x, w, rstd, dy: g }, {}) as tf.Tensor[];
      return { x: () => dx as tf.Tensor, w: () => dw as tf.Tensor };
    },
  });
  tf.registerGradient({
    kernelName: GEGLU_KERNEL,
    inputsToSave: ['gate', 'up'],
    gradFunc: (dy, saved) => {
      const [gate, up] = saved as [tf.Tensor, tf.Tensor];
      const g = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
      const [dgate, dup] = tf.engine().runKernel(GEGLU_GRAD_KERNEL, { gate, up, dy: g }, {}) as tf.Tensor[];
      return { gate: () => dgate as tf.Tensor, up: () => dup as tf.Tensor };
    },
  });
  tf.registerGradient({
    kernelName: ROPE_KERNEL,
    inputsToSave: ['cos', 'sin'],
    gradFunc: (dy, saved, attrs) => {
      const [cos, sin] = saved as [tf.Tensor, tf.Tensor];
      const g = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
      const sign = Number((attrs as { sign?: number }).sign ?? 1);
      return {
        x: () => tf.engine().runKernel(ROPE_KERNEL, { x: g, cos, sin }, { sign: -sign }) as tf.Tensor,
        cos: () => tf.zerosLike(cos),
        sin: () => tf.zerosLike(sin),
      };
    },
  });
}

/** Whether `kernel` is served on the current backend. */
export function fusedAvailable(kernel: string): boolean {
  return tf.getKernel(kernel, tf.getBackend()) !== undefined;
}

/** x [..., D], w [D] -> x / sqrt(mean(x^2) + eps) * (1 + w), one native kernel. */
export function fusedRmsNorm<T extends tf.Tensor>(x: T, w: tf.Tensor1D, eps: number): T {
  const [y] = tf.engine().runKernel(RMSNORM_KERNEL, { x, w }, { eps }) as tf.Tensor[];
  return y as T;
}

/** gelu_tanh(gate) * up, one native kernel. */
export function fusedGeglu<T extends tf.Tensor>(gate: T, up: T): T {
  return tf.engine().runKernel(GEGLU_KERNEL, { gate, up }, {}) as T;
}

/** x [..., T, K] * cos + rotate_half(x) * sin, one native kernel. */
export function fusedRope<T extends tf.Tensor>(x: T, cos: tf.Tensor2D, sin: tf.Tensor2D): T {
  return tf.engine().runKernel(ROPE_KERNEL, { x, cos, sin }, { sign: 1 }) as T;
}
