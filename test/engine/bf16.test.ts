/**
 * bf16 compute (computeDtype 'bf16'): the native GEMM rounds A and B to bfloat16 and accumulates in
 * float32. Reference: float64 products of the bf16-rounded operands, rounded here by an independent
 * neighbour search (not the kernel's bit trick). Every bf16 x bf16 product is exact in float32, so
 * the only error left is float32 accumulation: tolerance TOL.kernelRel * max_ij sum_k |a_ik b_kj|,
 * the same bound as the fp32 kernel (matmul.test.ts). The vdpbf16ps kernel and the portable exact
 * kernel must agree bit for bit; CPU detection must agree with /proc/cpuinfo.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../../src/errors.js';
import { getComputeDtype, initEngine, parseComputeDtype, setBf16Kernel, setComputeDtype } from '../../src/engine/index.js';
import { parseBf16Kernel } from '../../src/engine/compute.js';
import { loadNativeAddon } from '../../src/engine/native.js';
import { Rng } from '../../src/rng/index.js';
import { assertAllClose, TOL } from '../helpers/close.js';
import { type F64Tensor, matMulRef, randomTensor, reduceToShape, size, transposeLast } from './reference.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Nearest bfloat16 to the float32 `x` (ties to an even last mantissa bit), found by comparing the
 * two bf16 neighbours in float64. Denormals flush to signed zero, as vcvtneps2bf16 does.
 */
export function bf16Round(x: number): number {
  f32[0] = x;
  const bits = u32[0] as number;
  if (Number.isNaN(x) || !Number.isFinite(x)) return x;
  if ((bits & 0x7f800000) === 0) return Object.is(x, -0) || bits >>> 31 ? -0 : 0;
  u32[0] = bits & 0xffff0000;
  const down = f32[0] as number; // toward zero
  u32[0] = (bits & 0xffff0000) + 0x10000;
  const up = f32[0] as number; // away from zero; +-Infinity past the largest bf16, which sits 2^128 away
  const dDown = Math.abs(x - down);
  const dUp = Math.abs((Number.isFinite(up) ? up : Math.sign(up) * 2 ** 128) - x);
  if (dDown < dUp) return down;
  if (dUp < dDown) return up;
  return ((bits >>> 16) & 1) === 0 ? down : up; // tie: keep the even one
}

const roundTensor = (t: F64Tensor): F64Tensor => ({ shape: t.shape, data: t.data.map(bf16Round) });

interface Case {
  a: number[];
  b: number[];
  tA: boolean;
  tB: boolean;
}

function mm(aBatch: number[], bBatch: number[], M: number, K: number, N: number, tA: boolean, tB: boolean): Case {
  return { a: [...aBatch, ...(tA ? [K, M] : [M, K])], b: [...bBatch, ...(tB ? [N, K] : [K, N])], tA, tB };
}

const FLAGS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

// The fp32 kernel's case list plus bf16 blocking edges: odd K (a half-empty last pair), K > KC=512.
const CASES: Case[] = FLAGS.flatMap(([tA, tB]) => [
  mm([], [], 1, 1, 1, tA, tB),
  mm([], [], 7, 33, 65, tA, tB),
  mm([], [], 129, 65, 33, tA, tB),
  mm([], [], 1, 129, 7, tA, tB),
  mm([], [], 65, 1, 129, tA, tB),
  mm([], [], 130, 300, 70, tA, tB),
  mm([], [], 37, 1031, 45, tA, tB), // K > 512, odd: three K blocks, last one odd
  mm([4], [4], 33, 65, 17, tA, tB),
  mm([3], [], 33, 7, 65, tA, tB),
  mm([], [3], 7, 33, 65, tA, tB),
  mm([2, 1], [3], 4, 6, 5, tA, tB),
  mm([2, 3], [2, 3], 17, 16, 33, tA, tB),
  mm([2, 1, 3], [4, 1], 5, 9, 7, tA, tB),
]);

const rng = new Rng('engine-bf16');
const data = (t: F64Tensor) => tf.tensor(Float32Array.from(t.data), t.shape);
const label = (c: Case) => `[${c.a}]${c.tA ? 'ᵀ' : ''} x [${c.b}]${c.tB ? 'ᵀ' : ''}`;
const hasBf16 = (() => {
  try {
    return loadNativeAddon().cpuFeatures().avx512bf16;
  } catch {
    return false;
  }
})();

after(() => {
  setComputeDtype('float32');
  setBf16Kernel('auto');
});

describe('bf16 rounding reference', () => {
  it('rounds to nearest, ties to even, flushes denormals', () => {
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: even is 1. 1 + 3*2^-8 is halfway to 1 + 2^-6 (even).
    assert.equal(bf16Round(1 + 2 ** -8), 1);
    assert.equal(bf16Round(1 + 3 * 2 ** -8), 1 + 2 ** -6);
    assert.equal(bf16Round(1 + 2 ** -8 + 2 ** -20), 1 + 2 ** -7);
    assert.equal(bf16Round(-(1 + 2 ** -8 + 2 ** -20)), -(1 + 2 ** -7));
    assert.equal(bf16Round(2 ** -140), 0);
    assert.equal(bf16Round(3.4e38), Infinity); // past the largest bf16's midpoint
  });
});

describe('bf16 GEMM', () => {
  it('detects AVX512-BF16 like /proc/cpuinfo says', () => {
    const lib = loadNativeAddon();
    let flags: string[];
    try {
      flags = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'))?.split(/\s+/) ?? [];
    } catch {
      return; // not Linux: nothing independent to compare with
    }
    const want = ['avx512_bf16', 'avx512f', 'avx512bw', 'avx512vl'].every((f) => flags.includes(f));
    assert.equal(lib.cpuFeatures().avx512bf16, want);
  });

  it('rounds operands to nearest even on the way in (1x1 products against exact values)', () => {
    const lib = loadNativeAddon();
    const xs = [1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -(1 + 2 ** -8 + 2 ** -20), 2 ** -140, 3.0e38, -7.123456, 0.1];
    const one = Float32Array.of(1);
    const z = new Float64Array(1);
    for (const path of [1, 2]) {
      for (const x of xs) {
        const c = new Float32Array(1);
        lib.bgemm(false, false, 1, 1, 1, Float32Array.of(x), z, one, z, c, path);
        assert.equal(c[0], bf16Round(Math.fround(x)), `path ${path}: bf16(${x})`);
      }
      const nan = new Float32Array(1);
      lib.bgemm(false, false, 1, 1, 1, Float32Array.of(NaN), z, one, z, nan, path);
      assert.ok(Number.isNaN(nan[0]), 'NaN propagates');
    }
  });

  it('computeDtype defaults to float32 and rejects unknown names with a typed error', () => {
    assert.equal(parseComputeDtype(undefined), 'float32');
    assert.equal(parseComputeDtype('bf16'), 'bf16');
    assert.throws(() => parseComputeDtype('fp16'), (e: unknown) => e instanceof ConfigError && /GEMMA_LAB_COMPUTE/.test(e.message));
    assert.throws(() => parseBf16Kernel('amx'), (e: unknown) => e instanceof ConfigError && /GEMMA_LAB_BF16_KERNEL/.test(e.message));
    if (process.env.GEMMA_LAB_COMPUTE === undefined) assert.equal(getComputeDtype(), 'float32');
  });

  for (const choice of ['native', 'cpu'] as const) {
    it(`${choice}: tf.matMul matches float64 on bf16-rounded operands, all transpose / batch / broadcast cases`, async () => {
      const info = await initEngine(choice, { computeDtype: 'bf16' });
      assert.equal(info.computeDtype, 'bf16');
      assert.equal(info.bf16Kernel, hasBf16 ? 'avx512' : 'exact');
      let roundedAway = 0;
      for (const c of CASES) {
        const a = randomTensor(rng, c.a);
        const b = randomTensor(rng, c.b);
        const want = matMulRef(roundTensor(a), roundTensor(b), c.tA, c.tB);
        const unrounded = matMulRef(a, b, c.tA, c.tB);
        const results: Float32Array[] = [];
        for (const kernel of ['auto', 'exact'] as const) {
          setBf16Kernel(kernel);
          const got = tf.tidy(() => tf.matMul(data(a), data(b), c.tA, c.tB));
          assert.deepEqual(got.shape, want.out.shape);
          const values = got.dataSync() as Float32Array;
          assertAllClose(values, want.out.data, TOL.kernelRel * Math.max(1, want.absScale), `${choice} ${kernel} ${label(c)}`);
          results.push(values);
          got.dispose();
        }
        // The forced portable kernel gives the same bits as vdpbf16ps.
        assert.deepEqual(results[1], results[0], `${choice} exact vs auto ${label(c)}`);
        const tol = TOL.kernelRel * Math.max(1, unrounded.absScale);
        if ((results[0] as Float32Array).some((v, i) => Math.abs(v - (unrounded.out.data[i] as number)) > tol)) roundedAway++;
      }
      setBf16Kernel('auto');
      // Proof the rounding happened: most cases differ from the unrounded fp32 product by more than fp32 noise.
      assert.ok(roundedAway > CASES.length / 2, `only ${roundedAway}/${CASES.length} cases differ from unrounded`);
      setComputeDtype('float32');
    });
  }

  it('handles blocking edges: N > 2048, M > 120, both kernels bit-identical', async () => {
    await initEngine('native', { computeDtype: 'bf16' });
    for (const [tA, tB] of FLAGS) {
      const c = mm([], [], 133, 520, 2100, tA, tB);
      const a = randomTensor(rng, c.a);
      const b = randomTensor(rng, c.b);
      const want = matMulRef(roundTensor(a), roundTensor(b), tA, tB);
      const results: Float32Array[] = [];
      for (const kernel of ['avx512', 'exact'] as const) {
        setBf16Kernel(kernel);
        const got = tf.tidy(() => tf.matMul(data(a), data(b), tA, tB));
        results.push(got.dataSync() as Float32Array);
        got.dispose();
      }
      assertAllClose(results[0] as Float32Array, want.out.data, TOL.kernelRel * want.absScale, `edge ${tA}${tB}`);
      assert.deepEqual(results[1], results[0], `edge ${tA}${tB}: exact vs avx512`);
    }
    setBf16Kernel('auto');
    setComputeDtype('float32');
  });

  it('gradients go through the bf16 GEMM: match float64 on the rounded operands of each backward matmul', async () => {
    await initEngine('native', { computeDtype: 'bf16' });
    for (const c of CASES.filter((x) => size(x.a) * size(x.b) < 5e6)) {
      const a = randomTensor(rng, c.a);
      const b = randomTensor(rng, c.b);
      const fwd = matMulRef(a, b, c.tA, c.tB);
      const w = randomTensor(rng, fwd.out.shape);
      const [ra, rb, rw] = [roundTensor(a), roundTensor(b), roundTensor(w)];
      // loss = sum(W * op(A) op(B)); dL/d(out) = W exactly, then each backward matmul rounds its inputs.
      const dOpA = matMulRef(rw, rb, false, !c.tB);
      const dOpB = matMulRef(ra, rw, !c.tA, false);
      const wantA = reduceToShape(c.tA ? transposeLast(dOpA.out) : dOpA.out, c.a);
      const wantB = reduceToShape(c.tB ? transposeLast(dOpB.out) : dOpB.out, c.b);
      const W = data(w);
      const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, c.tA, c.tB), W)))([data(a), data(b)]) as [
        tf.Tensor,
        tf.Tensor,
      ];
      const scale = Math.max(dOpA.absScale, dOpB.absScale) * (size(fwd.out.shape) / Math.max(1, size(c.a) + size(c.b)) + 1);
      assertAllClose(ga.dataSync(), wantA.data, TOL.kernelRel * Math.max(1, scale), `grad ${label(c)} dA`);
      assertAllClose(gb.dataSync(), wantB.data, TOL.kernelRel * Math.max(1, scale), `grad ${label(c)} dB`);
      tf.dispose([ga, gb, W]);
    }
    setComputeDtype('float32');
  });

  it('float32 is back in force after switching bf16 off', async () => {
    await initEngine('native', { computeDtype: 'bf16' });
    const info = await initEngine('native', { computeDtype: 'float32' });
    assert.equal(info.computeDtype, 'float32');
    const a = randomTensor(rng, [33, 65]);
    const b = randomTensor(rng, [65, 17]);
    const got = tf.tidy(() => tf.matMul(data(a), data(b)));
    const want = matMulRef(a, b, false, false);
    assertAllClose(got.dataSync(), want.out.data, TOL.kernelRel * want.absScale, 'fp32 after bf16');
    got.dispose();
  });
});
