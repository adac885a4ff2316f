/**
 * Gemma RMSNorm: `y = x / sqrt(mean(x^2) + eps) * (1 + w)`. The stored weight is an offset from 1
 * (zero-initialised), unlike Llama's `x * w` (HF modeling_gemma.py GemmaRMSNorm; gemma_pytorch
 * `RMSNorm(add_unit_offset=True)`). Computed in float32.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedAvailable, fusedRmsNorm, RMSNORM_KERNEL } from '../engine/fused.js';

/** x: [..., D], w: [D] -> [..., D]; normalises over the last axis (one native kernel when the addon serves it). */
export function rmsNorm<T extends tf.Tensor>(x: T, w: tf.Tensor1D, eps: number): T {
  if (x.dtype === 'float32' && fusedAvailable(RMSNORM_KERNEL)) return fusedRmsNorm(x, w, eps);
  return rmsNormDense(x, w, eps);
}

/** The tfjs-op reference of rmsNorm. */
export function rmsNormDense<T extends tf.Tensor>(x: T, w: tf.Tensor1D, eps: number): T {
  return tf.tidy(() => {
    const meanSq = tf.mean(tf.square(x), -1, true); // [..., 1]
    const normed = tf.mul(x, tf.rsqrt(tf.add(meanSq, eps)));
    return tf.mul(normed, tf.add(w, 1)) as T;
  });
}

/**
 * Gemma 4 RMSNorm: `y = x / sqrt(mean(x^2) + eps) * w`, the weight multiplying directly (stored
 * one-initialised, unlike Gemma 1-3's offset). `w` null: no scale (HF `with_scale=False`, v_norm and
 * the MoE router's norm). x: [..., D], w: [D].
 */
export function rmsNormDirect<T extends tf.Tensor>(x: T, w: tf.Tensor1D | null, eps: number): T {
  return tf.tidy(() => {
    const normed = tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)));
    return (w === null ? normed : tf.mul(normed, w)) as T;
  });
}
