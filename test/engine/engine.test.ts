/**
 * Engine selection (pure plan + initEngine with injected resolvers), the fallback without the
 * addon (one warning line, stock kernels, still correct), and the JS GatherV2 / UnsortedSegmentSum
 * that embedding lookups and their gradients use on wasm and cpu.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../../src/errors.js';
import { initEngine, parseBackendChoice, planEngine } from '../../src/engine/index.js';
import { Rng } from '../../src/rng/index.js';
import { assertAllClose } from '../helpers/close.js';

const rng = new Rng('engine-selection');

describe('planEngine', () => {
  const tfNode = { tensorflow: '@tensorflow/tfjs-node' };
  const noNative = { nativeError: 'cannot open shared object file' };
  it('auto prefers tfjs-node, then native, then stock wasm with one warning', () => {
    assert.deepEqual(planEngine('auto', tfNode), { backend: 'tensorflow', native: false, warnings: [] });
    assert.deepEqual(planEngine('auto', {}), { backend: 'wasm', native: true, warnings: [] });
    const fallback = planEngine('auto', noNative);
    assert.equal(fallback.backend, 'wasm');
    assert.equal(fallback.native, false);
    assert.equal(fallback.warnings.length, 1);
    assert.match(fallback.warnings[0] as string, /cannot open shared object file/);
    assert.doesNotMatch(fallback.warnings[0] as string, /\n/);
  });
  it('explicit choices', () => {
    assert.deepEqual(planEngine('wasm', {}), { backend: 'wasm', native: false, warnings: [] });
    assert.deepEqual(planEngine('native', {}), { backend: 'wasm', native: true, warnings: [] });
    assert.deepEqual(planEngine('cpu', {}), { backend: 'cpu', native: true, warnings: [] });
    assert.equal(planEngine('cpu', noNative).native, false);
    assert.equal(planEngine('cpu', noNative).warnings.length, 1);
    assert.deepEqual(planEngine('tensorflow', tfNode), { backend: 'tensorflow', native: false, warnings: [] });
  });
  it('unsatisfiable explicit choices throw a ConfigError naming GEMMA_LAB_BACKEND', () => {
    assert.throws(() => planEngine('tensorflow', {}), (e: unknown) => e instanceof ConfigError && /GEMMA_LAB_BACKEND.*tfjs-node/.test(e.message));
    assert.throws(() => planEngine('native', noNative), (e: unknown) => e instanceof ConfigError && /native addon unavailable/.test(e.message));
  });
  it('parses GEMMA_LAB_BACKEND', () => {
    assert.equal(parseBackendChoice(undefined), 'auto');
    assert.equal(parseBackendChoice(''), 'auto');
    for (const c of ['auto', 'native', 'wasm', 'cpu', 'tensorflow']) assert.equal(parseBackendChoice(c), c);
    assert.throws(() => parseBackendChoice('gpu'), (e: unknown) => e instanceof ConfigError && /GEMMA_LAB_BACKEND.*'gpu'/.test(e.message));
  });
});

/** gather rows of E, weight them, sum: d/dE[v] = sum over positions with id v of w[pos]. */
function checkEmbeddingGrad(what: string): void {
  const V = 37;
  const D = 9;
  const ids = Int32Array.from({ length: 3 * 11 }, () => rng.int(V));
  const E = Float32Array.from({ length: V * D }, () => rng.normal());
  const w = Float32Array.from({ length: ids.length * D }, () => rng.normal());
  const want = new Float64Array(V * D);
  for (let p = 0; p < ids.length; p++) for (let d = 0; d < D; d++) want[(ids[p] as number) * D + d]! += w[p * D + d] as number;
  const g = tf.tidy(() =>
    tf
      .grad((e: tf.Tensor) => tf.sum(tf.mul(tf.gather(e, tf.tensor(ids, [3, 11], 'int32')), tf.tensor(w, [3, 11, D]))))(tf.tensor(E, [V, D]))
      .dataSync(),
  );
  assertAllClose(g, want, 1e-5, what);
}

describe('UnsortedSegmentSum (JS kernel)', () => {
  for (const choice of ['wasm', 'native', 'cpu'] as const) {
    it(`embedding gradient on ${choice}`, async () => {
      await initEngine(choice);
      checkEmbeddingGrad(`gather grad on ${choice}`);
    });
    it(`direct call incl. out-of-range ids and int32 data on ${choice}`, async () => {
      await initEngine(choice);
      const x = tf.tensor([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
      const got = tf.tidy(() => tf.unsortedSegmentSum(x, tf.tensor1d([2, 0, 2, 5], 'int32'), 3).arraySync());
      assert.deepEqual(got, [[3, 4], [0, 0], [6, 8]]);
      const xi = tf.tensor([1, 2, 3], [3], 'int32');
      const gi = tf.tidy(() => tf.unsortedSegmentSum(xi, tf.tensor1d([1, 1, 0], 'int32'), 2));
      assert.equal(gi.dtype, 'int32');
      assert.deepEqual(Array.from(gi.dataSync()), [3, 3]);
      tf.dispose([x, xi, gi]);
    });
  }
});

/** Gathers from x [A, B, C] along `axis` with ids of shape idsShape, against index arithmetic in float64. */
function checkGather(axis: number, idsShape: number[], what: string): void {
  const dims = [5, 7, 3];
  const x = Float32Array.from({ length: 5 * 7 * 3 }, () => rng.normal());
  const a = axis < 0 ? axis + 3 : axis;
  const ids = Int32Array.from({ length: idsShape.reduce((p, q) => p * q, 1) }, () => rng.int(dims[a] as number));
  const outer = dims.slice(0, a).reduce((p, q) => p * q, 1);
  const inner = dims.slice(a + 1).reduce((p, q) => p * q, 1);
  const want: number[] = [];
  for (let o = 0; o < outer; o++) for (const id of ids) for (let r = 0; r < inner; r++) want.push(x[(o * (dims[a] as number) + id) * inner + r] as number);
  const got = tf.tidy(() => tf.gather(tf.tensor(x, dims), tf.tensor(ids, idsShape, 'int32'), axis));
  assert.deepEqual(got.shape, [...dims.slice(0, a), ...idsShape, ...dims.slice(a + 1)], what);
  assert.deepEqual(Array.from(got.dataSync()), Array.from(Float32Array.from(want)), what);
  got.dispose();
}

describe('GatherV2 (JS row copies)', () => {
  for (const choice of ['native', 'cpu'] as const) {
    it(`is installed and matches index arithmetic on every axis, 2-D ids, negative axis on ${choice}`, async () => {
      const info = await initEngine(choice);
      assert.ok(info.nativeKernels.includes('GatherV2'), choice);
      checkGather(0, [2, 6], `axis 0 on ${choice}`);
      checkGather(1, [4], `axis 1 on ${choice}`);
      checkGather(-1, [3, 2], `axis -1 on ${choice}`);
      checkGather(0, [0], `no ids on ${choice}`);
      // int32 data and out-of-range ids are the stock kernel's
      const xi = tf.tensor([1, 2, 3, 4], [2, 2], 'int32');
      assert.deepEqual(tf.tidy(() => tf.gather(xi, tf.tensor1d([1, 0], 'int32')).arraySync()), [[3, 4], [1, 2]]);
      assert.throws(() => tf.tidy(() => tf.gather(tf.tensor([1, 2, 3, 4], [2, 2]), tf.tensor1d([1, 2], 'int32'))), /GatherV2: the index value 2 is not in \[0, 1\]/);
      xi.dispose();
    });
  }
});

describe('initEngine', () => {
  it('falls back to stock wasm with exactly one warning line when the addon is missing', async () => {
    const lines: string[] = [];
    const info = await initEngine('auto', {
      loadNative: () => {
        throw new Error('native/build/Release/gemma_lab_native.node: cannot open shared object file');
      },
      resolveTensorflow: async () => undefined,
      warn: (l) => lines.push(l),
    });
    assert.equal(info.backend, 'wasm');
    assert.equal(info.native, false);
    assert.deepEqual(info.nativeKernels, []);
    assert.equal(lines.length, 1);
    assert.match(lines[0] as string, /^gemma-lab: native addon unavailable \(.*cannot open shared object file\)/);
    // Stock kernels are back and correct, including the segment-sum the embedding gradient needs.
    const a = tf.tensor([1, 2, 3, 4, 5, 6], [1, 2, 3]);
    const b = tf.tensor([1, 0, 0, 1, 1, 1], [1, 3, 2]);
    assert.deepEqual(tf.matMul(a, b).arraySync(), [[[4, 5], [10, 11]]]);
    checkEmbeddingGrad('gather grad, fallback');
    tf.dispose([a, b]);
  });

  it('auto uses the tensorflow backend when the tfjs-node resolver provides it', async () => {
    const cpuFactory = tf.findBackendFactory('cpu');
    assert.ok(cpuFactory);
    try {
      const info = await initEngine('auto', {
        // Stands in for `import('@tensorflow/tfjs-node')`, which registers the 'tensorflow' backend.
        resolveTensorflow: async () => {
          tf.registerBackend('tensorflow', cpuFactory);
          return '@tensorflow/tfjs-node';
        },
        warn: () => assert.fail('no warning expected'),
      });
      assert.equal(info.backend, 'tensorflow');
      assert.equal(info.tensorflowPackage, '@tensorflow/tfjs-node');
      assert.equal(info.native, false);
    } finally {
      tf.removeBackend('tensorflow');
    }
    await assert.rejects(initEngine('tensorflow', { resolveTensorflow: async () => undefined }), ConfigError);
  });

  it('switches stock wasm <-> native in one process and caches the default', async () => {
    await initEngine('wasm');
    const stockFns = ['BatchMatMul', '_FusedMatMul', 'Multiply', 'Exp'].map((k) => tf.getKernel(k, 'wasm')?.kernelFunc);
    const native = await initEngine('native');
    ['BatchMatMul', '_FusedMatMul', 'Multiply', 'Exp'].forEach((k, i) => assert.notEqual(tf.getKernel(k, 'wasm')?.kernelFunc, stockFns[i], `${k} overridden`));
    assert.equal(native.native, true);
    assert.equal(native.backend, 'wasm');
    assert.ok(native.nativeKernels.length >= 12);
    assert.ok((native.threads ?? 0) >= 1);
    const stock = await initEngine('wasm');
    assert.deepEqual(stock.nativeKernels, []);
    ['BatchMatMul', '_FusedMatMul', 'Multiply', 'Exp'].forEach((k, i) => assert.equal(tf.getKernel(k, 'wasm')?.kernelFunc, stockFns[i], `${k} restored`));
    assert.equal(await initEngine('native'), await initEngine('native'));
  });
});
