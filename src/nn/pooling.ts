/**
 * Pooling final hidden states into one vector per row (Gemma Encoder, arXiv 2503.02656), the one
 * pooling vocabulary of the project:
 * - 'mean': mean over real tokens;
 * - 'first': the first token (BOS);
 * - 'last': the last real token (rightmost attention_mask=1, so also right for left padding); what HF
 *   `*ForSequenceClassification` pools;
 * - 'attention': learned-query multi-head attention pooling (EmbeddingGemma): per head h (K = D/H),
 *   P_h = softmax(q_h K_h^T / sqrt(K)) V_h with K = X Wk^T, V = X Wv^T and padded keys masked; the
 *   heads are concatenated back to D (no output projection).
 * Written with masks/one-hots so gradients flow.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';
import { linear } from './linear.js';
import { MASK_NEG } from './masks.js';

export type Pooling = 'mean' | 'first' | 'last' | 'attention';
export const POOLINGS: readonly Pooling[] = ['mean', 'first', 'last', 'attention'];

/** The poolings without parameters. */
export type TokenPooling = Exclude<Pooling, 'attention'>;
export const TOKEN_POOLINGS: readonly TokenPooling[] = POOLINGS.filter((p): p is TokenPooling => p !== 'attention');

/** h: [B, T, D], attentionMask: [B, T] (1 real, 0 pad) -> [B, D]. */
export function pool(h: tf.Tensor3D, attentionMask: tf.Tensor2D, kind: TokenPooling): tf.Tensor2D {
  return tf.tidy(() => {
    const T = h.shape[1];
    const m = tf.cast(attentionMask, 'float32'); // [B, T]
    switch (kind) {
      case 'mean': {
        const sum = tf.sum(tf.mul(h, tf.expandDims(m, 2)), 1); // [B, D]
        return tf.div(sum, tf.maximum(tf.sum(m, 1, true), 1)) as tf.Tensor2D; // all-pad rows give 0, not NaN
      }
      case 'first':
        return tf.squeeze(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [1]) as tf.Tensor2D;
      case 'last': {
        // index of the rightmost real token: argmax of (t+1) * mask
        const idx = tf.argMax(tf.mul(m, tf.range(1, T + 1, 1, 'float32')), 1); // [B]
        const pick = tf.oneHot(tf.cast(idx, 'int32'), T); // [B, T]
        return tf.sum(tf.mul(h, tf.expandDims(tf.cast(pick, 'float32'), 2)), 1) as tf.Tensor2D;
      }
      default: {
        const never: never = kind;
        throw new ConfigError(`unknown pooling '${String(never)}' (one of ${TOKEN_POOLINGS.join(', ')})`, undefined, 'pooling');
      }
    }
  });
}

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
