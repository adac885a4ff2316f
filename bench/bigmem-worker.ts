/**
 * One phase of `npm run bench -- bigmem`, in its own process so its peak RSS (VmHWM) is its own.
 * Random weights in the exact gemma-3-270m / gemma-3-1b configs (bench/real-configs.ts), built in
 * memory (no checkpoint on disk). Prints `RESULT {json}` lines.
 *   node --expose-gc --import tsx bench/bigmem-worker.ts PHASE [BACKEND]
 * Phases:
 *   fb270m     270m-shape encoder, B8 T1024: one forward (hidden states), then forward + backward
 *              (mean pooling, 2-class head, cross entropy, gradients of every parameter)
 *   ft1b       1b-shape encoder fine-tune, embeddings frozen, B2 T256: 2 AdamW steps (GEMMA_LAB_BIGMEM_1B_B/_T/_STEPS); then RSS after
 *              the run (grads disposed, GC) against the model + optimizer-state bytes
 *   tinyfwd    tiny Gemma forward with logits + logsumexp at B16 T1024 (the torch bench's RSS case)
 * BACKEND: an engine choice (default auto).
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { parseGemmaConfig } from '../src/config/gemma.js';
import { toEncoder } from '../src/encoder/encoder.js';
import { estimateModelBytes, initEngine, parseBackendChoice, releaseMemory } from '../src/engine/index.js';
import { GemmaModel, gemmaParameterShapes } from '../src/models/gemma.js';
import { AdamW } from '../src/train/optimizer.js';
import { parsedConfig, REAL_CONFIGS } from './real-configs.js';

const [phase, backendArg] = process.argv.slice(2) as [string, string | undefined];
const MiB = 2 ** 20;

function status(): { rssMiB: number; peakMiB: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { rssMiB: Math.round(kib('VmRSS') / 1024), peakMiB: Math.round(kib('VmHWM') / 1024) };
}
const emit = (what: string, o: Record<string, unknown>) => console.log(`RESULT ${JSON.stringify({ phase, what, ...status(), ...o })}`);
const gc = (globalThis as { gc?: () => void }).gc;

function batch(B: number, T: number, V: number) {
  let s = 12345;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0), s);
  const ids = Int32Array.from({ length: B * T }, (_, i) => (i % T === 0 ? 2 : 3 + (next() % (V - 3))));
  return { ids, mask: new Int32Array(B * T).fill(1), batch: B, length: T, labels: Array.from({ length: B }, (_, i) => i % 2) };
}

function realModel(name: string, training: boolean): Promise<GemmaModel> {
  const spec = REAL_CONFIGS.find((c) => c.name === name);
  if (!spec) throw new Error(`unknown config ${name}`);
  return (async () => {
    const config = parsedConfig(spec);
    const count = [...gemmaParameterShapes(config).values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
    const est = estimateModelBytes(count, { training });
    const engine = await initEngine(parseBackendChoice(backendArg), { expectedBytes: est });
    emit('engine', { backend: engine.backend, native: engine.native, threads: engine.threads ?? null, estimatedGiB: +(est / 2 ** 30).toFixed(2), recompute: process.env.GEMMA_LAB_BIGMEM_RECOMPUTE !== '0' });
    const t0 = performance.now();
    const model = GemmaModel.random(config, 1);
    // Backprop through 18-26 layers at T1024 keeps GBs of activations per sample; recompute them.
    model.recomputeLayers = process.env.GEMMA_LAB_BIGMEM_RECOMPUTE !== '0';
    emit('build', { seconds: +((performance.now() - t0) / 1000).toFixed(1), params: model.parameterCount, f32MiB: Math.round((model.parameterCount * 4) / MiB) });
    return model;
  })();
}

async function fb270m(): Promise<void> {
  const model = await realModel('gemma-3-270m', true);
  const B = 8;
  const T = 1024;
  const b = batch(B, T, model.config.vocabSize);
  const enc = toEncoder(model, { attention: 'bidirectional_sliding', pooling: 'mean', head: { kind: 'classification', numClasses: 2 }, seed: 1 });
  let t0 = performance.now();
  const out = model.forward([...Array(B)].map((_, i) => [...b.ids.subarray(i * T, (i + 1) * T)]), { attention: 'bidirectional_sliding', logits: false });
  out.hiddenStates.dataSync();
  tf.dispose(out);
  emit('forward B8 T1024', { seconds: +((performance.now() - t0) / 1000).toFixed(1) });
  const vars = [...enc.params.values()];
  t0 = performance.now();
  const { value, grads } = tf.variableGrads(() => enc.loss(b, { seed: 0 }), vars);
  const loss = value.dataSync()[0];
  const gradMiB = Math.round(Object.values(grads).reduce((a, g) => a + g.size * 4, 0) / MiB);
  const finite = Object.values(grads).every((g) => Number.isFinite(tf.tidy(() => tf.sum(tf.abs(g))).dataSync()[0]));
  emit('forward+backward B8 T1024', { seconds: +((performance.now() - t0) / 1000).toFixed(1), loss, gradTensors: Object.keys(grads).length, gradMiB, gradsFinite: finite, tfjsMiB: Math.round(tf.memory().numBytes / MiB) });
  tf.dispose([value, grads]);
  enc.dispose();
  model.dispose();
}

async function ft1b(): Promise<void> {
  const model = await realModel('gemma-3-1b', true);
  const B = Number(process.env.GEMMA_LAB_BIGMEM_1B_B ?? 2);
  const T = Number(process.env.GEMMA_LAB_BIGMEM_1B_T ?? 256);
  const STEPS = Number(process.env.GEMMA_LAB_BIGMEM_1B_STEPS ?? 2);
  const b = batch(B, T, model.config.vocabSize);
  const enc = toEncoder(model, { attention: 'bidirectional_sliding', pooling: 'mean', head: { kind: 'classification', numClasses: 2 }, seed: 1 });
  const trainable = new Map([...enc.params].filter(([n]) => n !== 'model.embed_tokens.weight'));
  const opt = new AdamW(trainable);
  const allBytes = [...enc.params.values()].reduce((a, v) => a + v.size * 4, 0);
  const trainBytes = [...trainable.values()].reduce((a, v) => a + v.size * 4, 0);
  const stateBytes = allBytes + 2 * trainBytes; // weights + AdamW m and v
  const times: number[] = [];
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const s = performance.now();
    const { value, grads } = tf.variableGrads(() => enc.loss(b, { seed: step }), [...trainable.values()]);
    opt.apply(new Map([...trainable].map(([n, v]) => [n, grads[v.name] as tf.Tensor])), 1e-5);
    losses.push(value.dataSync()[0] as number);
    tf.dispose([value, grads]);
    times.push(+((performance.now() - s) / 1000).toFixed(1));
    emit(`step ${step + 1} B${B} T${T}`, { seconds: times[step], loss: losses[step] });
  }
  const before = status().rssMiB;
  gc?.();
  gc?.();
  releaseMemory();
  const after = status().rssMiB;
  const modelOptMiB = Math.round(stateBytes / MiB);
  emit('after training', {
    trainableParams: trainBytes / 4,
    stepSeconds: times,
    modelPlusOptimizerMiB: modelOptMiB,
    rssBeforeReleaseMiB: before,
    rssAfterMiB: after,
    ratio: +(after / modelOptMiB).toFixed(3),
    tfjsMiB: Math.round(tf.memory().numBytes / MiB),
  });
  opt.dispose();
  enc.dispose();
  model.dispose();
}

async function tinyfwd(): Promise<void> {
  const config = parseGemmaConfig(
    { model_type: 'gemma', vocab_size: 1024, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 4, head_dim: 64, intermediate_size: 1024, hidden_activation: 'gelu_pytorch_tanh', max_position_embeddings: 2048 },
    'bench/bigmem-worker.ts',
  );
  const engine = await initEngine(parseBackendChoice(backendArg));
  emit('engine', { backend: engine.backend, native: engine.native });
  const model = GemmaModel.random(config, 1);
  const [B, T] = [16, 1024];
  const rows = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 131 + t * 7) % config.vocabSize));
  const t0 = performance.now();
  const loss = tf.tidy(() => tf.mean(tf.logSumExp(model.forward(rows, { attention: 'causal', logits: true }).logits as tf.Tensor3D, -1)));
  const l = loss.dataSync()[0];
  loss.dispose();
  emit('forward B16 T1024', { seconds: +((performance.now() - t0) / 1000).toFixed(2), loss: l });
}

const phases: Record<string, () => Promise<void>> = { fb270m, ft1b, tinyfwd };
const run = phases[phase];
if (!run) throw new Error(`unknown phase '${phase}' (${Object.keys(phases).join(', ')})`);
try {
  await run();
} catch (e) {
  emit('error', { error: e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e) });
  process.exitCode = 1;
}
