/**
 * Native Transpose, last-axis Softmax and contiguous-axes Sum (registered for the cpu backend) against float64
 * references, incl. the threaded path, masked (-inf) logits and gradients. The same checks run on
 * stock wasm as a control. Tolerance: transpose is exact; softmax 1e-6 abs + 1e-5 rel.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { Rng } from '../../src/rng/index.js';
import { assertAllClose } from '../helpers/close.js';
import { randomTensor, size, unravel } from './reference.js';

const rng = new Rng('engine-layout');

function transposeRef(data: Float64Array, shape: number[], perm: number[]): Float64Array {
  const outShape = perm.map((p) => shape[p] as number);
  const out = new Float64Array(data.length);
  for (let o = 0; o < out.length; o++) {
    const oc = unravel(o, outShape);
    const ic = new Array<number>(shape.length);
    perm.forEach((p, d) => (ic[p] = oc[d] as number));
    let idx = 0;
    for (let d = 0; d < shape.length; d++) idx = idx * (shape[d] as number) + (ic[d] as number);
    out[o] = data[idx] as number;
  }
  return out;
}

function softmaxRef(data: Float64Array, n: number): Float64Array {
  const out = new Float64Array(data.length);
  for (let r = 0; r < data.length / n; r++) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, data[r * n + j] as number);
    let s = 0;
    for (let j = 0; j < n; j++) s += Math.exp((data[r * n + j] as number) - m);
    for (let j = 0; j < n; j++) out[r * n + j] = Math.exp((data[r * n + j] as number) - m) / s;
  }
  return out;
}

const TRANSPOSES: [number[], number[]][] = [
  [[7], [0]],
  [[33, 65], [1, 0]],
  [[1, 7], [1, 0]],
  [[3, 5, 7], [2, 0, 1]],
  [[3, 5, 7], [0, 2, 1]],
  [[2, 33, 4, 17], [0, 2, 1, 3]], // [B,T,H,K] -> [B,H,T,K]
  [[2, 4, 33, 17], [0, 1, 3, 2]],
  [[2, 3, 1, 5, 7], [4, 2, 0, 3, 1]],
  [[16, 65, 4, 17], [0, 2, 1, 3]], // > 65536 elements: threaded
];

for (const choice of ['cpu', 'wasm'] as const) {
  describe(`Transpose and Softmax on ${choice}${choice === 'cpu' ? ' (native)' : ' (stock control)'}`, () => {
    it('transpose matches the index reference exactly, with gradient', async () => {
      const info = await initEngine(choice);
      if (choice === 'cpu') assert.ok(['Transpose', 'Softmax', 'Sum'].every((k) => info.nativeKernels.includes(k)));
      for (const [shape, perm] of TRANSPOSES) {
        const x = randomTensor(rng, shape);
        const got = tf.tidy(() => tf.transpose(tf.tensor(Float32Array.from(x.data), shape), perm));
        assert.deepEqual(got.shape, perm.map((p) => shape[p]));
        assertAllClose(got.dataSync(), transposeRef(x.data, shape, perm), 0, `${choice} transpose [${shape}] by [${perm}]`);
        got.dispose();
        // d/dx sum(W * transpose(x)) = transpose(W, inverse perm)
        const outShape = perm.map((p) => shape[p] as number);
        const w = randomTensor(rng, outShape);
        const inv = perm.map((_, i) => perm.indexOf(i));
        const g = tf.tidy(() =>
          tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.transpose(t, perm), tf.tensor(Float32Array.from(w.data), outShape))))(tf.tensor(Float32Array.from(x.data), shape)).dataSync(),
        );
        assertAllClose(g, transposeRef(w.data, outShape, inv), 0, `${choice} d transpose [${shape}]`);
      }
    });

    it('sum over axis blocks matches float64 (keepDims, negative axes, stock for gaps)', async () => {
      await initEngine(choice);
      const cases: [number[], number | number[] | null, boolean][] = [
        [[7], 0, false],
        [[33, 65], 1, false],
        [[33, 65], -1, true],
        [[16, 128, 256], [0, 1], false], // bias-gradient style: P = 1, threaded over column blocks
        [[16, 128, 33], [1], true],
        [[2, 3, 5, 7], [1, 2], false],
        [[2, 3, 5, 7], null, false],
        [[2, 3, 5, 7], [0, 2], true], // not contiguous: stock kernel
        [[4, 65, 1031], 2, false], // last axis, threaded
      ];
      for (const [shape, axis, keepDims] of cases) {
        const x = randomTensor(rng, shape);
        const rank = shape.length;
        const axes = axis === null ? shape.map((_, i) => i) : (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a));
        const outShape = keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
        const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
        const want = new Float64Array(size(outShape));
        for (let i = 0; i < x.data.length; i++) {
          const c = unravel(i, shape);
          let o = 0;
          for (let d = 0; d < rank; d++) o = o * (kept[d] as number) + (axes.includes(d) ? 0 : (c[d] as number));
          want[o]! += x.data[i] as number;
        }
        const got = tf.tidy(() => tf.sum(tf.tensor(Float32Array.from(x.data), shape), axis ?? undefined, keepDims));
        assert.deepEqual(got.shape, outShape, `sum [${shape}] axis ${JSON.stringify(axis)} shape`);
        const n = size(shape) / Math.max(1, size(outShape));
        assertAllClose(got.dataSync(), want, 1e-6 * n, `${choice} sum [${shape}] axis ${JSON.stringify(axis)}`);
        got.dispose();
      }
    });

    it('softmax over the last axis matches float64 (incl. -inf masks), with gradient', async () => {
      await initEngine(choice);
      for (const shape of [[1], [7], [3, 33], [2, 4, 17, 17], [4, 4, 65, 129]]) {
        const x = randomTensor(rng, shape, 3);
        const n = shape[shape.length - 1] as number;
        // Causal-style mask: -inf above the diagonal of each trailing square block (never a whole row).
        for (let i = 0; i < x.data.length; i++) if (i % n > Math.floor(i / n) % n) x.data[i] = -Infinity;
        const want = softmaxRef(x.data, n);
        const got = tf.tidy(() => tf.softmax(tf.tensor(Float32Array.from(x.data), shape)).dataSync());
        assertAllClose(got, want, 1e-6, `${choice} softmax [${shape}]`, 1e-5);
        // d/dx sum(W * softmax(x)) = y * (W - sum(W * y))
        const w = randomTensor(rng, shape);
        const wantG = new Float64Array(want.length);
        for (let r = 0; r < want.length / n; r++) {
          let dot = 0;
          for (let j = 0; j < n; j++) dot += (w.data[r * n + j] as number) * (want[r * n + j] as number);
          for (let j = 0; j < n; j++) wantG[r * n + j] = (want[r * n + j] as number) * ((w.data[r * n + j] as number) - dot);
        }
        const g = tf.tidy(() =>
          tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.softmax(t), tf.tensor(Float32Array.from(w.data), shape))))(tf.tensor(Float32Array.from(x.data), shape)).dataSync(),
        );
        assertAllClose(g, wantG, 1e-6, `${choice} d softmax [${shape}]`, 1e-5);
        assert.equal(size(shape), got.length);
      }
    });
  });
}
