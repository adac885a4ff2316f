/**
 * Cross-encoder training losses as pure tf functions (means over the batch B).
 * - pointwise: binary cross-entropy with logits, each (query, passage) labelled 1 or 0;
 * - pairwise / listwise: softmax cross-entropy over [positive, negative_1..N] per query
 *   (with N = 1 this is RankNet's softplus(s_neg - s_pos));
 * - margin: hinge max(0, margin - s_pos + s_neg).
 */
import * as tf from '@tensorflow/tfjs-core';

/** logits, labels: [B] -> mean of max(s,0) - s*y + log(1 + exp(-|s|)) (no overflow for large |s|). */
export function pointwiseBce(logits: tf.Tensor1D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const s = logits;
    const y = labels.toFloat();
    return tf.mean(tf.relu(s).sub(s.mul(y)).add(tf.log1p(tf.exp(tf.neg(tf.abs(s)))))) as tf.Scalar;
  });
}

/** scores: [B, 1 + N], column 0 the positive -> mean of logsumexp(row) - row[0]. */
export function softmaxCrossEntropy(scores: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const pos = tf.squeeze(tf.slice(scores, [0, 0], [-1, 1]), [1]); // [B]
    return tf.mean(tf.logSumExp(scores, 1).sub(pos)) as tf.Scalar;
  });
}

/** pos: [B], neg: [B, N] -> mean over B*N of max(0, margin - pos + neg). */
export function marginRanking(pos: tf.Tensor1D, neg: tf.Tensor2D, margin = 1): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.relu(tf.sub(margin, tf.expandDims(pos, 1)).add(neg))) as tf.Scalar);
}
