/**
 * Gemma RMSNorm: `y = x / sqrt(mean(x^2) + eps) * (1 + w)`. The stored weight is an offset from 1
 * (zero-initialised), unlike Llama's `x * w` (HF modeling_gemma.py GemmaRMSNorm; gemma_pytorch
 * `RMSNorm(add_unit_offset=True)`). Computed in float32.
 */
import * as tf from '@tensorflow/tfjs-core';

/** x: [..., D], w: [D] -> [..., D]; normalises over the last axis. */
export function rmsNorm<T extends tf.Tensor>(x: T, w: tf.Tensor1D, eps: number): T {
  return tf.tidy(() => {
    const meanSq = tf.mean(tf.square(x), -1, true); // [..., 1]
    const normed = tf.mul(x, tf.rsqrt(tf.add(meanSq, eps)));
    return tf.mul(normed, tf.add(w, 1)) as T;
  });
}
