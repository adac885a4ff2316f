/**
 * Fused native RMSNorm, GeGLU and RoPE kernels, forward and gradients, against float64 references
 * written here and against the tfjs-op paths they replace (which stay as the fallback).
 * Tolerance: 1e-5 relative to max(1, |reference|) (single float32 passes over rows of <= 48); 1e-4 for
 * RMSNorm's dw, a sum over 300 rows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { fusedAvailable, fusedGeglu, fusedRmsNorm, fusedRope, GEGLU_KERNEL, RMSNORM_KERNEL, ROPE_KERNEL } from '../../src/engine/fused.js';
import { geluTanh } from '../../src/nn/mlp.js';
import { rmsNormDense } from '../../src/nn/norm.js';
import { ropeTables } from '../../src/nn/rope.js';
import { Rng } from '../../src/rng/index.js';

const TOL = 1e-5;
const rng = new Rng('fused-kernels');
const rand = (n: number, s = 1) => Float32Array.from({ length: n }, () => rng.normal() * s);

function maxRel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let w = 0;
  for (let i = 0; i < got.length; i++) {
    assert.ok(Number.isFinite(got[i] as number));
    w = Math.max(w, Math.abs((got[i] as number) - (want[i] as number)) / Math.max(1, Math.abs(want[i] as number)));
  }
  return w;
}

describe('fused native kernels', async () => {
  await initEngine('native');

  it('are registered', () => {
    for (const k of [RMSNORM_KERNEL, GEGLU_KERNEL, ROPE_KERNEL]) assert.ok(fusedAvailable(k), k);
  });

  it('RMSNorm forward and gradients (x and w) match float64 and the tfjs path', () => {
    const N = 300; // > one 64-row dw chunk, not a multiple of it
    const D = 48;
    const eps = 1e-6;
    const x = rand(N * D, 2);
    const w = rand(D, 0.3);
    const g = rand(N * D);
    const y = new Float64Array(N * D);
    const dx = new Float64Array(N * D);
    const dw = new Float64Array(D);
    for (let r = 0; r < N; r++) {
      let ss = 0;
      for (let c = 0; c < D; c++) ss += (x[r * D + c] as number) ** 2;
      const rs = 1 / Math.sqrt(ss / D + eps);
      let dot = 0;
      for (let c = 0; c < D; c++) dot += (g[r * D + c] as number) * (1 + (w[c] as number)) * (x[r * D + c] as number) * rs;
      for (let c = 0; c < D; c++) {
        const xh = (x[r * D + c] as number) * rs;
        y[r * D + c] = xh * (1 + (w[c] as number));
        dx[r * D + c] = rs * ((g[r * D + c] as number) * (1 + (w[c] as number)) - (xh * dot) / D);
        dw[c]! += (g[r * D + c] as number) * xh;
      }
    }
    const xT = tf.tensor3d(x, [3, 100, D]);
    const wT = tf.tensor1d(w);
    const gT = tf.tensor3d(g, [3, 100, D]);
    for (const f of [fusedRmsNorm, rmsNormDense]) {
      const out = f(xT, wT, eps);
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b as tf.Tensor1D, eps), gT)))([xT, wT]);
      assert.ok(maxRel(out.dataSync(), y) < TOL, `${f.name} y`);
      assert.ok(maxRel((gx as tf.Tensor).dataSync(), dx) < TOL, `${f.name} dx`);
      assert.ok(maxRel((gw as tf.Tensor).dataSync(), dw) < 1e-4, `${f.name} dw`);
      tf.dispose([out, gx as tf.Tensor, gw as tf.Tensor]);
    }
    tf.dispose([xT, wT, gT]);
  });

  it('GeGLU forward and gradients match float64 (erf-free tanh GELU) and the tfjs path', () => {
    const n = 5000;
    const gate = rand(n, 3);
    const up = rand(n);
    const dh = rand(n);
    const c = Math.sqrt(2 / Math.PI);
    const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v ** 3)));
    const dgelu = (v: number) => {
      const t = Math.tanh(c * (v + 0.044715 * v ** 3));
      return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v);
    };
    const h = Float64Array.from(gate, (v, i) => gelu(v) * (up[i] as number));
    const dgate = Float64Array.from(gate, (v, i) => (dh[i] as number) * (up[i] as number) * dgelu(v));
    const dup = Float64Array.from(gate, (v, i) => (dh[i] as number) * gelu(v));
    const gT = tf.tensor2d(gate, [50, 100]);
    const uT = tf.tensor2d(up, [50, 100]);
    const dT = tf.tensor2d(dh, [50, 100]);
    const dense = (a: tf.Tensor, b: tf.Tensor) => tf.mul(geluTanh(a), b);
    for (const f of [fusedGeglu, dense]) {
      const out = f(gT, uT);
      const [ga, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), dT)))([gT, uT]);
      assert.ok(maxRel(out.dataSync(), h) < TOL, `${f.name} h`);
      assert.ok(maxRel((ga as tf.Tensor).dataSync(), dgate) < TOL, `${f.name} dgate`);
      assert.ok(maxRel((gb as tf.Tensor).dataSync(), dup) < TOL, `${f.name} dup`);
      tf.dispose([out, ga as tf.Tensor, gb as tf.Tensor]);
    }
    tf.dispose([gT, uT, dT]);
  });

  it('RoPE forward and gradient match float64 rotation (half-split pairs)', () => {
    const [B, H, T, K] = [2, 3, 17, 16];
    const tables = ropeTables(Array.from({ length: T }, (_, t) => t), K, { theta: 10000, linearFactor: 1 } as Parameters<typeof ropeTables>[2]);
    const x = rand(B * H * T * K);
    const g = rand(B * H * T * K);
    const cos = tables.cos.dataSync();
    const sin = tables.sin.dataSync();
    const half = K / 2;
    const y = new Float64Array(x.length);
    const dx = new Float64Array(x.length);
    for (let r = 0; r < B * H * T; r++) {
      const t = r % T;
      for (let k = 0; k < half; k++) {
        const [a, b] = [x[r * K + k] as number, x[r * K + k + half] as number];
        const [c, s] = [cos[t * K + k] as number, sin[t * K + k] as number];
        y[r * K + k] = a * c - b * s;
        y[r * K + k + half] = b * c + a * s;
        const [ga, gb] = [g[r * K + k] as number, g[r * K + k + half] as number];
        dx[r * K + k] = ga * c + gb * s; // transpose of the rotation
        dx[r * K + k + half] = gb * c - ga * s;
      }
    }
    const xT = tf.tensor4d(x, [B, H, T, K]);
    const gT = tf.tensor4d(g, [B, H, T, K]);
    const out = fusedRope(xT, tables.cos, tables.sin);
    const gx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(fusedRope(a, tables.cos, tables.sin), gT)))(xT);
    assert.ok(maxRel(out.dataSync(), y) < TOL, 'y');
    assert.ok(maxRel(gx.dataSync(), dx) < TOL, 'dx');
    tf.dispose([xT, gT, out, gx, tables]);
  });
});
