/**
 * Matmul GFLOP/s through tfjs (tf.matMul + await data()): stock wasm vs native fp32 vs native bf16
 * compute (computeDtype 'bf16'). fp32 and bf16 are measured interleaved (a few calls of one, then of
 * the other, GEMMA_LAB_BENCH_ROUNDS rounds, default 7), and each keeps its fastest call: on a shared
 * box the minimum is the least disturbed estimate, and both sides get the same chances.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initEngine, setComputeDtype } from '../src/engine/index.js';
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
  { name: 'tiny-Gemma FFN [2048,256]x[256,1024]', a: [2048, 256], b: [256, 1024], tA: false, tB: false, flops: 2 * 2048 * 256 * 1024 },
  { name: 'batched [16,128,256]x[16,256,128]', a: [16, 128, 256], b: [16, 256, 128], tA: false, tB: false, flops: 2 * 16 * 128 * 256 * 128 },
  square(1024, true, false, '1024 Aᵀ·B'),
  square(1024, false, true, '1024 A·Bᵀ'),
];

const ROUNDS = Number(process.env.GEMMA_LAB_BENCH_ROUNDS ?? 7);

/** Fastest of `calls` calls (after one warm-up), as GFLOP/s. */
async function bestGflops(c: MatMulCase, a: tf.Tensor, b: tf.Tensor, calls: number): Promise<number> {
  let best = Infinity;
  for (let i = 0; i <= calls; i++) {
    const t0 = performance.now();
    const out = tf.matMul(a, b, c.tA, c.tB);
    await out.data();
    out.dispose();
    if (i > 0) best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return c.flops / best / 1e9;
}

/** Stock wasm (slow: one timed call), median. */
async function stockGflops(c: MatMulCase, a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const t = await timeIt(
    async () => {
      const out = tf.matMul(a, b, c.tA, c.tB);
      await out.data();
      out.dispose();
    },
    { warmup: 1, minRuns: 1, minSeconds: 0 },
  );
  return c.flops / t.median / 1e9;
}

const section: BenchSection = {
  name: 'matmul',
  description: 'tf.matMul GFLOP/s: stock wasm vs native fp32 vs native bf16 (512, 1024, 2048, batched, transposed)',
  async run(ctx) {
    const rows: (string | number)[][] = [];
    const info = await initEngine('native');
    for (const c of CASES) {
      const a = tf.randomNormal(c.a);
      const b = tf.randomNormal(c.b);
      await initEngine('wasm');
      ctx.log(`matmul ${c.name}: stock wasm`);
      const stock = await stockGflops(c, a, b);
      let native = 0;
      let bf16 = 0;
      for (let r = 0; r < ROUNDS; r++) {
        const calls = c.flops > 4e9 ? 2 : 5;
        await initEngine('native', { computeDtype: 'float32' });
        native = Math.max(native, await bestGflops(c, a, b, calls));
        await initEngine('native', { computeDtype: 'bf16' });
        bf16 = Math.max(bf16, await bestGflops(c, a, b, calls));
      }
      setComputeDtype('float32');
      ctx.log(`matmul ${c.name}: native fp32 ${fmt(native)}, bf16 ${fmt(bf16)} GFLOP/s`);
      rows.push([c.name, fmt(stock), fmt(native), fmt(bf16), ratio(native, stock), `${(bf16 / native).toFixed(2)}x`]);
      tf.dispose([a, b]);
    }
    const table: Table = {
      title: `matmul (GFLOP/s = 2·M·N·K·batch / time; stock: median; native: fastest call of ${ROUNDS} interleaved rounds)`,
      columns: ['case', 'stock wasm', `native fp32 (${info.threads} threads)`, `native bf16 (${info.bf16Kernel})`, 'native / stock', 'bf16 / fp32'],
      rows,
      notes: [
        'Targets: native fp32 >= 120 GFLOP/s on 2 cores; bf16 >= 1.6x fp32 (bf16 = operands rounded to bfloat16 while packed, fp32 accumulation).',
      ],
    };
    return [table];
  },
};

export default section;
