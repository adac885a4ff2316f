/** Bias-free linear layer with PyTorch's weight layout ([out, in]), as one 2-D GEMM. */
import * as tf from '@tensorflow/tfjs-core';

/** x: [..., In], w: [Out, In] -> [..., Out]. Flattened to [N, In] @ [In, Out]^T so it is one matmul. */
export function linear<T extends tf.Tensor>(x: T, w: tf.Tensor2D): T {
  return tf.tidy(() => {
    const inDim = x.shape[x.rank - 1] as number;
    const outDim = w.shape[0];
    const flat = tf.reshape(x, [-1, inDim]); // [N, In]
    const y = tf.matMul(flat, w, false, true); // [N, Out]
    return tf.reshape(y, [...x.shape.slice(0, -1), outDim]) as T;
  });
}
