/** Mask predicates as literal 0/1 matrices (deepmind gemma `test_sliding_mask` style). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import {
  andMasks,
  bidirectional,
  causal,
  layerMask,
  maskBias,
  maskMatrix,
  MASK_NEG,
  orMasks,
  padding,
  slidingWindowBidirectional,
  slidingWindowCausal,
} from '../../src/nn/masks.js';

const one = (p: Parameters<typeof maskMatrix>[0], n = 5) => (maskMatrix(p, 1, n, n)[0] as number[][]);

test('causal and bidirectional', () => {
  assert.deepEqual(one(causal, 4), [
    [1, 0, 0, 0],
    [1, 1, 0, 0],
    [1, 1, 1, 0],
    [1, 1, 1, 1],
  ]);
  assert.deepEqual(one(bidirectional, 3), [
    [1, 1, 1],
    [1, 1, 1],
    [1, 1, 1],
  ]);
});

test('slidingWindowCausal(3): j <= i and j > i - 3 (3 keys, the query included)', () => {
  assert.deepEqual(one(slidingWindowCausal(3), 6), [
    [1, 0, 0, 0, 0, 0],
    [1, 1, 0, 0, 0, 0],
    [1, 1, 1, 0, 0, 0],
    [0, 1, 1, 1, 0, 0],
    [0, 0, 1, 1, 1, 0],
    [0, 0, 0, 1, 1, 1],
  ]);
});

test('slidingWindowBidirectional(2): |i - j| < 2 (2W-1 = 3 keys)', () => {
  assert.deepEqual(one(slidingWindowBidirectional(2)), [
    [1, 1, 0, 0, 0],
    [1, 1, 1, 0, 0],
    [0, 1, 1, 1, 0],
    [0, 0, 1, 1, 1],
    [0, 0, 0, 1, 1],
  ]);
});

test('padding hides pad keys per row; andMasks / orMasks compose', () => {
  const mask = [
    [1, 1, 1, 0],
    [1, 1, 0, 0],
  ];
  const m = maskMatrix(andMasks(causal, padding(mask)), 2, 4, 4);
  assert.deepEqual(m, [
    [
      [1, 0, 0, 0],
      [1, 1, 0, 0],
      [1, 1, 1, 0],
      [1, 1, 1, 0],
    ],
    [
      [1, 0, 0, 0],
      [1, 1, 0, 0],
      [1, 1, 0, 0],
      [1, 1, 0, 0],
    ],
  ]);
  // causal OR "key 3" lets every query see the last key too
  assert.deepEqual(one(orMasks(causal, (_b, _i, j) => j === 3), 4), [
    [1, 0, 0, 1],
    [1, 1, 0, 1],
    [1, 1, 1, 1],
    [1, 1, 1, 1],
  ]);
});

test('layerMask: the mode x layer-type table (W = 4)', () => {
  const W = 4;
  const at = (mode: Parameters<typeof layerMask>[0], lt: 'full_attention' | 'sliding_attention') => one(layerMask(mode, lt, W), 7);
  assert.deepEqual(at('causal', 'full_attention'), one(causal, 7));
  assert.deepEqual(at('causal', 'sliding_attention'), one(slidingWindowCausal(4), 7));
  assert.deepEqual(at('bidirectional_global', 'sliding_attention'), one(bidirectional, 7));
  assert.deepEqual(at('bidirectional_sliding', 'full_attention'), one(bidirectional, 7));
  assert.deepEqual(at('bidirectional_sliding', 'sliding_attention'), one(slidingWindowBidirectional(4), 7));
  // HF Gemma 3 bidirectional: W // 2 + 1 = 3 -> |i - j| < 3
  assert.deepEqual(at('bidirectional_sliding_gemma3_hf', 'sliding_attention')[3], [0, 1, 1, 1, 1, 1, 0]);
  assert.throws(() => layerMask('causal', 'sliding_attention', null), /sliding window/);
});

test('maskBias: [B,1,T,S] with 0 where visible and a large finite negative elsewhere', async () => {
  await initEngine();
  const bias = maskBias(andMasks(causal, padding([[1, 1, 0]])), 1, 3, 3);
  assert.deepEqual(bias.shape, [1, 1, 3, 3]);
  const N = Math.fround(MASK_NEG);
  assert.deepEqual(Array.from(bias.dataSync()), [0, N, N, 0, 0, N, 0, 0, N]);
  assert.ok(Number.isFinite(MASK_NEG));
  bias.dispose();
  // A query with no visible key averages uniformly instead of producing NaN.
  const p = tf.tidy(() => tf.softmax(tf.add(tf.tensor2d([[0.3, -2, 5]]), tf.fill([1, 3], MASK_NEG))).dataSync());
  for (const x of p) assert.ok(Math.abs(x - 1 / 3) < 1e-6);
});
