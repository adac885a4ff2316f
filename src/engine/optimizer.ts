/**
 * The AdamW update as native in-place calls, one per parameter group: parameters, moments and
 * gradients are read where tfjs keeps them (wasm heap or JS arrays) and parameters and moments are
 * overwritten there, with no new tensors and no kernel dispatch per tensor. Only tensors that own
 * their data may be updated in place (a tfjs clone shares its data); `ownsData` tells.
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeLibFor } from './register.js';
import { storageFor, type BackendName } from './storage.js';

export interface AdamWHyper {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** lr / (1 - beta1^t) */
  readonly stepSize: number;
  /** sqrt(1 - beta2^t) */
  readonly sqrtBc2: number;
}

export interface AdamWGroup {
  readonly params: readonly tf.Tensor[];
  readonly grads: readonly tf.Tensor[];
  readonly m: readonly tf.Tensor[];
  readonly v: readonly tf.Tensor[];
  /** Multiplies the parameters before the step: 1 - lr * weightDecay (1 = no decay). */
  readonly decay: number;
}

function currentBackend(): BackendName | undefined {
  const b = tf.getBackend();
  return b === 'wasm' || b === 'cpu' ? b : undefined;
}

/** Whether the native update can run on the current backend. */
export function nativeAdamWAvailable(): boolean {
  const b = currentBackend();
  return b !== undefined && nativeLibFor(b) !== undefined;
}

/** True when no other tensor shares `t`'s data, so writing it in place is safe. */
export function ownsData(t: tf.Tensor): boolean {
  const backend = tf.backend() as unknown as { refCount?: (dataId: unknown) => number };
  return typeof backend.refCount === 'function' && backend.refCount(t.dataId) === 1;
}

/** In-place AdamW over each group (one addon call per group); every tensor must be float32 and own its data. */
export function nativeAdamW(groups: readonly AdamWGroup[], h: AdamWHyper): void {
  const name = currentBackend();
  const lib = name && nativeLibFor(name);
  if (!name || !lib) throw new Error('nativeAdamW: the native kernels are not installed on this backend');
  const storage = storageFor(name);
  const backend = tf.backend();
  const view = (t: tf.Tensor, what: string) => {
    const v = storage.owned(backend, t);
    if (!v || v.length !== t.size) throw new Error(`nativeAdamW: ${what} [${t.shape}] is not float32 data`);
    return v;
  };
  for (const g of groups) {
    if (g.params.length === 0) continue;
    lib.adamw(
      g.params.map((p) => view(p, 'parameter')),
      g.grads.map((x, i) => {
        if (x.size !== (g.params[i] as tf.Tensor).size) throw new Error(`nativeAdamW: gradient [${x.shape}] does not match its parameter`);
        return view(x, 'gradient');
      }),
      g.m.map((x) => view(x, 'm')),
      g.v.map((x) => view(x, 'v')),
      Float64Array.from([h.beta1, h.beta2, h.eps, g.decay, h.stepSize, h.sqrtBc2, 1 - h.beta1, 1 - h.beta2]),
    );
  }
}
