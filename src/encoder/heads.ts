/**
 * Task heads on the pooled vector [B, D] and their losses (means over the batch):
 * - classification: `score` Linear(D, n) + softmax cross-entropy on class ids.
 * - regression (STS-B): Linear(D, 1), MSE against the float label.
 * - ranking: Linear(D, 1) relevance score; pointwise = BCE-with-logits on 0/1 labels,
 *   pairwise = RankNet softplus(-(s_pos - s_neg)) over consecutive rows (2i positive, 2i+1 negative).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';

export type HeadSpec =
  | { readonly kind: 'classification'; readonly numClasses: number }
  | { readonly kind: 'regression' }
  | { readonly kind: 'ranking'; readonly loss: 'pointwise' | 'pairwise' };

/** Output width of the head's linear layer. */
export function headOutputs(h: HeadSpec): number {
  if (h.kind !== 'classification') return 1;
  if (!(Number.isInteger(h.numClasses) && h.numClasses >= 2)) {
    throw new ConfigError(`must be an integer >= 2, got ${h.numClasses}`, undefined, 'head.numClasses');
  }
  return h.numClasses;
}

/** logits: [B, n] (n = headOutputs), labels: class ids or floats, one per row -> scalar mean loss. */
export function headLoss(h: HeadSpec, logits: tf.Tensor2D, labels: readonly number[]): tf.Scalar {
  return tf.tidy(() => {
    const B = logits.shape[0];
    if (labels.length !== B) throw new ConfigError(`${labels.length} labels for ${B} rows`, undefined, 'labels');
    switch (h.kind) {
      case 'classification': {
        const n = logits.shape[1];
        for (const y of labels) {
          if (!(Number.isInteger(y) && y >= 0 && y < n)) throw new ConfigError(`class id ${y} outside [0, ${n})`, undefined, 'labels');
        }
        const logp = tf.logSoftmax(logits, -1);
        const onehot = tf.oneHot(tf.tensor1d([...labels], 'int32'), n).cast('float32');
        return tf.neg(tf.sum(logp.mul(onehot))).div(B) as tf.Scalar;
      }
      case 'regression': {
        const d = tf.reshape(logits, [B]).sub(tf.tensor1d([...labels], 'float32'));
        return tf.mean(d.square()) as tf.Scalar;
      }
      case 'ranking': {
        const s = tf.reshape(logits, [B]);
        if (h.loss === 'pointwise') {
          // Stable BCE with logits: max(s,0) - s*y + log(1 + exp(-|s|)).
          const y = tf.tensor1d([...labels], 'float32');
          return tf.mean(tf.relu(s).sub(s.mul(y)).add(tf.log1p(tf.exp(tf.neg(tf.abs(s)))))) as tf.Scalar;
        }
        if (B % 2 !== 0) throw new ConfigError(`pairwise ranking needs (positive, negative) row pairs; got ${B} rows`, undefined, 'batch');
        const pairs = tf.reshape(s, [B / 2, 2]);
        const margin = tf.sub(tf.slice(pairs, [0, 0], [-1, 1]), tf.slice(pairs, [0, 1], [-1, 1]));
        return tf.mean(tf.softplus(tf.neg(margin))) as tf.Scalar;
      }
      default: {
        const never: never = h;
        throw new ConfigError(`unknown head ${JSON.stringify(never)}`, undefined, 'head.kind');
      }
    }
  });
}
