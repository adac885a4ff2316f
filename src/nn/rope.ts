/**
 * Rotary position embedding, half-split layout (HF `rotate_half`: pairs (x[k], x[k + K/2]), not
 * interleaved; gemma_pytorch chunks into halves the same way, so HF weights need no permutation).
 * `inv_freq[k] = 1 / theta^(2k/K) / linearFactor` (linear scaling divides the frequencies, HF
 * `_compute_linear_scaling_rope_parameters`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedAvailable, fusedRope, ROPE_KERNEL } from '../engine/fused.js';
import type { RopeConfig } from '../config/gemma.js';

/** Tables for one set of positions: x' = x * cos + rotate_half(x) * sin (a type alias, so `tf.dispose(tables)` works). */
export type RopeTables = {
  /** [T, K]: cos(pos * inv_freq) for both halves */
  readonly cos: tf.Tensor2D;
  /** [T, K]: sin(pos * inv_freq) for both halves */
  readonly sin: tf.Tensor2D;
  /** [K, K] signed permutation with x @ rotate = rotate_half(x) = [-x2, x1] */
  readonly rotate: tf.Tensor2D;
};

/**
 * Angles are computed in float64 and rounded once to float32, which is closer to the float64
 * reference than HF's float32 `inv_freq @ positions` (the difference is far below parity tolerance
 * for the sequence lengths used here).
 */
export function ropeTables(positions: readonly number[], headDim: number, rope: RopeConfig): RopeTables {
  const invFreq = new Float64Array(headDim / 2);
  for (let k = 0; k < headDim / 2; k++) invFreq[k] = 1 / Math.pow(rope.theta, (2 * k) / headDim) / rope.linearFactor;
  return ropeTablesFromInvFreq(positions, invFreq);
}

/**
 * Tables from explicit frequencies `invFreq` [K/2] (a zero frequency leaves its dim pair unrotated:
 * cos 1, sin 0, which is how Gemma 4's partial "proportional" RoPE is expressed).
 */
export function ropeTablesFromInvFreq(positions: readonly number[], invFreq: Float64Array): RopeTables {
  const half = invFreq.length;
  const K = 2 * half;
  const cos = new Float32Array(positions.length * K);
  const sin = new Float32Array(positions.length * K);
  for (let k = 0; k < half; k++) {
    const f = invFreq[k] as number;
    positions.forEach((p, t) => {
      cos[t * K + k] = cos[t * K + k + half] = Math.cos(p * f);
      sin[t * K + k] = sin[t * K + k + half] = Math.sin(p * f);
    });
  }
  const rotate = new Float32Array(K * K); // column k takes -x[k + K/2]; column k + K/2 takes x[k]
  for (let k = 0; k < half; k++) {
    rotate[(k + half) * K + k] = -1;
    rotate[k * K + k + half] = 1;
  }
  return {
    cos: tf.tensor2d(cos, [positions.length, K]),
    sin: tf.tensor2d(sin, [positions.length, K]),
    rotate: tf.tensor2d(rotate, [K, K]),
  };
}

/**
 * x: [B, H, T, K] -> [B, H, T, K]: x * cos + rotate_half(x) * sin.
 * rotate_half is one small matmul with a signed permutation (exact: one nonzero term per output),
 * about 3x faster forward+backward on wasm than split/neg/concat.
 */
export function applyRope<T extends tf.Tensor4D>(x: T, tables: RopeTables): T {
  if (x.dtype === 'float32' && fusedAvailable(ROPE_KERNEL) && x.shape[2] === tables.cos.shape[0]) return fusedRope(x, tables.cos, tables.sin);
  return tf.tidy(() => {
    const K = x.shape[3] as number;
    const rotated = tf.reshape(tf.matMul(tf.reshape(x, [-1, K]), tables.rotate), x.shape); // [B, H, T, K]
    return tf.add(tf.mul(x, tables.cos), tf.mul(rotated, tables.sin)) as T;
  });
}
