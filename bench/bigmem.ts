/**
 * `npm run bench -- bigmem`: tensors past the wasm32 heap. Each heavy phase runs in its own process
 * (bench/bigmem-worker.ts, engine 'auto' unless GEMMA_LAB_BACKEND says otherwise), so each peak RSS
 * is that phase's own:
 *   - gemma-3-270m-shape encoder, B8 T1024 forward, then forward + backward (all parameters)
 *   - gemma-3-1b-shape encoder fine-tune (embeddings frozen; B2 T256 unless GEMMA_LAB_BIGMEM_1B_B/_T),
 *     2 AdamW steps, then RSS after the run against the weights + AdamW moments
 *   - peak RSS of a tiny-Gemma forward at B16 T1024 on wasm + native and on cpu + native
 * and, in this process, the tiny-Gemma speed of cpu + native against wasm + native (interleaved, best
 * of N), the cost of taking the big-tensor path. Not part of `npm run bench` without a name (minutes, GBs).
 * GEMMA_LAB_BIGMEM_PHASES=fb270m,ft1b,tinyfwd,speed picks phases.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseGemmaConfig } from '../src/config/gemma.js';
import { initEngine } from '../src/engine/index.js';
import { REPO_ROOT } from '../src/io/paths.js';
import { GemmaModel } from '../src/models/gemma.js';
import { AdamW } from '../src/train/optimizer.js';
import { type BenchSection, fmt, type Table } from './harness.js';

type Result = Record<string, unknown> & { phase: string; what: string; rssMiB: number; peakMiB: number };

/** PyTorch's peak for the same tiny forward, from the README's torch bench (python3-torch is not on every box). */
const README_TORCH_TINY_PEAK_MIB = 1227;

function runWorker(args: string[], log: (l: string) => void): Promise<Result[]> {
  return new Promise((resolveP) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join('bench', 'bigmem-worker.ts'), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const results: Result[] = [];
    let buf = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.startsWith('RESULT ')) continue;
        const r = JSON.parse(line.slice(7)) as Result;
        results.push(r);
        log(`  ${line.slice(7)}`);
      }
    });
    child.stderr.on('data', (d: Buffer) => void (err = (err + d.toString()).slice(-2000)));
    child.on('close', (code, signal) => {
      if (code !== 0 && !results.some((r) => r.what === 'error')) {
        const last = signal === 'SIGKILL' ? 'killed by SIGKILL (OOM killer?)' : (err.trim().split('\n').pop() ?? '');
        results.push({ phase: args[0] as string, what: 'error', rssMiB: 0, peakMiB: 0, error: `exit ${code ?? signal}: ${last}` });
      }
      resolveP(results);
    });
  });
}

const find = (rs: Result[], what: string) => rs.find((r) => r.what === what);
const peak = (rs: Result[]) => Math.max(0, ...rs.map((r) => r.peakMiB));
const errorOf = (rs: Result[]) => (find(rs, 'error')?.error as string | undefined) ?? '';

/** Interleaved tiny-Gemma forward and AdamW train step, wasm + native vs cpu + native, best of `rounds`. */
async function speed(rounds: number, log: (l: string) => void): Promise<Table> {
  const [B, T, V] = [16, 128, 1024];
  const config = parseGemmaConfig(
    { model_type: 'gemma', vocab_size: V, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 4, head_dim: 64, intermediate_size: 1024, hidden_activation: 'gelu_pytorch_tanh', max_position_embeddings: 512 },
    'bench/bigmem.ts',
  );
  const rows = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 131 + t * 7) % V));
  const engines = ['native', 'cpu'] as const;
  const state = new Map<string, { model: GemmaModel; opt: AdamW; fwd: number[]; train: number[]; loss: number }>();
  for (const e of engines) {
    await initEngine(e);
    const model = GemmaModel.random(config, 1);
    state.set(e, { model, opt: new AdamW(model.params), fwd: [], train: [], loss: NaN });
  }
  const lossOf = (m: GemmaModel) => tf.tidy(() => tf.mean(tf.logSumExp(m.forward(rows, { attention: 'causal', logits: true }).logits as tf.Tensor3D, -1)) as tf.Scalar);
  for (let r = 0; r <= rounds; r++) {
    for (const e of engines) {
      await initEngine(e);
      const s = state.get(e) as NonNullable<ReturnType<typeof state.get>>;
      let t0 = performance.now();
      const l = lossOf(s.model);
      const lv = l.dataSync()[0] as number;
      l.dispose();
      const f = performance.now() - t0;
      t0 = performance.now();
      const { value, grads } = tf.variableGrads(() => lossOf(s.model), [...s.model.params.values()]);
      s.opt.apply(new Map([...s.model.params].map(([n, v]) => [n, grads[v.name] as tf.Tensor])), 1e-4);
      value.dataSync();
      tf.dispose([value, grads]);
      const t = performance.now() - t0;
      if (r === 0) {
        s.loss = lv; // same seed, same weights: the first forward must agree across backends
        continue; // warm-up
      }
      s.fwd.push(f);
      s.train.push(t);
      log(`  speed round ${r} ${e}: forward ${fmt(f)} ms, train ${fmt(t)} ms`);
    }
  }
  const [w, c] = engines.map((e) => state.get(e) as NonNullable<ReturnType<typeof state.get>>) as [NonNullable<ReturnType<typeof state.get>>, NonNullable<ReturnType<typeof state.get>>];
  const best = (xs: number[]) => Math.min(...xs);
  for (const e of engines) {
    await initEngine(e);
    const s = state.get(e) as NonNullable<ReturnType<typeof state.get>>;
    s.opt.dispose();
    s.model.dispose();
  }
  await initEngine('native');
  return {
    title: `tiny Gemma (D256 L4 H4 F1024 V1024, B${B} T${T}): cpu + native vs wasm + native, best of ${rounds} interleaved`,
    columns: ['', 'wasm + native', 'cpu + native', 'cpu / wasm time'],
    rows: [
      ['forward ms (logits + logsumexp)', fmt(best(w.fwd)), fmt(best(c.fwd)), `${fmt(best(c.fwd) / best(w.fwd), 2)}x`],
      ['AdamW train step ms', fmt(best(w.train)), fmt(best(c.train)), `${fmt(best(c.train) / best(w.train), 2)}x`],
      ['first loss (same weights)', w.loss.toFixed(6), c.loss.toFixed(6), `|diff| ${Math.abs(w.loss - c.loss).toExponential(1)}`],
    ],
    notes: ["'auto' keeps wasm + native for models under WASM_BUDGET_BYTES; this is the price of the cpu path where it is chosen."],
  };
}

const section: BenchSection = {
  name: 'bigmem',
  description: 'tensors past the wasm32 heap: 270m-shape B8 T1024 forward+backward, 1b-shape fine-tune step, RSS after training, tiny forward peak RSS, cpu vs wasm speed',
  async run(ctx) {
    const phases = new Set((process.env.GEMMA_LAB_BIGMEM_PHASES ?? 'speed,tinyfwd,fb270m,ft1b').split(','));
    const tables: Table[] = [];
    if (phases.has('speed')) tables.push(await speed(5, ctx.log));
    if (phases.has('tinyfwd')) {
      const rows: (string | number)[][] = [];
      for (const backend of ['native', 'cpu']) {
        ctx.log(`bigmem: tiny forward B16 T1024 on ${backend}`);
        const rs = await runWorker(['tinyfwd', backend], ctx.log);
        const f = find(rs, 'forward B16 T1024');
        rows.push([backend === 'native' ? 'wasm + native' : 'cpu + native', f ? fmt(peak(rs)) : `FAILED ${errorOf(rs)}`, f ? fmt(f.rssMiB) : '', f ? `${fmt(peak(rs) / README_TORCH_TINY_PEAK_MIB, 2)}x` : '']);
      }
      tables.push({
        title: 'peak RSS of one tiny-Gemma forward (logits + logsumexp), B16 T1024, fresh process each',
        columns: ['engine', 'peak RSS MiB', 'RSS after MiB', `vs PyTorch ${README_TORCH_TINY_PEAK_MIB} MiB (README torch bench)`],
        rows,
      });
    }
    if (phases.has('fb270m') || phases.has('ft1b')) {
      const rows: (string | number)[][] = [];
      if (phases.has('fb270m')) {
        ctx.log('bigmem: gemma-3-270m shape, B8 T1024 forward + backward');
        const rs = await runWorker(['fb270m'], ctx.log);
        const eng = find(rs, 'engine');
        const fw = find(rs, 'forward B8 T1024');
        const fb = find(rs, 'forward+backward B8 T1024');
        rows.push(['270m: engine', eng ? `${String(eng.backend)}${eng.native ? ' + native' : ''} (estimate ${String(eng.estimatedGiB)} GiB)` : errorOf(rs)]);
        rows.push(['270m: forward B8 T1024 s', fw ? fmt(Number(fw.seconds)) : errorOf(rs)]);
        rows.push(['270m: forward + backward B8 T1024 s', fb ? `${fmt(Number(fb.seconds))} (loss ${Number(fb.loss).toFixed(4)}, ${String(fb.gradTensors)} grads, ${String(fb.gradMiB)} MiB, finite ${String(fb.gradsFinite)})` : errorOf(rs)]);
        rows.push(['270m: peak RSS MiB', fb ? fmt(peak(rs)) : `${fmt(peak(rs))} ${errorOf(rs)}`]);
      }
      if (phases.has('ft1b')) {
        ctx.log('bigmem: gemma-3-1b shape fine-tune, embeddings frozen');
        const rs = await runWorker(['ft1b'], ctx.log);
        const eng = find(rs, 'engine');
        const after = find(rs, 'after training');
        rows.push(['1b: engine', eng ? `${String(eng.backend)}${eng.native ? ' + native' : ''} (estimate ${String(eng.estimatedGiB)} GiB)` : errorOf(rs)]);
        for (const r of rs.filter((x) => x.what.startsWith('step '))) rows.push([`1b: fine-tune ${r.what} s`, `${fmt(Number(r.seconds))} (loss ${Number(r.loss).toFixed(4)})`]);
        rows.push(['1b: peak RSS MiB (24 GiB = 24576)', `${fmt(peak(rs))}${after ? '' : ` ${errorOf(rs)}`}`]);
        if (after) {
          rows.push(['1b: weights + AdamW m, v MiB', fmt(Number(after.modelPlusOptimizerMiB))]);
          rows.push(['1b: RSS after training (grads disposed, GC, trim) MiB', `${fmt(Number(after.rssAfterMiB))} = ${fmt(Number(after.ratio), 3)}x (target <= 1.2x; before trim ${fmt(Number(after.rssBeforeReleaseMiB))})`]);
        }
      }
      tables.push({ title: 'real-shape encoders past the wasm32 heap (random weights, engine auto, fresh process each)', columns: ['', 'value'], rows });
    }
    return tables;
  },
};

export default section;
