/**
 * Pooling final hidden states into one vector per row (Gemma Encoder, arXiv 2503.02656):
 * mean over real tokens, the first token (BOS), or the last real token (rightmost attention_mask=1,
 * so it is also right for left padding). Written with masks/one-hots so gradients flow.
 */
import * as tf from '@tensorflow/tfjs-core';

export type PoolingKind = 'mean' | 'first' | 'last_non_pad';
export const POOLING_KINDS: readonly PoolingKind[] = ['mean', 'first', 'last_non_pad'];

/** h: [B, T, D], attentionMask: [B, T] (1 real, 0 pad) -> [B, D]. */
export function pool(h: tf.Tensor3D, attentionMask: tf.Tensor2D, kind: PoolingKind): tf.Tensor2D {
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
      case 'last_non_pad': {
        // index of the rightmost real token: argmax of (t+1) * mask
        const idx = tf.argMax(tf.mul(m, tf.range(1, T + 1, 1, 'float32')), 1); // [B]
        const pick = tf.oneHot(tf.cast(idx, 'int32'), T); // [B, T]
        return tf.sum(tf.mul(h, tf.expandDims(tf.cast(pick, 'float32'), 2)), 1) as tf.Tensor2D;
      }
      default: {
        const never: never = kind;
        throw new Error(`unknown pooling ${String(never)}`);
      }
    }
  });
}
