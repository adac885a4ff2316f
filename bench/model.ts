/**
 * Tiny Gemma (V1024 D256 L4 H4 F1024, T128, B16) forward and train-step tokens/s, stock wasm vs
 * native kernels, same weights and batch. Train step = forward with logits, next-token cross
 * entropy, tf.variableGrads over all parameters, SGD update.
 */
import * as tf from '@tensorflow/tfjs';
import { parseGemmaConfig } from '../src/config/gemma.js';
import { initEngine } from '../src/engine/index.js';
import { GemmaModel } from '../src/models/gemma.js';
import { Rng } from '../src/rng/index.js';
import { type BenchSection, fmt, ratio, type Table, timeIt } from './harness.js';

const B = 16;
const T = 128;
const V = 1024;

export const TINY_GEMMA_CONFIG = {
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
  description: `tiny Gemma forward / train step tokens/s (B${B} T${T}), stock wasm vs native`,
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
        const out = model.forward(ids, { mode: 'causal' });
        return lmLoss(out.logits as tf.Tensor3D, ids);
      });
      lastLoss = loss.dataSync()[0] as number;
      loss.dispose();
    };
    const trainStep = () => {
      const { value, grads } = tf.variableGrads(() => {
        const out = model.forward(ids, { mode: 'causal', logits: true });
        return lmLoss(out.logits as tf.Tensor3D, ids);
      }, vars);
      opt.applyGradients(grads);
      lastLoss = value.dataSync()[0] as number;
      tf.dispose([value, grads]);
    };
    const label = (choice: 'wasm' | 'native') => (choice === 'wasm' ? 'stock wasm' : 'native');

    // Forwards first, on the initial weights, so both losses must agree; then the train steps.
    const forwards = [];
    for (const choice of ['wasm', 'native'] as const) {
      await initEngine(choice);
      ctx.log(`model forward: ${label(choice)}`);
      const t = await timeIt(forward, choice === 'wasm' ? { warmup: 1, minRuns: 2, minSeconds: 0 } : { warmup: 1, minRuns: 5, minSeconds: 2 });
      forwards.push({ t, loss: lastLoss });
    }
    const trains = [];
    for (const choice of ['wasm', 'native'] as const) {
      await initEngine(choice);
      ctx.log(`model train step: ${choice === 'wasm' ? 'stock wasm (about 40 s a step)' : 'native'}`);
      // Stock wasm: the forwards warmed every forward kernel and one step is ~40 s, so no extra warm-up.
      const t = await timeIt(trainStep, choice === 'wasm' ? { warmup: 0, minRuns: 1, minSeconds: 0 } : { warmup: 1, minRuns: 3, minSeconds: 3 });
      trains.push({ t, loss: lastLoss });
    }
    const [stockFwd, nativeFwd] = forwards as [(typeof forwards)[number], (typeof forwards)[number]];
    const [stockTrain, nativeTrain] = trains as [(typeof trains)[number], (typeof trains)[number]];
    ids.dispose();
    const tok = B * T;
    const table: Table = {
      title: `tiny Gemma (V${V} D256 L4 H4 F1024, B${B} T${T}, ${fmt(model.parameterCount / 1e6, 2)}M params)`,
      columns: ['', 'stock wasm', 'native', 'native / stock'],
      rows: [
        ['forward ms', fmt(stockFwd.t.median * 1000), fmt(nativeFwd.t.median * 1000), ''],
        ['forward tokens/s', fmt(tok / stockFwd.t.median), fmt(tok / nativeFwd.t.median), ratio(stockFwd.t.median, nativeFwd.t.median)],
        ['train step ms', fmt(stockTrain.t.median * 1000), fmt(nativeTrain.t.median * 1000), ''],
        ['train tokens/s', fmt(tok / stockTrain.t.median), fmt(tok / nativeTrain.t.median), ratio(stockTrain.t.median, nativeTrain.t.median)],
        ['runs (fwd / train)', `${stockFwd.t.runs} / ${stockTrain.t.runs}`, `${nativeFwd.t.runs} / ${nativeTrain.t.runs}`, ''],
        ['initial loss (same weights)', stockFwd.loss.toFixed(6), nativeFwd.loss.toFixed(6), `|diff| ${(Math.abs(stockFwd.loss - nativeFwd.loss)).toExponential(1)}`],
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
