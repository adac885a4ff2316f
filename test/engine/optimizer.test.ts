/**
 * The native in-place AdamW (one addon call per parameter group) against the tfjs-op update it
 * replaces (stock wasm engine, no addon), over several steps with weight decay on some parameters;
 * and in-place safety: a tensor sharing a parameter's data (a snapshot clone) is left unchanged.
 * Tolerance 1e-6 absolute on O(1) values (float32 rounding of the same formula; FMA contraction).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { nativeAdamWAvailable } from '../../src/engine/optimizer.js';
import { initEngine } from '../../src/engine/index.js';
import { Rng } from '../../src/rng/index.js';
import { AdamW } from '../../src/train/optimizer.js';
import { assertAllClose } from '../helpers/close.js';

const SHAPES: [string, number[]][] = [
  ['layer.weight', [33, 70]],
  ['layer.norm.weight', [70]],
  ['big.weight', [300, 300]], // above the threading threshold
];

/** Runs `steps` updates on the current engine from fixed random parameters and gradients. */
function run(steps: number) {
  const rng = new Rng('adamw-native');
  const params = new Map(SHAPES.map(([n, s]) => [n, tf.variable(tf.tensor(Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.normal()), s))]));
  const snapshot = (params.get('layer.weight') as tf.Variable).clone();
  const before = snapshot.dataSync().slice();
  const opt = new AdamW(params, { weightDecay: 0.1 });
  for (let t = 0; t < steps; t++) {
    const grads = new Map(SHAPES.map(([n, s]) => [n, tf.tensor(Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.normal() * 0.1), s)]));
    opt.apply(grads, 0.01 * (t + 1));
    tf.dispose([...grads.values()]);
  }
  const out = new Map([...params].map(([n, p]) => [n, p.dataSync().slice()]));
  const st = opt.state();
  const m = new Map([...st.m].map(([n, x]) => [n, x.dataSync().slice()]));
  const v = new Map([...st.v].map(([n, x]) => [n, x.dataSync().slice()]));
  const snapshotAfter = snapshot.dataSync().slice();
  opt.dispose();
  tf.dispose([snapshot, ...params.values()]);
  return { out, m, v, before, snapshotAfter };
}

describe('native AdamW', () => {
  it('matches the tfjs-op update over 4 steps and never writes through shared data', async () => {
    await initEngine('wasm');
    assert.equal(nativeAdamWAvailable(), false);
    const ref = run(4);
    await initEngine('native');
    assert.equal(nativeAdamWAvailable(), true);
    const got = run(4);
    for (const [n] of SHAPES) {
      assertAllClose(got.out.get(n) as Float32Array, ref.out.get(n) as Float32Array, 1e-6, `${n} params`);
      assertAllClose(got.m.get(n) as Float32Array, ref.m.get(n) as Float32Array, 1e-7, `${n} m`);
      assertAllClose(got.v.get(n) as Float32Array, ref.v.get(n) as Float32Array, 1e-8, `${n} v`);
    }
    assert.deepEqual(got.snapshotAfter, got.before, 'a clone taken before training must not change');
    // and the parameters did move
    assert.notDeepEqual(got.out.get('layer.weight'), got.before);
  });
});
