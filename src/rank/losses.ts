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

/**
 * Multiple-negatives ranking loss (in-batch + hard negatives) for a bi-encoder.
 * q: [B, D] query vectors; docs: [M, D] with M = B * (1 + N): rows 0..B-1 are the positives (row i
 * belongs to query i), then the N hard negatives of every query. Similarities are cosine / temperature
 * ([B, M]); each query's target is its own positive, so every other row (other queries' positives,
 * all hard negatives) is a negative -> mean over B of logsumexp(row) - row[i].
 */
export function multipleNegativesRanking(q: tf.Tensor2D, docs: tf.Tensor2D, temperature = 0.05): tf.Scalar {
  return tf.tidy(() => {
    const B = q.shape[0];
    if (docs.shape[0] < B || docs.shape[0] % B !== 0) throw new RangeError(`multipleNegativesRanking: ${docs.shape[0]} documents for ${B} queries (need B * (1 + N))`);
    if (!(temperature > 0)) throw new RangeError(`multipleNegativesRanking: temperature must be > 0, got ${temperature}`);
    const unit = (x: tf.Tensor2D) => x.div(tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;
    const scores = tf.matMul(unit(q), unit(docs), false, true).div(temperature) as tf.Tensor2D; // [B, M]
    const target = tf.oneHot(tf.range(0, B, 1, 'int32'), docs.shape[0]).cast('float32');
    return tf.mean(tf.logSumExp(scores, 1).sub(tf.sum(scores.mul(target), 1))) as tf.Scalar;
  });
}
