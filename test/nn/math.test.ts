/** Hand-checkable values for the pure math in src/nn (norm, GELU, RoPE, attention, pooling). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { assertAllClose } from '../helpers/close.js';
import { rmsNorm } from '../../src/nn/norm.js';
import { geluTanh, gegluMlp } from '../../src/nn/mlp.js';
import { applyRope, ropeTables } from '../../src/nn/rope.js';
import { scaledDotProductAttention, softcap } from '../../src/nn/attention.js';
import { linear } from '../../src/nn/linear.js';
import { pool } from '../../src/nn/pooling.js';
import { Rng } from '../../src/rng/index.js';

const F32 = 1e-6;

test('rmsNorm scales by (1 + w): [3, 4] has mean square 12.5', async () => {
  await initEngine();
  const y = tf.tidy(() => rmsNorm(tf.tensor2d([[3, 4]]), tf.tensor1d([0, 1]), 0).dataSync());
  const r = Math.sqrt(12.5);
  assertAllClose(y, [3 / r, (4 / r) * 2], F32, 'rmsNorm');
});

test('geluTanh is the tanh approximation (gelu_tanh(1) = 0.841192, exact erf GELU would give 0.841345)', async () => {
  await initEngine();
  const xs = [-400, -3, -1, -0.5, 0, 0.5, 1, 2, 300];
  const want = xs.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
  const got = tf.tidy(() => geluTanh(tf.tensor1d(xs)).dataSync());
  assertAllClose(got, want, 1e-5, 'geluTanh', 1e-6);
  assert.ok(Math.abs((got[6] as number) - 0.8411920) < 1e-6);
});

test('gegluMlp: down(gelu(gate x) * up x) on a 1-d example', async () => {
  await initEngine();
  const got = tf.tidy(() =>
    gegluMlp(tf.tensor3d([[[2]]]), {
      gateProj: tf.tensor2d([[1], [0.5]]),
      upProj: tf.tensor2d([[3], [-1]]),
      downProj: tf.tensor2d([[1, 2]]),
    }).dataSync(),
  );
  const g = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  assertAllClose(got, [g(2) * 6 + 2 * g(1) * -2], 1e-5, 'mlp');
});

test('RoPE: half-split pairs (k, k+K/2) rotate by pos * theta^(-2k/K) / linearFactor', async () => {
  await initEngine();
  // K = 4, theta = 100: inv_freq = [1, 0.1]. x = e0 + e1 at position 2.
  const tables = ropeTables([0, 2], 4, { theta: 100, linearFactor: 1 });
  const y = tf.tidy(() => applyRope(tf.tensor4d([1, 1, 0, 0, 1, 1, 0, 0], [1, 1, 2, 4]), tables).dataSync());
  assertAllClose(y, [1, 1, 0, 0, Math.cos(2), Math.cos(0.2), Math.sin(2), Math.sin(0.2)], F32, 'rope');
  // the second half rotates too: e2 -> [-sin, cos] in the (0, 2) plane
  const z = tf.tidy(() => applyRope(tf.tensor4d([0, 0, 1, 0, 0, 0, 1, 0], [1, 1, 2, 4]), tables).dataSync());
  assertAllClose(z, [0, 0, 1, 0, -Math.sin(2), 0, Math.cos(2), 0], F32, 'rope second half');
  tf.dispose(tables);
  const scaled = ropeTables([2], 4, { theta: 100, linearFactor: 8 });
  assertAllClose(scaled.cos.dataSync(), [Math.cos(2 / 8), Math.cos(0.2 / 8), Math.cos(2 / 8), Math.cos(0.2 / 8)], F32, 'linear scaling');
  tf.dispose(scaled);
});

/** Naive float64 attention with explicit per-head loops: the definition the batched code must match. */
function naiveAttention(q: number[][][][], k: number[][][][], v: number[][][][], bias: number[][][], scale: number, cap: number | null) {
  const [B, H, T, K] = [q.length, q[0]!.length, q[0]![0]!.length, q[0]![0]![0]!.length];
  const G = k[0]!.length;
  const S = k[0]![0]!.length;
  return Array.from({ length: B }, (_, b) =>
    Array.from({ length: H }, (_, h) => {
      const g = Math.floor(h / (H / G));
      return Array.from({ length: T }, (_, i) => {
        const s = Array.from({ length: S }, (_, j) => {
          let d = 0;
          for (let x = 0; x < K; x++) d += q[b]![h]![i]![x]! * k[b]![g]![j]![x]!;
          d *= scale;
          if (cap !== null) d = cap * Math.tanh(d / cap);
          return d + bias[b]![i]![j]!;
        });
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const z = e.reduce((a, c) => a + c, 0);
        return Array.from({ length: K }, (_, x) => e.reduce((a, ej, j) => a + (ej / z) * v[b]![g]![j]![x]!, 0));
      });
    }),
  );
}

test('scaledDotProductAttention: GQA (H=6, G=2), softcap before the mask, T != S, equals the naive per-head loop', async () => {
  await initEngine();
  const rng = new Rng(7);
  const rand = (...shape: number[]): number[] => Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal() * 2);
  const [B, H, G, T, S, K] = [2, 6, 2, 3, 5, 4];
  const qd = rand(B, H, T, K);
  const kd = rand(B, G, S, K);
  const vd = rand(B, G, S, K);
  // row 0 masks key 4; row 1 masks keys 0 and 3
  const biasRows = [
    [0, 0, 0, 0, -1e30],
    [-1e30, 0, 0, -1e30, 0],
  ];
  const bias = Array.from({ length: B }, (_, b) => Array.from({ length: T }, () => biasRows[b]!));
  for (const cap of [null, 1.5]) {
    const got = tf.tidy(() => {
      const q = tf.tensor4d(qd, [B, H, T, K]);
      const k = tf.tensor4d(kd, [B, G, S, K]);
      const v = tf.tensor4d(vd, [B, G, S, K]);
      return scaledDotProductAttention(q, k, v, { scale: 0.3, softcap: cap, bias: tf.tensor4d(bias.flat(2), [B, 1, T, S]) }).arraySync();
    });
    const want = naiveAttention(
      tf.tidy(() => tf.tensor4d(qd, [B, H, T, K]).arraySync()),
      tf.tidy(() => tf.tensor4d(kd, [B, G, S, K]).arraySync()),
      tf.tidy(() => tf.tensor4d(vd, [B, G, S, K]).arraySync()),
      bias,
      0.3,
      cap,
    );
    assertAllClose(got, want, 1e-5, `attention softcap=${cap}`);
  }
});

test('softcap and linear', async () => {
  await initEngine();
  assertAllClose(tf.tidy(() => softcap(tf.tensor1d([0, 5, -50]), 5).dataSync()), [0, 5 * Math.tanh(1), 5 * Math.tanh(-10)], F32, 'softcap');
  // PyTorch layout [out, in]: y = x W^T
  assertAllClose(tf.tidy(() => linear(tf.tensor3d([[[1, 2]]]), tf.tensor2d([[1, 0], [1, 1], [0, -1]])).dataSync()), [1, 3, -2], F32, 'linear');
});

test('pool: mean over real tokens, first, and the rightmost real token', async () => {
  await initEngine();
  const h = [
    [[1, 10], [2, 20], [3, 30], [4, 40]],
    [[5, 50], [6, 60], [0, 0], [9, 90]],
  ];
  const mask = [
    [1, 1, 1, 1],
    [1, 1, 0, 0],
  ];
  const run = (kind: 'mean' | 'first' | 'last') => tf.tidy(() => pool(tf.tensor3d(h), tf.tensor2d(mask), kind).arraySync());
  assert.deepEqual(run('mean'), [[2.5, 25], [5.5, 55]]);
  assert.deepEqual(run('first'), [[1, 10], [5, 50]]);
  assert.deepEqual(run('last'), [[4, 40], [6, 60]]);
  // left padding: the last real token is still the rightmost one
  assert.deepEqual(tf.tidy(() => pool(tf.tensor3d(h), tf.tensor2d([[0, 1, 1, 0], [0, 0, 0, 1]]), 'last').arraySync()), [[3, 30], [9, 90]]);
});
