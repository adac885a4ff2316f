/** Matmul GFLOP/s through tfjs (tf.matMul + await data()), stock wasm vs native kernels. */
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../src/engine/index.js';
import { type BenchSection, fmt, ratio, type Table, timeIt } from './harness.js';

interface MatMulCase {
  readonly name: string;
  readonly a: number[];
  readonly b: number[];
  readonly tA: boolean;
  readonly tB: boolean;
  readonly flops: number;
}

const square = (n: number, tA = false, tB = false, name = `${n}x${n}x${n}`): MatMulCase => ({ name, a: [n, n], b: [n, n], tA, tB, flops: 2 * n ** 3 });

const CASES: MatMulCase[] = [
  square(512),
  square(1024),
  square(2048),
  { name: 'batched [16,128,256]x[16,256,128]', a: [16, 128, 256], b: [16, 256, 128], tA: false, tB: false, flops: 2 * 16 * 128 * 256 * 128 },
  square(1024, true, false, '1024 Aᵀ·B'),
  square(1024, false, true, '1024 A·Bᵀ'),
];

async function gflops(c: MatMulCase, a: tf.Tensor, b: tf.Tensor, slow: boolean): Promise<number> {
  const t = await timeIt(
    async () => {
      const out = tf.matMul(a, b, c.tA, c.tB);
      await out.data();
      out.dispose();
    },
    slow ? { warmup: 1, minRuns: 1, minSeconds: 0 } : { warmup: 2, minRuns: 5, minSeconds: 1 },
  );
  return c.flops / t.median / 1e9;
}

const section: BenchSection = {
  name: 'matmul',
  description: 'tf.matMul GFLOP/s: stock wasm vs native (512, 1024, 2048, batched, transposed)',
  async run(ctx) {
    const rows: (string | number)[][] = [];
    const info = await initEngine('native');
    for (const c of CASES) {
      const a = tf.randomNormal(c.a);
      const b = tf.randomNormal(c.b);
      await initEngine('wasm');
      ctx.log(`matmul ${c.name}: stock wasm`);
      const stock = await gflops(c, a, b, true);
      await initEngine('native');
      ctx.log(`matmul ${c.name}: native`);
      const native = await gflops(c, a, b, false);
      rows.push([c.name, fmt(stock), fmt(native), ratio(native, stock)]);
      tf.dispose([a, b]);
    }
    const table: Table = {
      title: 'matmul (GFLOP/s = 2·M·N·K·batch / time, median)',
      columns: ['case', 'stock wasm', `native (${info.threads} threads)`, 'native / stock'],
      rows,
      notes: ['Target: native >= 120 GFLOP/s on 2 cores.'],
    };
    return [table];
  },
};

export default section;
