/**
 * Pooling token states into one vector per row. 'first' | 'last' | 'mean' reuse src/nn/pooling;
 * 'attention' is the learned-query multi-head pooling of EmbeddingGemma §3.2 / models.md §5:
 *   per head h (K = D/H):  P_h = softmax(q_h K_h^T / sqrt(K)) V_h,  K = X Wk^T, V = X Wv^T,
 * with padded keys masked; the heads are concatenated back to D (no output projection).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';
import { linear } from '../nn/linear.js';
import { MASK_NEG } from '../nn/masks.js';
import { pool } from '../nn/pooling.js';

export type EncoderPooling = 'first' | 'last' | 'mean' | 'attention';
export const ENCODER_POOLINGS: readonly EncoderPooling[] = ['first', 'last', 'mean', 'attention'];

/** Parameters of attention pooling, named like a checkpoint would name them. */
export interface AttentionPoolWeights {
  /** [D] learned query. */
  readonly 'pooler.query': tf.Tensor1D;
  /** [D, D] key projection (PyTorch [out, in] layout). */
  readonly 'pooler.k_proj.weight': tf.Tensor2D;
  /** [D, D] value projection. */
  readonly 'pooler.v_proj.weight': tf.Tensor2D;
}

/** x: [B, T, D] token states, mask: [B, T] (1 real, 0 pad) -> [B, D]. */
export function attentionPool(x: tf.Tensor3D, mask: tf.Tensor2D, w: AttentionPoolWeights, heads: number): tf.Tensor2D {
  const [B, T, D] = x.shape;
  if (D % heads !== 0) throw new ConfigError(`hidden size ${D} is not divisible by ${heads} heads`, undefined, 'attentionPoolingHeads');
  const K = D / heads;
  return tf.tidy(() => {
    const keys = tf.transpose(tf.reshape(linear(x, w['pooler.k_proj.weight']), [B, T, heads, K]), [0, 2, 1, 3]); // [B, H, T, K]
    const vals = tf.transpose(tf.reshape(linear(x, w['pooler.v_proj.weight']), [B, T, heads, K]), [0, 2, 1, 3]); // [B, H, T, K]
    const q = tf.reshape(w['pooler.query'], [1, heads, K, 1]); // [1, H, K, 1]
    const scores = tf.reshape(tf.matMul(keys, tf.tile(q, [B, 1, 1, 1])), [B, heads, T]).mul(1 / Math.sqrt(K)); // [B, H, T]
    const bias = tf.reshape(tf.sub(1, tf.cast(mask, 'float32')).mul(MASK_NEG), [B, 1, T]); // pads -> -1e30
    const p = tf.softmax(scores.add(bias), -1); // [B, H, T]
    const out = tf.matMul(tf.reshape(p, [B, heads, 1, T]), vals); // [B, H, 1, K]
    return tf.reshape(out, [B, D]) as tf.Tensor2D;
  });
}

/** Pools with `kind`; `attn` must be given for 'attention'. */
export function poolTokens(
  x: tf.Tensor3D,
  mask: tf.Tensor2D,
  kind: EncoderPooling,
  attn?: { weights: AttentionPoolWeights; heads: number },
): tf.Tensor2D {
  switch (kind) {
    case 'first':
      return pool(x, mask, 'first');
    case 'last':
      return pool(x, mask, 'last_non_pad');
    case 'mean':
      return pool(x, mask, 'mean');
    case 'attention':
      if (!attn) throw new ConfigError("pooling 'attention' needs its weights", undefined, 'pooling');
      return attentionPool(x, mask, attn.weights, attn.heads);
    default: {
      const never: never = kind;
      throw new ConfigError(`unknown pooling '${String(never)}' (one of ${ENCODER_POOLINGS.join(', ')})`, undefined, 'pooling');
    }
  }
}
