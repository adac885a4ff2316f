/**
 * Native elementwise kernels (and the stock fallbacks they delegate to) against float64 Math, on
 * odd sizes below and above the threading threshold, with gradients through them.
 * Tolerances: float32 results are compared with atol = 1e-6 * max(1, |want|) per element
 * (rtol 1e-6: libmvec's expf/tanhf/logf are within 4 ulp = 2.4e-7 relative; round-to-float32 adds 6e-8).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { Rng } from '../../src/rng/index.js';
import { assertAllClose } from '../helpers/close.js';
import { broadcastIndex, broadcastShape, randomTensor, size, unravel } from './reference.js';

const RTOL = 1e-6;
const rng = new Rng('engine-elementwise');
const SHAPES = [[1], [7], [33, 65], [3, 129, 7], [2, 65, 1031]]; // the last has > 65536 elements: threaded path

const UNARY: [string, (x: tf.Tensor) => tf.Tensor, (x: number) => number, (x: number) => number, (r: Rng) => number][] = [
  ['Exp', tf.exp, Math.exp, Math.exp, (r) => r.normal() * 4],
  ['Tanh', tf.tanh, Math.tanh, (x) => 1 - Math.tanh(x) ** 2, (r) => r.normal() * 3],
  ['Neg', tf.neg, (x) => -x, () => -1, (r) => r.normal()],
  ['Square', tf.square, (x) => x * x, (x) => 2 * x, (r) => r.normal() * 3],
  ['Rsqrt', tf.rsqrt, (x) => 1 / Math.sqrt(x), (x) => -0.5 * x ** -1.5, (r) => 0.1 + r.next() * 10],
  ['Log', tf.log, Math.log, (x) => 1 / x, (r) => 1e-3 + r.next() * 100],
];

const BINARY: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, (a: number, b: number) => number, (a: number, b: number) => [number, number]][] = [
  ['Add', tf.add, (a, b) => a + b, () => [1, 1]],
  ['Multiply', tf.mul, (a, b) => a * b, (a, b) => [b, a]],
  ['Sub', tf.sub, (a, b) => a - b, () => [1, -1]],
  ['RealDiv', tf.div, (a, b) => a / b, (a, b) => [1 / b, -a / (b * b)]],
];

function fill(shape: number[], gen: (r: Rng) => number): Float32Array {
  return Float32Array.from({ length: size(shape) }, () => gen(rng));
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string) {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] as number));
  assertAllClose(got, want, RTOL, what, RTOL);
  return worst;
}

for (const choice of ['native', 'cpu', 'wasm'] as const) {
  describe(`elementwise on ${choice}`, () => {
    it('unary ops match float64 Math, with gradients', async () => {
      const info = await initEngine(choice);
      if (choice !== 'wasm') for (const [name] of UNARY) assert.ok(info.nativeKernels.includes(name), `${name} native`);
      for (const [name, op, f, df, gen] of UNARY) {
        for (const shape of SHAPES) {
          const x = fill(shape, gen);
          const got = tf.tidy(() => op(tf.tensor(x, shape)).dataSync());
          expectClose(got, Array.from(x, f), `${choice} ${name} [${shape}]`);
          // d/dx sum(w * f(x)) = w f'(x)
          const w = fill(shape, (r) => r.normal());
          const g = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(op(t), tf.tensor(w, shape))))(tf.tensor(x, shape)).dataSync());
          // Exp/Tanh grads reuse the float32 forward value: allow float32 rounding of f(x) relative to |w f'(x)|.
          assertAllClose(g, Array.from(x, (v, i) => (w[i] as number) * df(v)), 1e-6, `${choice} d${name} [${shape}]`, 1e-5);
        }
      }
    });

    it('unary ops keep IEEE special values (inf, nan, signed zero, overflow, denormals)', async () => {
      await initEngine(choice);
      const xs = [100, -100, 0, -0, 20, -20, 88.7, -87.5, 1e-40, -1, Infinity, -Infinity, NaN].map(Math.fround); // what float32 holds
      for (const [name, op, f] of UNARY) {
        const got = tf.tidy(() => op(tf.tensor(xs)).dataSync());
        xs.forEach((x, i) => {
          const want = Math.fround(f(x));
          const g = got[i] as number;
          const ok = Number.isNaN(want) ? Number.isNaN(g) : !Number.isFinite(want) ? g === want : Math.abs(g - want) <= 1e-44 + RTOL * Math.abs(want);
          assert.ok(ok, `${choice} ${name}(${x}) = ${g}, want ${want}`);
        });
      }
    });

    it('same-shape binary ops match float64, with gradients', async () => {
      await initEngine(choice);
      for (const [name, op, f, df] of BINARY) {
        for (const shape of SHAPES) {
          const a = fill(shape, (r) => r.normal() * 2);
          const b = fill(shape, (r) => (r.next() < 0.5 ? -1 : 1) * (0.5 + r.next() * 2));
          const got = tf.tidy(() => op(tf.tensor(a, shape), tf.tensor(b, shape)).dataSync());
          expectClose(got, Array.from(a, (x, i) => f(x, b[i] as number)), `${choice} ${name} [${shape}]`);
          const w = fill(shape, (r) => r.normal());
          const [ga, gb] = tf.tidy(() =>
            tf
              .grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(op(x, y), tf.tensor(w, shape))))([tf.tensor(a, shape), tf.tensor(b, shape)])
              .map((t) => t.dataSync()),
          ) as [Float32Array, Float32Array];
          const want = Array.from(a, (x, i) => df(x, b[i] as number).map((d) => d * (w[i] as number)));
          assertAllClose(ga, want.map((d) => d[0] as number), 1e-6, `${choice} d${name}/da [${shape}]`, 1e-5);
          assertAllClose(gb, want.map((d) => d[1] as number), 1e-6, `${choice} d${name}/db [${shape}]`, 1e-5);
        }
      }
    });

    it('broadcast binary ops (scalar, trailing block, [..., 1] column, and stock-only patterns) match float64', async () => {
      await initEngine(choice);
      const pairs: [number[], number[]][] = [
        [[3, 5, 7], [7]], // trailing vector (bias-like)
        [[7], [3, 5, 7]], // ... on the left: Sub/Div order matters
        [[3, 5, 7], [5, 7]],
        [[1, 5, 7], [3, 5, 7]],
        [[3, 5, 7], []], // scalar
        [[1], [3, 5, 7]],
        [[3, 5, 7], [3, 5, 1]], // column (RMSNorm's [B,T,1])
        [[3, 5, 1], [3, 5, 7]],
        [[2, 65, 1031], [2, 65, 1]], // threaded
        [[2, 65, 1031], [1031]],
        [[3, 1, 7], [3, 5, 7]], // middle-axis broadcast: stock kernel
        [[3, 5, 1], [1, 1, 7]], // both sides broadcast: stock kernel
      ];
      for (const [name, op, f] of BINARY) {
        for (const [sa, sb] of pairs) {
          const a = randomTensor(rng, sa);
          const b = randomTensor(rng, sb);
          for (let i = 0; i < b.data.length; i++) b.data[i] = Math.fround((b.data[i] as number) < 0 ? (b.data[i] as number) - 0.5 : (b.data[i] as number) + 0.5);
          const outShape = broadcastShape(sa, sb);
          const want = Array.from({ length: size(outShape) }, (_, i) => {
            const coord = unravel(i, outShape);
            return f(a.data[broadcastIndex(coord, sa)] as number, b.data[broadcastIndex(coord, sb)] as number);
          });
          const got = tf.tidy(() => op(tf.tensor(Float32Array.from(a.data), sa), tf.tensor(Float32Array.from(b.data), sb)));
          assert.deepEqual(got.shape, outShape, `${name} [${sa}] [${sb}] shape`);
          expectClose(got.dataSync(), want, `${choice} ${name} [${sa}] (op) [${sb}]`);
          got.dispose();
        }
      }
    });

    it('int32 inputs go to the stock kernels and stay correct', async () => {
      await initEngine(choice);
      const ints = tf.tidy(() => tf.add(tf.tensor([1, 2, 3], [3], 'int32'), tf.tensor([4, 5, 6], [3], 'int32')));
      assert.equal(ints.dtype, 'int32');
      assert.deepEqual(Array.from(ints.dataSync()), [5, 7, 9]);
      ints.dispose();
    });
  });
}
