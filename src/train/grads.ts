/** Gradient helpers: global norm, clipping, finiteness, all over a name -> tensor map. */
import * as tf from '@tensorflow/tfjs-core';

export type Grads = Map<string, tf.Tensor>;

/** sqrt(sum over tensors of sum(g^2)), the norm PyTorch's clip_grad_norm_ returns. Syncs once. */
export function globalNorm(grads: ReadonlyMap<string, tf.Tensor>): number {
  return tf.tidy(() => {
    const parts = [...grads.values()].map((g) => g.square().sum());
    return tf.addN(parts).sqrt().dataSync()[0] as number;
  });
}

/**
 * Scale gradients so their global norm is at most `maxNorm` (PyTorch: coef = max/(norm+1e-6), capped at 1).
 * Disposes the inputs it replaces; returns the new map (the same tensors when no scaling is needed).
 */
export function clipByGlobalNorm(grads: Grads, norm: number, maxNorm: number): Grads {
  const coef = maxNorm / (norm + 1e-6);
  if (!(coef < 1)) return grads;
  const out: Grads = new Map();
  for (const [name, g] of grads) {
    out.set(name, tf.tidy(() => g.mul(coef)));
    g.dispose();
  }
  return out;
}

/** Names of the tensors holding a NaN or an infinity (only called once a norm came out non-finite). */
export function nonFiniteNames(grads: ReadonlyMap<string, tf.Tensor>): string[] {
  const bad: string[] = [];
  for (const [name, g] of grads) {
    const ok = tf.tidy(() => tf.all(tf.isFinite(g)).dataSync()[0]);
    if (!ok) bad.push(name);
  }
  return bad;
}

export function disposeGrads(grads: ReadonlyMap<string, tf.Tensor>): void {
  for (const g of grads.values()) g.dispose();
}
