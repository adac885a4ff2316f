/**
 * One config of `bench -- real`, in its own process (so peak RSS is this config's): load, encoder forward
 * at B8 T128 and T1024, encoder fine-tune steps (mean pooling + 2-class head, AdamW) with and without the
 * embedding table frozen. Each phase prints `RESULT {json}` as soon as it is done, so a phase that fails
 * (e.g. the wasm32 heap) still leaves the earlier numbers and its exact error.
 *   node --import tsx bench/real-worker.ts NAME CKPT_DIR PHASES(comma list)
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadEmbedder } from '../src/embed/embed.js';
import { toEncoder } from '../src/encoder/encoder.js';
import { initEngine } from '../src/engine/index.js';
import type { GemmaModel } from '../src/models/gemma.js';
import { loadGemmaModel } from '../src/models/load.js';
import { AdamW } from '../src/train/optimizer.js';
import { REAL_CONFIGS } from './real-configs.js';

const [name, dir, phaseList] = process.argv.slice(2) as [string, string, string];
const phases = new Set(phaseList.split(','));
const spec = REAL_CONFIGS.find((c) => c.name === name);
if (!spec) throw new Error(`unknown config ${name}`);

const rssMiB = () => process.resourceUsage().maxRSS / 1024;
const emit = (phase: string, o: Record<string, unknown>) => console.log(`RESULT ${JSON.stringify({ phase, maxRssMiB: Math.round(rssMiB()), ...o })}`);
/** The error plus what the engine held when it happened (tfjs bytes, wasm heap size). */
const errText = (e: unknown) => {
  const msg = e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e);
  let mem = '';
  try {
    const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength;
    mem = ` [tfjs tensors ${Math.round(tf.memory().numBytes / 2 ** 20)} MiB${heap !== undefined ? `, wasm heap ${Math.round(heap / 2 ** 20)} MiB` : ''}]`;
  } catch {
    // engine unusable after the failure
  }
  return msg + mem;
};

function batch(B: number, T: number, V: number): { ids: number[][]; mask: number[][] } {
  let s = 12345;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0), s);
  return { ids: Array.from({ length: B }, () => [2, ...Array.from({ length: T - 1 }, () => 3 + (next() % (V - 3)))]), mask: Array.from({ length: B }, () => new Array<number>(T).fill(1)) };
}

async function main(): Promise<void> {
  await initEngine();
  // The engine line is written after loading: loadModel may move an 'auto' engine to cpu + native for a large model.
  const emitEngine = async () => {
    const engine = await initEngine();
    emit('engine', { backend: engine.backend, native: engine.native, threads: engine.threads ?? null });
  };
  let model: GemmaModel;
  let embedForward: ((ids: number[][], mask: number[][]) => void) | null = null;
  const t0 = performance.now();
  try {
    if (spec!.sentenceTransformers) {
      const e = await loadEmbedder(dir, { onInfo: () => {} });
      model = e.model;
      embedForward = (ids, mask) => void e.embed({ inputIds: ids, attentionMask: mask }, { batchSize: ids.length });
    } else {
      model = await loadGemmaModel(dir);
    }
  } catch (e) {
    await emitEngine();
    emit('load', { error: errText(e), seconds: (performance.now() - t0) / 1000 });
    return;
  }
  await emitEngine();
  const params = model.parameterCount;
  emit('load', { seconds: (performance.now() - t0) / 1000, params, f32MiB: (params * 4) / 2 ** 20 });
  const mode = model.config.useBidirectionalAttention ? 'bidirectional_sliding_gemma3_hf' : 'bidirectional_sliding';
  const V = model.config.vocabSize;

  for (const T of [128, 1024]) {
    if (!phases.has(`forward${T}`)) continue;
    const { ids, mask } = batch(8, T, V);
    const run = () => {
      if (embedForward) embedForward(ids, mask);
      else {
        const out = model.forward(ids, { attentionMask: mask, attention: mode, logits: false });
        out.hiddenStates.dataSync();
        tf.dispose(out);
      }
    };
    try {
      const times: number[] = [];
      const reps = T === 128 ? 3 : 1; // T128: warm-up + 2 timed (median of 2 = mean); T1024: one cold run
      for (let r = 0; r < reps; r++) {
        const s = performance.now();
        run();
        times.push((performance.now() - s) / 1000);
      }
      const timed = reps > 1 ? times.slice(1) : times;
      const sec = timed.reduce((a, b) => a + b, 0) / timed.length;
      emit(`forward${T}`, { seconds: sec, tokensPerSecond: (8 * T) / sec, runs: timed.length, cold: reps === 1 });
    } catch (e) {
      emit(`forward${T}`, { error: errText(e) });
    }
  }

  // Layer recomputation (activations re-derived in backward) for models past 500M parameters: what keeps
  // a 1B fine-tune step inside 24 GB beside other jobs; GEMMA_LAB_BENCH_REAL_RECOMPUTE=0|1 forces it.
  const recompute = process.env.GEMMA_LAB_BENCH_REAL_RECOMPUTE ? process.env.GEMMA_LAB_BENCH_REAL_RECOMPUTE === '1' : params > 5e8;
  model.recomputeLayers = recompute;
  for (const freeze of [true, false]) {
    const phase = freeze ? 'finetune_frozen_embed' : 'finetune_full';
    if (!phases.has(phase)) continue;
    const { ids, mask } = batch(8, 128, V);
    try {
      const enc = toEncoder(model, { attention: 'bidirectional_sliding', pooling: 'mean', head: { kind: 'classification', numClasses: 2 }, seed: 1 });
      const trainable = new Map([...enc.params].filter(([n]) => !(freeze && n === 'model.embed_tokens.weight')));
      const opt = new AdamW(trainable);
      const b = { ids: Int32Array.from(ids.flat()), mask: Int32Array.from(mask.flat()), batch: 8, length: 128, labels: [0, 1, 0, 1, 0, 1, 0, 1] };
      const times: number[] = [];
      for (let step = 0; step < 2; step++) {
        const s = performance.now();
        const { value, grads } = tf.variableGrads(() => enc.loss(b, { seed: step }), [...trainable.values()]);
        const named = new Map([...trainable.keys()].map((n) => [n, grads[(trainable.get(n) as tf.Variable).name] as tf.Tensor]));
        opt.apply(named, 1e-5);
        value.dataSync();
        tf.dispose([value, grads]);
        times.push((performance.now() - s) / 1000);
      }
      emit(phase, { seconds: times[1], firstStepSeconds: times[0], trainableParams: [...trainable.values()].reduce((a, v) => a + v.size, 0), recompute });
      opt.dispose();
      enc.dispose();
    } catch (e) {
      emit(phase, { error: errText(e) });
    }
  }
  model.dispose();
}

await main();
