/**
 * Child process of bench/real-e2b.ts, so each step's peak RSS is its own. Prints `RESULT {json}` lines.
 *   node --import tsx bench/real-e2b-worker.ts write DIR
 *     random BF16 checkpoint in the exact E2B text config: shards <= 1 GiB, the PLE table alone in its
 *     shard, written in parts (it is over a typed array's 4 GiB) that repeat one random 1 GiB block.
 *   node --import tsx bench/real-e2b-worker.ts run DIR B T RUNS HOSTEMB(0|1)
 *     loadModel (hostEmbeddings when 1), memory breakdown, RUNS timed encoder forwards at B x T.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { writeSafetensors, type StoredTensor } from '../src/checkpoint/index.js';
import { gemma4ConfigToJson } from '../src/config/gemma4.js';
import { initEngine, releaseMemory } from '../src/engine/index.js';
import { Gemma4Model, gemma4ParameterShapes } from '../src/models/gemma4.js';
import { DEFAULT_TABLE_CHUNK_BYTES, rowsPerChunk } from '../src/models/host-table.js';
import { loadModel } from '../src/models/load.js';
import { Rng } from '../src/rng/index.js';
import { e2bConfig } from './real-e2b.js';
import { randomBf16 } from './real-configs.js';

const GiB = 2 ** 30;
const rssMiB = () => process.resourceUsage().maxRSS / 1024;
const emit = (phase: string, o: Record<string, unknown>) => console.log(`RESULT ${JSON.stringify({ phase, maxRssMiB: Math.round(rssMiB()), ...o })}`);
const errText = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e));

/** BF16 1.0 = 0x3f80: Gemma 4 norms multiply by their weight, so ones (as HF inits them), not zeros. */
function ones(n: number): Uint8Array {
  return new Uint8Array(new Uint16Array(n).fill(0x3f80).buffer);
}

async function write(dir: string): Promise<void> {
  const c = e2bConfig();
  await mkdir(dir, { recursive: true });
  const shapes = [...gemma4ParameterShapes(c)].sort(([a], [b]) => (a < b ? -1 : 1));
  const ple = `${c.prefix}embed_tokens_per_layer.weight`;
  const shards: [string, number[]][][] = [[]];
  let cur = 0;
  for (const entry of shapes) {
    const bytes = entry[1].reduce((a, b) => a * b, 1) * 2;
    const last = shards[shards.length - 1] as [string, number[]][];
    if ((entry[0] === ple || cur + bytes > GiB) && last.length > 0) {
      shards.push([]);
      cur = 0;
    }
    (shards[shards.length - 1] as [string, number[]][]).push(entry);
    cur += bytes;
    if (entry[0] === ple) {
      shards.push([]); // the table's shard holds nothing else
      cur = 0;
    }
  }
  if ((shards[shards.length - 1] as unknown[]).length === 0) shards.pop();
  const weightMap: Record<string, string> = {};
  let total = 0;
  let seed = 1;
  const a = 0.02 * Math.sqrt(3); // uniform(-a, a) has std 0.02 (initializer_range)
  for (let i = 0; i < shards.length; i++) {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const tensors = new Map<string, StoredTensor>();
    for (const [name, shape] of shards[i] as [string, number[]][]) {
      const n = shape.reduce((x, y) => x * y, 1);
      if (name === ple) {
        const [rows, cols] = shape as [number, number];
        const per = rowsPerChunk(rows, cols * 2, DEFAULT_TABLE_CHUNK_BYTES);
        const block = new Uint8Array(randomBf16(per * cols, a, seed++).buffer);
        const parts: Uint8Array[] = [];
        for (let r = 0; r < rows; r += per) parts.push(block.subarray(0, (Math.min(rows, r + per) - r) * cols * 2));
        tensors.set(name, { dtype: 'BF16', shape, parts });
      } else {
        const unit = /norm(_\d)?\.weight$/.test(name) || name.endsWith('layer_scalar');
        tensors.set(name, { dtype: 'BF16', shape, data: unit ? ones(n) : new Uint8Array(randomBf16(n, a, seed++).buffer) });
      }
      weightMap[name] = file;
      total += n * 2;
    }
    await writeSafetensors(join(dir, file), tensors, { format: 'pt' });
  }
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  await writeFile(join(dir, 'config.json'), JSON.stringify(gemma4ConfigToJson(c, 'bfloat16'), null, 2));
  emit('write', { bytes: total, shards: shards.length });
}

async function run(dir: string, B: number, T: number, runs: number, hostEmbeddings: boolean): Promise<void> {
  await initEngine();
  const t0 = performance.now();
  let model: Gemma4Model;
  try {
    const m = await loadModel(dir, { hostEmbeddings });
    if (!(m instanceof Gemma4Model)) throw new Error(`${dir} is not a Gemma 4 checkpoint`);
    model = m;
  } catch (e) {
    emit('load', { error: errText(e), seconds: (performance.now() - t0) / 1000 });
    return;
  }
  const seconds = (performance.now() - t0) / 1000;
  const engine = await initEngine(); // loadModel re-planned the 'auto' engine for the model's size
  emit('engine', { backend: engine.backend, native: engine.native, threads: engine.threads ?? null });
  let tablesBytes = 0;
  for (const t of model.tables.values()) tablesBytes += t.byteLength;
  emit('load', {
    seconds,
    params: model.parameterCount,
    variablesGiB: tf.memory().numBytes / GiB,
    tablesGiB: tablesBytes / GiB,
    tables: [...model.tables.values()].map((t) => `${t.name.split('.').slice(-2).join('.')} ${t.dtype} [${t.shape.join(', ')}] in ${t.chunks.length} chunks`).join('; '),
    rssGiB: process.memoryUsage().rss / GiB,
  });

  const rng = new Rng('bench-e2b');
  const ids = Array.from({ length: B }, () => [2, ...Array.from({ length: T - 1 }, () => 3 + rng.int(model.config.vocabSize - 3))]);
  const times: number[] = [];
  let finite = true;
  try {
    for (let r = 0; r < runs; r++) {
      const s = performance.now();
      const out = model.forward(ids, { attention: 'bidirectional_sliding_gemma4_hf', logits: false });
      const h = out.hiddenStates.dataSync();
      times.push((performance.now() - s) / 1000);
      for (let i = 0; i < h.length; i += 97) if (!Number.isFinite(h[i] as number)) finite = false;
      tf.dispose(out);
      (globalThis as { gc?: () => void }).gc?.();
      releaseMemory();
    }
    const best = Math.min(...times);
    emit('forward', { seconds: best, times, runs, tokensPerSecond: (B * T) / best, finite });
  } catch (e) {
    emit('forward', { error: errText(e), times });
  }
  model.dispose();
}

const [mode, dir, ...rest] = process.argv.slice(2) as [string, string, ...string[]];
if (mode === 'write') await write(dir);
else if (mode === 'run') await run(dir, Number(rest[0]), Number(rest[1]), Number(rest[2] ?? 2), rest[3] === '1');
else throw new Error(`usage: real-e2b-worker.ts write DIR | run DIR B T RUNS HOSTEMB`);
