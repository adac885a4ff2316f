/**
 * Is bf16 compute "within noise" of fp32 for training? Pretrains the tiny Gemma three times on the
 * corpus: fp32 seed S, bf16 seed S (same init and data order, only the matmul precision differs) and
 * fp32 seed S+1 (the noise yardstick: what changing the seed does). Prints the three loss curves and
 * compares them: per-step max and mean relative difference, the same over a moving average (batch
 * noise averaged out), and the final held-out NLL of each run.
 *
 *   node --conditions=source --import tsx scripts/bf16-loss-curve.ts [--steps 120] [--preset gemma3-tiny]
 *     [--seq-len 128] [--batch 16] [--seed 0] [--out .cache/bf16-loss-curve] [--window 10]
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getComputeDtype, setComputeDtype, type ComputeDtype } from '../src/engine/index.js';
import { sharedDataPath } from '../src/io/paths.js';
import { pretrain, type PretrainMetrics } from '../src/pretrain/run.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: a } = parseArgs({
  options: {
    steps: { type: 'string', default: '120' },
    preset: { type: 'string', default: 'gemma3-tiny' },
    'seq-len': { type: 'string', default: '128' },
    batch: { type: 'string', default: '16' },
    seed: { type: 'string', default: '0' },
    window: { type: 'string', default: '10' },
    out: { type: 'string', default: join(REPO_ROOT, '.cache', 'bf16-loss-curve') },
  },
  strict: true,
});
const steps = Number(a.steps);
const seed = Number(a.seed);
const window = Number(a.window);

interface Run {
  readonly label: string;
  readonly dtype: ComputeDtype;
  readonly seed: number;
}
const RUNS: Run[] = [
  { label: `fp32 seed ${seed}`, dtype: 'float32', seed },
  { label: `bf16 seed ${seed}`, dtype: 'bf16', seed },
  { label: `fp32 seed ${seed + 1}`, dtype: 'float32', seed: seed + 1 },
];

async function runOne(run: Run, tokenizerDir: string | undefined): Promise<PretrainMetrics> {
  setComputeDtype(run.dtype);
  const outDir = join(a.out, `${run.dtype}-seed${run.seed}`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const t0 = performance.now();
  const m = await pretrain({
    outDir,
    corpusDir: sharedDataPath('corpus'),
    settings: {
      preset: a.preset,
      seqLen: Number(a['seq-len']),
      batchSize: Number(a.batch),
      steps,
      lr: 3e-3,
      warmupSteps: Math.min(30, Math.floor(steps / 4)),
      minLrRatio: 0.1,
      weightDecay: 0.1,
      dropout: 0,
      seed: run.seed,
      topTokens: 8000,
    },
    evalEvery: steps,
    evalSequences: 16,
    finalEvalSequences: 48,
    checkpointEvery: 1_000_000,
    ...(tokenizerDir ? { tokenizerDir } : {}),
    verify: 'none',
    log: (line) => console.error(`[${run.label}] ${line}`),
  });
  if (getComputeDtype() !== run.dtype) throw new Error('compute dtype changed during the run');
  console.error(`[${run.label}] ${((performance.now() - t0) / 1000).toFixed(0)} s, ${m.trainTokensPerSecond.toFixed(0)} train tokens/s`);
  return m;
}

const movingAverage = (xs: number[], w: number) => xs.map((_, i) => {
  const lo = Math.max(0, i - w + 1);
  return xs.slice(lo, i + 1).reduce((s, x) => s + x, 0) / (i + 1 - lo);
});

function compare(x: number[], y: number[]): { max: number; mean: number } {
  const rel = x.map((v, i) => Math.abs(v - (y[i] as number)) / Math.abs(y[i] as number));
  return { max: Math.max(...rel), mean: rel.reduce((s, r) => s + r, 0) / rel.length };
}

const metrics: PretrainMetrics[] = [];
for (const run of RUNS) {
  // Every run shares the first run's trimmed tokenizer, so vocabularies (and losses) are comparable.
  metrics.push(await runOne(run, metrics.length > 0 ? join(a.out, 'float32-seed' + seed, 'tokenizer') : undefined));
}
setComputeDtype('float32');

const curves = metrics.map((m) => m.lossCurve.map((p) => p.loss));
const [ref, bf, other] = curves as [number[], number[], number[]];
console.log(`# loss curves: ${a.preset}, ${steps} steps, B${a.batch} T${a['seq-len']}\n`);
console.log(`| step | ${RUNS.map((r) => r.label).join(' | ')} |`);
console.log(`|---:|${RUNS.map(() => '---:').join('|')}|`);
for (let i = 0; i < ref.length; i++) {
  if (i < 5 || (i + 1) % 10 === 0 || i === ref.length - 1) console.log(`| ${i + 1} | ${curves.map((c) => (c[i] as number).toFixed(4)).join(' | ')} |`);
}
const rows = [
  ['bf16 vs fp32 (same seed)', compare(bf, ref), compare(movingAverage(bf, window), movingAverage(ref, window))],
  [`fp32 seed ${seed + 1} vs seed ${seed} (noise yardstick)`, compare(other, ref), compare(movingAverage(other, window), movingAverage(ref, window))],
] as const;
console.log(`\n| comparison | max rel diff / step | mean rel diff / step | max rel diff, ${window}-step moving avg | mean, moving avg |`);
console.log('|:--|--:|--:|--:|--:|');
for (const [label, raw, smooth] of rows) {
  console.log(`| ${label} | ${raw.max.toExponential(2)} | ${raw.mean.toExponential(2)} | ${smooth.max.toExponential(2)} | ${smooth.mean.toExponential(2)} |`);
}
console.log('\n| run | final train loss | held-out NLL (pooled) | held-out perplexity | train tokens/s |');
console.log('|:--|--:|--:|--:|--:|');
metrics.forEach((m, i) => {
  const pooled = m.final.pieces.find((p) => p.piece === 'pooled');
  console.log(
    `| ${(RUNS[i] as Run).label} | ${(curves[i] as number[]).at(-1)?.toFixed(4)} | ${(pooled ? pooled.nll / pooled.tokens : NaN).toFixed(4)} | ${pooled?.perplexity.toFixed(2)} | ${m.trainTokensPerSecond.toFixed(0)} |`,
  );
});
