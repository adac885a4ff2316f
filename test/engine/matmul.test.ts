/**
 * Native BatchMatMul / _FusedMatMul against a float64 reference: every transpose combination,
 * odd sizes, 3-D/4-D batches, one- and two-sided batch broadcasting, blocking edges (K > 256,
 * N > 2048, M > 120), on both backends we override (wasm and cpu), plus gradients.
 * Tolerance: |got - want| <= TOL.kernelRel * max_ij sum_k |a_ik b_kj| (float32 accumulation error
 * grows with that magnitude; a wrong index or missed block is off by O(that) instead).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { Rng } from '../../src/rng/index.js';
import { assertAllClose, TOL } from '../helpers/close.js';
import { type F64Tensor, matMulRef, randomTensor, reduceToShape, size, transposeLast } from './reference.js';

interface Case {
  a: number[];
  b: number[];
  tA: boolean;
  tB: boolean;
}

/** op(A) M x K, op(B) K x N with the given batch dims, laid out per transpose flags. */
function mm(aBatch: number[], bBatch: number[], M: number, K: number, N: number, tA: boolean, tB: boolean): Case {
  return { a: [...aBatch, ...(tA ? [K, M] : [M, K])], b: [...bBatch, ...(tB ? [N, K] : [K, N])], tA, tB };
}

const FLAGS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

const CASES: Case[] = FLAGS.flatMap(([tA, tB]) => [
  mm([], [], 1, 1, 1, tA, tB),
  mm([], [], 7, 33, 65, tA, tB),
  mm([], [], 129, 65, 33, tA, tB),
  mm([], [], 1, 129, 7, tA, tB),
  mm([], [], 65, 1, 129, tA, tB),
  mm([], [], 130, 300, 70, tA, tB), // M > MC=120, K > KC=256, threaded
  mm([4], [4], 33, 65, 17, tA, tB),
  mm([3], [], 33, 7, 65, tA, tB), // shared B: folds into one GEMM when !tA
  mm([], [3], 7, 33, 65, tA, tB), // shared A
  mm([2, 1], [3], 4, 6, 5, tA, tB), // [2,1,4,6]x[3,6,5]: broadcast on both sides -> [2,3,4,5]
  mm([2, 3], [2, 3], 17, 16, 33, tA, tB), // [B,H,T,K]x[B,H,K,S]
  mm([2, 1, 3], [4, 1], 5, 9, 7, tA, tB), // 5-D with interleaved broadcasts
]);

const rng = new Rng('engine-matmul');
const data = (t: F64Tensor) => tf.tensor(Float32Array.from(t.data), t.shape);

function checkForward(c: Case, what: string): void {
  const a = randomTensor(rng, c.a);
  const b = randomTensor(rng, c.b);
  const want = matMulRef(a, b, c.tA, c.tB);
  const got = tf.tidy(() => tf.matMul(data(a), data(b), c.tA, c.tB));
  assert.deepEqual(got.shape, want.out.shape, `${what}: shape`);
  assertAllClose(got.dataSync(), want.out.data, TOL.kernelRel * Math.max(1, want.absScale), what);
  got.dispose();
}

function checkGradients(c: Case, what: string): void {
  const a = randomTensor(rng, c.a);
  const b = randomTensor(rng, c.b);
  const fwd = matMulRef(a, b, c.tA, c.tB);
  const w = randomTensor(rng, fwd.out.shape);
  // loss = sum(W * op(A) op(B)): d op(A) = W op(B)^T, d op(B) = op(A)^T W, summed over broadcast dims.
  const dOpA = matMulRef(w, b, false, !c.tB);
  const dOpB = matMulRef(a, w, !c.tA, false);
  const wantA = reduceToShape(c.tA ? transposeLast(dOpA.out) : dOpA.out, c.a);
  const wantB = reduceToShape(c.tB ? transposeLast(dOpB.out) : dOpB.out, c.b);
  const W = data(w);
  const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, c.tA, c.tB), W)))([data(a), data(b)]) as [
    tf.Tensor,
    tf.Tensor,
  ];
  const scale = Math.max(dOpA.absScale, dOpB.absScale) * (size(fwd.out.shape) / Math.max(1, size(c.a) + size(c.b)) + 1);
  assertAllClose(ga.dataSync(), wantA.data, TOL.kernelRel * Math.max(1, scale), `${what} dA`);
  assertAllClose(gb.dataSync(), wantB.data, TOL.kernelRel * Math.max(1, scale), `${what} dB`);
  tf.dispose([ga, gb, W]);
}

const label = (c: Case) => `[${c.a}]${c.tA ? 'ᵀ' : ''} x [${c.b}]${c.tB ? 'ᵀ' : ''}`;

for (const choice of ['native', 'cpu'] as const) {
  describe(`native matMul on ${choice === 'native' ? 'wasm' : 'cpu'}`, () => {
    it('serves BatchMatMul and _FusedMatMul natively', async () => {
      const info = await initEngine(choice);
      assert.equal(info.native, true, 'addon must be built for these tests (npm install)');
      assert.ok(info.nativeKernels.includes('BatchMatMul') && info.nativeKernels.includes('_FusedMatMul'));
    });

    it('matches float64 on all transpose / batch / broadcast cases', async () => {
      await initEngine(choice);
      for (const c of CASES) checkForward(c, `${choice} ${label(c)}`);
    });

    it('handles blocking edges: N > 2048 and large K', async () => {
      await initEngine(choice);
      for (const [tA, tB] of FLAGS) checkForward(mm([], [], 13, 520, 2100, tA, tB), `${choice} N>2048 ${tA}${tB}`);
    });

    it('gives matMul gradients equal to the analytic float64 ones (incl. broadcast batch)', async () => {
      await initEngine(choice);
      for (const c of CASES.filter((x) => size(x.a) * size(x.b) < 5e6)) checkGradients(c, `${choice} grad ${label(c)}`);
    });

    it('fused matMul + bias + activation is correct on batched, transposed input', async () => {
      await initEngine(choice);
      // The case where stock wasm _FusedMatMul indexes the bias wrongly (docs/engine.md).
      for (const [tA, tB] of FLAGS) {
        const c = mm([4], [4], 33, 65, 17, tA, tB);
        const a = randomTensor(rng, c.a);
        const b = randomTensor(rng, c.b);
        const mat = matMulRef(a, b, tA, tB);
        for (const [activation, biasShape] of [
          ['relu', [17]],
          ['linear', [33, 1]],
          ['relu6', [4, 1, 17]],
          ['elu', [1]],
          ['sigmoid', [17]],
          ['leakyrelu', [17]],
        ] as const) {
          const bias = randomTensor(rng, [...biasShape]);
          const want = new Float64Array(mat.out.data.length);
          for (let i = 0; i < want.length; i++) {
            const col = i % 17;
            const row = Math.floor(i / 17) % 33;
            const batch = Math.floor(i / (17 * 33));
            const bi =
              biasShape.length === 1 ? (biasShape[0] === 1 ? 0 : col) : biasShape.length === 2 ? row : batch * 17 + col;
            const x = (mat.out.data[i] as number) + (bias.data[bi] as number);
            want[i] =
              activation === 'relu'
                ? Math.max(0, x)
                : activation === 'relu6'
                  ? Math.min(6, Math.max(0, x))
                  : activation === 'elu'
                    ? x < 0
                      ? Math.expm1(x)
                      : x
                    : activation === 'sigmoid'
                      ? 1 / (1 + Math.exp(-x))
                      : activation === 'leakyrelu'
                        ? x < 0
                          ? 0.2 * x
                          : x
                        : x;
          }
          const got = tf.tidy(() =>
            tf.fused.matMul({ a: data(a), b: data(b), transposeA: tA, transposeB: tB, bias: data(bias), activation }),
          );
          assertAllClose(got.dataSync(), want, TOL.kernelRel * mat.absScale, `fused ${activation} bias[${biasShape}] ${tA}${tB}`);
          got.dispose();
        }
        const alpha = randomTensor(rng, [17]);
        const got = tf.tidy(() =>
          tf.fused.matMul({ a: data(a), b: data(b), transposeA: tA, transposeB: tB, activation: 'prelu', preluActivationWeights: data(alpha) }),
        );
        const want = mat.out.data.map((x, i) => (x < 0 ? x * (alpha.data[i % 17] as number) : x));
        assertAllClose(got.dataSync(), want, TOL.kernelRel * mat.absScale, `fused prelu ${tA}${tB}`);
        got.dispose();
      }
    });

    it('fused matMul gradients (bias + relu) match float64', async () => {
      await initEngine(choice);
      const a = randomTensor(rng, [4, 33, 65]);
      const b = randomTensor(rng, [4, 65, 17]);
      const bias = randomTensor(rng, [17]);
      const mat = matMulRef(a, b, false, false);
      const w = randomTensor(rng, mat.out.shape);
      // mask = relu'(ab + bias); g = W * mask
      const g = new Float64Array(w.data.length);
      for (let i = 0; i < g.length; i++) g[i] = (mat.out.data[i] as number) + (bias.data[i % 17] as number) > 0 ? (w.data[i] as number) : 0;
      const G = { shape: mat.out.shape, data: g };
      const wantA = matMulRef(G, b, false, true);
      const wantB = matMulRef(a, G, true, false);
      const wantBias = reduceToShape(G, [17]);
      const W = data(w);
      const [ga, gb, gbias] = tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
        tf.sum(tf.mul(tf.fused.matMul({ a: x as tf.Tensor3D, b: y as tf.Tensor3D, bias: z, activation: 'relu' }), W)),
      )([data(a), data(b), data(bias)]) as [tf.Tensor, tf.Tensor, tf.Tensor];
      const tol = TOL.kernelRel * Math.max(wantA.absScale, wantB.absScale, 1) * 4;
      assertAllClose(ga.dataSync(), wantA.out.data, tol, 'fused dA');
      assertAllClose(gb.dataSync(), wantB.out.data, tol, 'fused dB');
      assertAllClose(gbias.dataSync(), wantBias.data, tol * 4, 'fused dBias');
      tf.dispose([ga, gb, gbias, W]);
    });
  });
}

describe('stock wasm (no addon)', () => {
  it('still computes matMul correctly, so the fallback is usable', async () => {
    const info = await initEngine('wasm');
    assert.equal(info.native, false);
    assert.deepEqual(info.nativeKernels, []);
    for (const c of CASES.filter((x) => size(x.a) < 5000 && x.a.length === x.b.length)) checkForward(c, `stock ${label(c)}`);
  });
});
