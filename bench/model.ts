/**
 * Tiny Gemma (V1024 D256 L4 H4 F1024, T128, B16) forward and train-step tokens/s, stock wasm vs
 * native kernels, same weights and batch. Train step = forward with logits, next-token cross
 * entropy, tf.variableGrads over all parameters, SGD update.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseGemmaConfig } from '../src/config/gemma.js';
import { initEngine } from '../src/engine/index.js';
import { GemmaModel } from '../src/models/gemma.js';
import { Rng } from '../src/rng/index.js';
import { type BenchSection, fmt, ratio, type Table, timeIt } from './harness.js';

const B = 16;
const T = 128;
const V = 1024;

const TINY_GEMMA_CONFIG = {
  model_type: 'gemma',
  vocab_size: V,
  hidden_size: 256,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  head_dim: 64,
  intermediate_size: 1024,
  hidden_activation: 'gelu_pytorch_tanh',
  max_position_embeddings: 512,
} as const;

/** Mean next-token cross entropy of logits [B, T, V] against ids shifted by one. */
function lmLoss(logits: tf.Tensor3D, labels: tf.Tensor2D): tf.Scalar {
  const pred = tf.slice(logits, [0, 0, 0], [B, T - 1, V]);
  const target = tf.oneHot(tf.slice(labels, [0, 1], [B, T - 1]), V);
  return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(pred)), -1))) as tf.Scalar;
}

const section: BenchSection = {
  name: 'model',
  description: `tiny Gemma forward / train step tokens/s (B${B} T${T}): stock wasm, wasm + native, cpu + native`,
  async run(ctx) {
    await initEngine('native');
    const config = parseGemmaConfig(TINY_GEMMA_CONFIG, 'bench/model.ts');
    const model = GemmaModel.random(config, 1);
    const rng = new Rng('bench-model');
    const rows = Array.from({ length: B }, () => Array.from({ length: T }, () => rng.int(V)));
    const ids = tf.tensor2d(rows, [B, T], 'int32');
    const vars = [...model.params.values()];
    const opt = tf.train.sgd(1e-3);
    let lastLoss = NaN;

    const forward = () => {
      const loss = tf.tidy(() => {
        const out = model.forward(ids, { attention: 'causal' });
        return lmLoss(out.logits as tf.Tensor3D, ids);
      });
      lastLoss = loss.dataSync()[0] as number;
      loss.dispose();
    };
    const trainStep = () => {
      const { value, grads } = tf.variableGrads(() => {
        const out = model.forward(ids, { attention: 'causal', logits: true });
        return lmLoss(out.logits as tf.Tensor3D, ids);
      }, vars);
      opt.applyGradients(grads);
      lastLoss = value.dataSync()[0] as number;
      tf.dispose([value, grads]);
    };
    // Forwards first, on the initial weights, so all losses must agree; then the train steps.
    // Stock wasm and cpu are slow (tens of seconds a step): one measured run after the forward warm-up.
    const engines = [
      { choice: 'wasm', label: 'stock wasm', slow: true },
      { choice: 'native', label: 'wasm + native', slow: false },
      { choice: 'cpu', label: 'cpu + native', slow: true },
    ] as const;
    const forwards: { median: number; runs: number; loss: number }[] = [];
    for (const e of engines) {
      await initEngine(e.choice);
      ctx.log(`model forward: ${e.label}`);
      const t = await timeIt(forward, e.slow ? { warmup: 1, minRuns: 1, minSeconds: 0 } : { warmup: 1, minRuns: 5, minSeconds: 2 });
      forwards.push({ ...t, loss: lastLoss });
    }
    const trains: { median: number; runs: number }[] = [];
    for (const e of engines) {
      await initEngine(e.choice);
      ctx.log(`model train step: ${e.label}`);
      trains.push(await timeIt(trainStep, e.slow ? { warmup: 0, minRuns: 1, minSeconds: 0 } : { warmup: 1, minRuns: 3, minSeconds: 3 }));
    }
    await initEngine('native');
    ids.dispose();
    const tok = B * T;
    const [fs, fn] = forwards as [(typeof forwards)[number], (typeof forwards)[number]];
    const [ts, tn] = trains as [(typeof trains)[number], (typeof trains)[number]];
    const table: Table = {
      title: `tiny Gemma (V${V} D256 L4 H4 F1024, B${B} T${T}, ${fmt(model.parameterCount / 1e6, 2)}M params)`,
      columns: ['', ...engines.map((e) => e.label), 'wasm+native / stock wasm'],
      rows: [
        ['forward ms', ...forwards.map((f) => fmt(f.median * 1000)), ''],
        ['forward tokens/s', ...forwards.map((f) => fmt(tok / f.median)), ratio(fs.median, fn.median)],
        ['train step ms', ...trains.map((t) => fmt(t.median * 1000)), ''],
        ['train tokens/s', ...trains.map((t) => fmt(tok / t.median)), ratio(ts.median, tn.median)],
        ['runs (fwd / train)', ...forwards.map((f, i) => `${f.runs} / ${(trains[i] as (typeof trains)[number]).runs}`), ''],
        ['initial loss (same weights)', ...forwards.map((f) => f.loss.toFixed(6)), `max |diff| ${Math.max(...forwards.map((f) => Math.abs(f.loss - fs.loss))).toExponential(1)}`],
      ],
      notes: [
        'Target: train step >= 25x stock wasm. Forward = logits + LM cross entropy; train step = that + tf.variableGrads + SGD update.',
      ],
    };
    for (const v of vars) v.dispose();
    return [table];
  },
};

export default section;
