/**
 * Token cross-entropy over a vocabulary with a hand-written gradient.
 *
 * Written with stock ops (log-softmax, one-hot or gather, multiply), the tape keeps four to six
 * [N, V] tensors alive until the backward pass: at N = 3k decoder tokens and V = 11k that alone is
 * over 2 GB, which overflows the wasm heap during UL2 adaptation. Here the backward pass keeps only
 * the logits and a per-row log-sum-exp, and builds the [N, V] gradient with at most three such
 * tensors alive at once.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * sum_i w_i * (logsumexp(logits_i) - logits_i[t_i]), i.e. the weighted negative log-likelihood.
 * logits [N, V] float32; targets [N] int32 (any id in [0, V) where the weight is 0); weights [N] float32.
 * Differentiable in `logits` only.
 */
export function tokenNllSum(logits: tf.Tensor2D, targets: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  const [N, V] = logits.shape;
  if (targets.shape[0] !== N || weights.shape[0] !== N) throw new RangeError(`tokenNllSum: ${targets.shape[0]} targets / ${weights.shape[0]} weights for logits [${N}, ${V}]`);
  // Flat indices into [N * V] must fit int32.
  if (N * V >= 2 ** 31) throw new RangeError(`tokenNllSum: logits [${N}, ${V}] exceed 2^31 entries; split the batch`);
  const nll = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const lse = tf.logSumExp(x, 1); // [N]
    const flat = tf.add(tf.mul(tf.range(0, N, 1, 'int32'), tf.scalar(V, 'int32')), tf.cast(targets, 'int32')) as tf.Tensor1D; // [N]
    const picked = tf.gather(tf.reshape(x, [N * V]), flat); // [N]
    const w = tf.cast(weights, 'float32');
    save([x, lse, flat, w]);
    const value = tf.sum(tf.mul(tf.sub(lse, picked), w)) as tf.Scalar;
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => {
      const [xs, lses, flats, ws] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
      const scale = tf.mul(ws, dy); // [N]: d loss / d nll_i
      // softmax(x) * scale, one [N, V] temporary at a time.
      const shifted = tf.sub(xs, tf.expandDims(lses, 1));
      const p = tf.exp(shifted);
      shifted.dispose();
      const scaled = tf.mul(p, tf.expandDims(scale, 1));
      p.dispose();
      // minus scale_i at each row's target
      const hit = tf.scatterND(tf.expandDims(flats, 1), scale, [N * V]);
      const grad = tf.sub(tf.reshape(scaled, [N * V]), hit).reshape([N, V]);
      scaled.dispose();
      hit.dispose();
      return grad;
    };
    return { value, gradFunc };
  });
  return nll(logits) as tf.Scalar;
}
