/**
 * Child process of bench/real-gemma4.ts: loads a Gemma 4 checkpoint with `loadModel` in a fresh engine
 * (so the wasm heap holds only this model) and times forward passes; prints one JSON line on stdout.
 * Usage: node --import tsx bench/real-gemma4-worker.ts DIR B T RUNS
 */
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../src/engine/index.js';
import { Gemma4Model } from '../src/models/gemma4.js';
import { loadModel } from '../src/models/load.js';
import { Rng } from '../src/rng/index.js';

const [dir, bArg, tArg, runsArg] = process.argv.slice(2);
const B = Number(bArg);
const T = Number(tArg);
const runs = Number(runsArg ?? 2);
const GiB = 2 ** 30;
const engine = await initEngine();
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
const model = await loadModel(dir as string);
const loadS = (performance.now() - t0) / 1000;
if (!(model instanceof Gemma4Model)) throw new Error(`${dir} is not a Gemma 4 checkpoint`);
const weightsGiB = tf.memory().numBytes / GiB;
const rssLoadGiB = (process.memoryUsage().rss - rss0) / GiB;
const rng = new Rng('bench-gemma4');
const ids = Array.from({ length: B }, () => Array.from({ length: T }, () => 3 + rng.int(model.config.vocabSize - 3)));
const times: number[] = [];
for (let r = 0; r < runs; r++) {
  const t1 = performance.now();
  tf.dispose(model.forward(ids, { attention: 'bidirectional_sliding_gemma4_hf', logits: false }));
  times.push((performance.now() - t1) / 1000);
}
times.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    engine: `${engine.backend}${engine.native ? ' + native' : ''}`,
    parameters: model.parameterCount,
    loadS,
    weightsGiB,
    rssLoadGiB,
    forwardS: times[Math.floor(times.length / 2)],
    runs: times.length,
    peakRssGiB: process.memoryUsage().rss / GiB,
  }),
);
model.dispose();
