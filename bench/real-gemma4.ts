/**
 * Gemma 4 E2B at real size. Three tables:
 * 1. the memory figure of the published E2B text decoder (parameters by group, float32 resident and
 *    bf16 on disk), from its config alone;
 * 2. allocating the full E2B's parameter tensors on today's engine: where it fails, with the exact error;
 * 3. an E2B-shaped slice that fits: the real widths (D1536, 8 heads, head dim 256/512, MLP 6144 and
 *    12288 double-wide, PLE 256, KV sharing across the 5-layer block boundary) with
 *    GEMMA4_BENCH_LAYERS layers (default 10) and vocab GEMMA4_BENCH_VOCAB (default 32768): written as a
 *    bf16 checkpoint, loaded with `loadModel` (memory measured), forward at B4 T512 (hidden states,
 *    bidirectional "all" mode as an encoder runs it), tokens/s, and the per-layer cost.
 * Table 2 allocates every tensor as float32 on purpose (the naive layout). The full E2B itself loads and
 * runs in `npm run bench -- real` (section gemma-4-e2b, real-e2b.ts): the PLE table stays a BF16 host table.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { fromFloat32, saveCheckpoint } from '../src/checkpoint/index.js';
import { gemma4ConfigToJson, parseGemma4Config, type Gemma4Config } from '../src/config/gemma4.js';
import { initEngine } from '../src/engine/index.js';
import { REPO_ROOT } from '../src/io/paths.js';
import { gemma4ParameterShapes, gemma4RandomHost } from '../src/models/gemma4.js';
import { type BenchSection, fmt, formatTable, type Table } from './harness.js';

const B = 4;
const T = 512;
const GiB = 2 ** 30;
const E2B_DIR = join(REPO_ROOT, 'test', 'fixtures', 'gemma4-configs', 'gemma-4-e2b');

function e2bJson(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(E2B_DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
}

/** Parameter counts by group. */
function groups(c: Gemma4Config): [string, number][] {
  const out = new Map<string, number>();
  for (const [name, shape] of gemma4ParameterShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const g = name.endsWith('embed_tokens.weight')
      ? 'embed_tokens (tied lm_head)'
      : name.endsWith('embed_tokens_per_layer.weight')
        ? 'embed_tokens_per_layer (PLE table)'
        : /\.mlp\./.test(name)
          ? 'MLP (all layers)'
          : /self_attn/.test(name)
            ? 'attention (all layers)'
            : 'PLE projections, norms, scalars';
    out.set(g, (out.get(g) ?? 0) + n);
  }
  return [...out];
}

/** The slice: E2B's first `layers` layers, the last half of them KV-shared (as E2B's last 20 of 35). */
function sliceConfig(layers: number, vocab: number): Gemma4Config {
  const json = e2bJson();
  const text = { ...(json.text_config as Record<string, unknown>) };
  const types = (text.layer_types as string[]).slice(0, layers);
  Object.assign(text, { num_hidden_layers: layers, layer_types: types, num_kv_shared_layers: Math.floor(layers / 2), vocab_size: vocab, vocab_size_per_layer_input: vocab });
  return parseGemma4Config({ ...json, text_config: text }, `${E2B_DIR} (slice)`);
}

const rss = () => process.memoryUsage().rss / GiB;

const section: BenchSection = {
  name: 'real-gemma4',
  description: `Gemma 4 E2B: memory figure, full-size build on this engine, E2B-shaped slice load + forward B${B} T${T}`,
  async run(ctx) {
    const engine = await initEngine();
    const engineName = `${engine.backend}${engine.native ? ' + native' : ''}`;
    const e2b = parseGemma4Config(e2bJson(), join(E2B_DIR, 'config.json'));
    const total = groups(e2b).reduce((a, [, n]) => a + n, 0);
    const memory: Table = {
      title: 'Gemma 4 E2B text decoder: parameters and memory (published config)',
      columns: ['group', 'parameters', 'float32 resident GiB', 'bf16 on disk GiB'],
      rows: [...groups(e2b), ['total', total] as [string, number]].map(([g, n]) => [g, n.toLocaleString('en-US'), fmt((4 * n) / GiB, 2), fmt((2 * n) / GiB, 2)]),
      notes: [
        `The largest single tensor, embed_tokens_per_layer [${e2b.vocabSizePerLayerInput}, ${e2b.numHiddenLayers * e2b.hiddenSizePerLayerInput}], is ${fmt((4 * e2b.vocabSizePerLayerInput * e2b.numHiddenLayers * e2b.hiddenSizePerLayerInput) / GiB, 2)} GiB in float32.`,
      ],
    };

    // 2. The full model on this engine: allocate its parameter tensors (zeros, largest first) until the engine
    // refuses, and report exactly where. Zeros, not random values: the point is whether the memory exists.
    ctx.log('allocating the full-size E2B parameters on this engine');
    const attempt: (string | number)[][] = [];
    const held: tf.Tensor[] = [];
    let bytes = 0;
    const shapes = [...gemma4ParameterShapes(e2b)].sort((a, b) => b[1].reduce((x, y) => x * y, 1) - a[1].reduce((x, y) => x * y, 1));
    const t0 = performance.now();
    // Record a failure and go on with the next tensors: the first refusal (the PLE table) is not the only one.
    const failures: string[] = [];
    for (const [name, shape] of shapes) {
      try {
        const t = tf.zeros(shape);
        t.dataSync(); // force the backing store to exist
        held.push(t);
        bytes += 4 * t.size;
      } catch (e) {
        failures.push(`${name} [${shape.join(', ')}] (${fmt((4 * shape.reduce((x, y) => x * y, 1)) / GiB, 2)} GiB) refused with ${fmt(bytes / GiB, 2)} GiB held: ${e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e)}`);
        if (failures.length >= 2) break;
      }
    }
    failures.forEach((f, i) => attempt.push([`allocation failure ${i + 1}`, f]));
    attempt.push(['held before giving up', `${fmt(bytes / GiB, 2)} GiB in ${held.length} of ${shapes.length} tensors (${fmt((performance.now() - t0) / 1000)} s)`]);
    tf.dispose(held);
    attempt.push(['process RSS after release (GiB)', fmt(rss(), 2)]);
    const full: Table = { title: `Full-size E2B on this engine (${engineName}, node ${process.version})`, columns: ['step', 'result'], rows: attempt };
    // Printed now as well: a wasm abort later in the slice ends the process.
    ctx.log(`\n${formatTable(memory)}\n\n${formatTable(full)}\n`);

    // 3. The slice: checkpoint on disk (bf16), loaded like any checkpoint, forward at B4 T512.
    const layers = Number(process.env.GEMMA4_BENCH_LAYERS ?? 10);
    const vocab = Number(process.env.GEMMA4_BENCH_VOCAB ?? 32768);
    const c = sliceConfig(layers, vocab);
    const dir = await mkdtemp(join(tmpdir(), 'gemma4-e2b-slice-'));
    const rows: (string | number)[][] = [];
    try {
      ctx.log(`writing the E2B-shaped slice (${layers} layers, vocab ${vocab}) as a bf16 checkpoint`);
      // Written from host arrays (no engine memory): the checkpoint a real download would be.
      const host = gemma4RandomHost(c, 2);
      let params = 0;
      const tensors = new Map([...host].map(([name, t]) => {
        params += t.data.length;
        return [name, fromFloat32(t.data, t.shape, 'BF16')] as const;
      }));
      host.clear();
      await saveCheckpoint(dir, { config: gemma4ConfigToJson(c, 'bfloat16'), tensors });
      // Load and forward in a fresh process, so the engine's heap holds only the loaded model.
      const res = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'real-gemma4-worker.ts'), dir, String(B), String(T), '2'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      });
      const line = res.stdout.trim().split('\n').at(-1) ?? '';
      rows.push(['parameters', params.toLocaleString('en-US')]);
      if (res.status !== 0 || !line.startsWith('{')) {
        const why = res.stderr.split('\n').filter((l) => /Error|Abort/.test(l) && l.length < 300).slice(0, 2).join(' / ');
        rows.push(['load + forward (child process)', `FAILED (exit ${res.status}): ${why}`]);
      } else {
        const r = JSON.parse(line) as { engine: string; loadS: number; weightsGiB: number; rssLoadGiB: number; forwardS: number; runs: number; peakRssGiB: number };
        rows.push(['engine', r.engine]);
        rows.push(['load (bf16 -> float32 variables) s', fmt(r.loadS)]);
        rows.push(['resident weights (tf bytes) GiB', fmt(r.weightsGiB, 2)]);
        rows.push(['process RSS growth on load GiB', fmt(r.rssLoadGiB, 2)]);
        rows.push([`forward B${B} T${T} s (median of ${r.runs})`, fmt(r.forwardS, 2)]);
        rows.push(['tokens/s', fmt((B * T) / r.forwardS)]);
        rows.push(['s per layer (forward)', fmt(r.forwardS / layers, 2)]);
        rows.push(['E2B (35 layers) forward estimate at this per-layer cost, s', fmt((r.forwardS / layers) * e2b.numHiddenLayers, 0)]);
        rows.push(['peak process RSS GiB', fmt(r.peakRssGiB, 2)]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const slice: Table = {
      title: `E2B-shaped slice: ${layers} layers (last ${Math.floor(layers / 2)} KV-shared, double-wide MLP), vocab ${vocab}, ${engineName}`,
      columns: ['measure', 'value'],
      rows,
      notes: ['Widths are E2B\'s; only the depth and the two vocabulary tables are cut so the weights fit the engine. Full E2B = 35 such layers plus the 262144-row tables (table 1).'],
    };
    return [memory, full, slice];
  },
};

export default section;
