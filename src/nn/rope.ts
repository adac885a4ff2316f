/**
 * Rotary position embedding, half-split layout (HF `rotate_half`: pairs (x[k], x[k + K/2]), not
 * interleaved; gemma_pytorch chunks into halves the same way, so HF weights need no permutation).
 * `inv_freq[k] = 1 / theta^(2k/K) / linearFactor` (linear scaling divides the frequencies, HF
 * `_compute_linear_scaling_rope_parameters`).
 */
import * as tf from '@tensorflow/tfjs';
import type { RopeConfig } from '../config/gemma.js';

/** cos/sin tables for the given positions; each [T, K/2] (the two halves share them). */
export interface RopeTables {
  readonly cos: tf.Tensor2D;
  readonly sin: tf.Tensor2D;
}

/**
 * Angles are computed in float64 and rounded once to float32, which is closer to the float64
 * reference than HF's float32 `inv_freq @ positions` (the difference is far below parity tolerance
 * for the sequence lengths used here).
 */
export function ropeTables(positions: readonly number[], headDim: number, rope: RopeConfig): RopeTables {
  const half = headDim / 2;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  for (let k = 0; k < half; k++) {
    const invFreq = 1 / Math.pow(rope.theta, (2 * k) / headDim) / rope.linearFactor;
    positions.forEach((p, t) => {
      cos[t * half + k] = Math.cos(p * invFreq);
      sin[t * half + k] = Math.sin(p * invFreq);
    });
  }
  return { cos: tf.tensor2d(cos, [positions.length, half]), sin: tf.tensor2d(sin, [positions.length, half]) };
}

/**
 * x: [B, H, T, K], tables [T, K/2] -> [B, H, T, K].
 * `x * cos + rotate_half(x) * sin` written per half: [x1 c - x2 s, x2 c + x1 s].
 */
export function applyRope<T extends tf.Tensor4D>(x: T, tables: RopeTables): T {
  return tf.tidy(() => {
    const half = (x.shape[3] as number) / 2;
    const [x1, x2] = tf.split(x, [half, half], 3); // each [B, H, T, K/2]
    const { cos, sin } = tables; // [T, K/2], broadcast over B, H
    const r1 = tf.sub(tf.mul(x1, cos), tf.mul(x2, sin));
    const r2 = tf.add(tf.mul(x2, cos), tf.mul(x1, sin));
    return tf.concat([r1, r2], 3) as T;
  });
}
