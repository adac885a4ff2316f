import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { tokenNllSum } from '../../src/nn/cross_entropy.js';
import { Rng } from '../../src/rng/index.js';
import { assertAllClose } from '../helpers/close.js';

/** float64 reference: value sum_i w_i (lse_i - x_i[t_i]) and its gradient w_i (softmax(x_i) - onehot(t_i)). */
function reference(x: number[][], t: number[], w: number[]): { value: number; grad: number[][] } {
  let value = 0;
  const grad = x.map((row, i) => {
    const m = Math.max(...row);
    const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
    const lse = m + Math.log(z);
    value += (w[i] as number) * (lse - (row[t[i] as number] as number));
    return row.map((v, j) => (w[i] as number) * (Math.exp(v - lse) - (j === t[i] ? 1 : 0)));
  });
  return { value, grad };
}

test('tokenNllSum: weighted NLL and its gradient equal the float64 reference (ignored rows contribute nothing)', async () => {
  await initEngine();
  const rng = new Rng(7);
  const [N, V] = [6, 37];
  const x = Array.from({ length: N }, () => Array.from({ length: V }, () => 4 * (rng.next() - 0.5)));
  const t = [3, 0, 36, 11, 11, 20];
  const w = [1, 0.5, 0, 2, 1, 1];
  const want = reference(x, t, w);
  const [value, grad] = tf.tidy(() => {
    const targets = tf.tensor1d(t, 'int32');
    const weights = tf.tensor1d(w);
    // An upstream factor of 3 checks that dy scales the gradient.
    const f = (logits: tf.Tensor) => tf.mul(tokenNllSum(logits as tf.Tensor2D, targets, weights), 3);
    const g = tf.grad(f)(tf.tensor2d(x));
    return [f(tf.tensor2d(x)), g];
  });
  assertAllClose(value.dataSync()[0] as number, 3 * want.value, 1e-4, 'value');
  assertAllClose(grad.arraySync() as number[][], want.grad.map((r) => r.map((v) => 3 * v)), 1e-5, 'gradient');
  tf.dispose([value, grad]);
});

// tf.profile's peak counts a reshape's output as new bytes although the wasm backend shares the buffer, so
// both numbers overstate the heap; compared in the same accounting they still show what the fused path saves.
test('tokenNllSum: forward + backward peak about half of the stock log-softmax + one-hot loss', async () => {
  await initEngine();
  const [N, D, V] = [256, 16, 4096];
  const slab = N * V * 4;
  const h = tf.randomNormal([N, D], 0, 1, 'float32', 1);
  const W = tf.variable(tf.randomNormal([D, V], 0, 0.1, 'float32', 2));
  const t = tf.tensor1d(Array.from({ length: N }, (_, i) => (i * 31) % V), 'int32');
  const w = tf.ones([N]) as tf.Tensor1D;
  const peak = async (loss: () => tf.Scalar) => {
    const p = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(loss, [W]);
      tf.dispose(grads);
      return value;
    });
    tf.dispose(p.result);
    return p.peakBytes - tf.memory().numBytes;
  };
  const fused = await peak(() => tokenNllSum(tf.matMul(h, W), t, w));
  const stock = await peak(() => tf.neg(tf.sum(tf.mul(tf.logSoftmax(tf.matMul(h, W)), tf.oneHot(t, V)))) as tf.Scalar);
  // Measured 6.1 vs 11.1 slabs of [N, V] float32.
  assert.ok(fused <= 6.5 * slab && fused < 0.6 * stock, `peak: fused ${(fused / slab).toFixed(2)}, stock ${(stock / slab).toFixed(2)} slabs of [N, V]`);
  tf.dispose([h, W, t, w]);
});

test('tokenNllSum: mismatched targets and oversized logits are refused with the shapes named', async () => {
  await initEngine();
  assert.throws(() => tokenNllSum(tf.zeros([2, 3]), tf.tensor1d([0], 'int32'), tf.ones([2])), /1 targets \/ 2 weights for logits \[2, 3\]/);
});
