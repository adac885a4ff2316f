/**
 * BatchMatMul gradient that also handles broadcast batch dims. The stock one (tfjs 4.22) returns
 * the broadcast-shaped gradient, e.g. [B, D, F] for a shared [D, F] weight in x[B,T,D] @ w[D,F],
 * which tfjs then rejects ("gradient of input 'b' has shape ..."). Summing over the broadcast dims
 * is what d(broadcast) means.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Sums `g` ([...outBatch, R, C]) over the axes that `shape` ([...batch, R, C]) broadcast. */
function sumToShape(g: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return tf.reshape(tf.sum(g, axes), shape as number[]);
}

export function registerBroadcastMatMulGradient(): void {
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved as [tf.Tensor, tf.Tensor];
      const g = dy as tf.Tensor;
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      // d(op(A)) = dy op(B)^T and d(op(B)) = op(A)^T dy, written in A's and B's own layouts.
      const da = () =>
        sumToShape(transposeA ? tf.matMul(b, g, transposeB, true) : tf.matMul(g, b, false, !transposeB), a.shape);
      const db = () =>
        sumToShape(transposeB ? tf.matMul(g, a, true, transposeA) : tf.matMul(a, g, !transposeA, false), b.shape);
      return { a: da, b: db };
    },
  });
}
