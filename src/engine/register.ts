/**
 * Installs and removes our kernel overrides. The stock kernel of each name is kept: the overrides
 * delegate to it for the cases they do not cover, and it comes back when the overrides are removed
 * (stock wasm and native wasm are compared in one bench run).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ATTENTION_GRAD_KERNEL, ATTENTION_KERNEL, makeAttentionBackward, makeAttentionForward } from './attention.js';
import { installFusedKernels } from './fused.js';
import { makeBinary, makeUnary, NATIVE_BINARY_KERNELS, NATIVE_UNARY_KERNELS } from './elementwise.js';
import { makeGather, makeSegmentSum } from './gather.js';
import { makeSoftmax, makeSum, makeTranspose } from './layout.js';
import { makeBatchMatMul, makeFusedMatMul } from './matmul.js';
import type { NativeLib } from './native.js';
import { type BackendName, storageFor } from './storage.js';

const stockKernels = new Map<string, tf.KernelConfig | undefined>();
const libs = new Map<string, NativeLib>();

/** The addon serving `backendName`, when its kernels are installed there. */
export function nativeLibFor(backendName: string): NativeLib | undefined {
  return libs.get(backendName);
}
const key = (kernel: string, backend: string) => `${kernel}\u0000${backend}`;

function override(kernelName: string, backendName: string, make: (stock: tf.KernelFunc | undefined) => tf.KernelFunc): void {
  const k = key(kernelName, backendName);
  if (stockKernels.has(k)) return;
  const stock = tf.getKernel(kernelName, backendName);
  stockKernels.set(k, stock);
  if (stock) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ kernelName, backendName, kernelFunc: make(stock?.kernelFunc) });
}

/**
 * The JS segment-sum: registered where missing (wasm) or replacing the pathological stock one (cpu).
 * Not part of the native set, so it stays when native kernels are removed.
 */
export function ensureSegmentSum(backendName: BackendName): void {
  const existing = tf.getKernel('UnsortedSegmentSum', backendName);
  if (existing && existing.kernelFunc.name === 'gemmaLabSegmentSum') return;
  if (existing) tf.unregisterKernel('UnsortedSegmentSum', backendName);
  const fn = makeSegmentSum(backendName);
  Object.defineProperty(fn, 'name', { value: 'gemmaLabSegmentSum' });
  tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName, kernelFunc: fn });
}

/** Registers the addon's kernels on an initialised backend (see nativeKernelNames). */
export function installNativeKernels(backendName: BackendName, lib: NativeLib): void {
  const storage = storageFor(backendName);
  libs.set(backendName, lib);
  override('BatchMatMul', backendName, (stock) => makeBatchMatMul(lib, storage, stock));
  override('_FusedMatMul', backendName, (stock) => makeFusedMatMul(lib, storage, stock));
  override(ATTENTION_KERNEL, backendName, () => makeAttentionForward(lib, storage));
  override(ATTENTION_GRAD_KERNEL, backendName, () => makeAttentionBackward(lib, storage));
  installFusedKernels(lib, storage, (name, fn) => override(name, backendName, () => fn));
  // Plain JS, but a speed override like the rest: the stock kernel comes back with them.
  if (tf.getKernel('GatherV2', backendName)) override('GatherV2', backendName, (s) => makeGather(backendName, s as tf.KernelFunc));
  for (const [kernel, op] of Object.entries(NATIVE_UNARY_KERNELS)) {
    if (!tf.getKernel(kernel, backendName)) continue; // only wrap what has a stock fallback
    override(kernel, backendName, (s) => makeUnary(lib, storage, op, s as tf.KernelFunc));
  }
  for (const [kernel, op] of Object.entries(NATIVE_BINARY_KERNELS)) {
    if (!tf.getKernel(kernel, backendName)) continue;
    override(kernel, backendName, (s) => makeBinary(lib, storage, op, s as tf.KernelFunc));
  }
  if (backendName === 'wasm') {
    // tfjs clones every tensor it saves for the backward pass (an Identity kernel); stock wasm copies
    // the data each time (~10% of a train step). Share it instead, as the cpu backend and Reshape do:
    // tensors are immutable, and the in-place AdamW checks ownership first.
    override('Identity', backendName, (stock) => (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (x.dtype === 'string' || !stock) return (stock as tf.KernelFunc)(args);
      (args.backend as { incRef(dataId: unknown): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
    });
  }
  if (backendName === 'cpu') {
    override('Transpose', backendName, (s) => makeTranspose(lib, storage, s as tf.KernelFunc));
    override('Softmax', backendName, (s) => makeSoftmax(lib, storage, s as tf.KernelFunc));
    override('Sum', backendName, (s) => makeSum(lib, storage, s as tf.KernelFunc));
  }
}

/** Puts the stock kernels back on `backendName`. */
export function removeNativeKernels(backendName: BackendName): void {
  libs.delete(backendName);
  for (const [k, stock] of [...stockKernels]) {
    const [kernelName, backend] = k.split('\u0000') as [string, string];
    if (backend !== backendName) continue;
    tf.unregisterKernel(kernelName, backend);
    if (stock) tf.registerKernel(stock);
    stockKernels.delete(k);
  }
}

/** Kernel names currently overridden natively on `backendName`. */
export function nativeKernelNames(backendName: string): string[] {
  return [...stockKernels.keys()].map((k) => k.split('\u0000')).filter(([, b]) => b === backendName).map(([n]) => n as string);
}
