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
      const logits = tf.tidy(() => {
        const out = model.forward(ids, { mode: 'causal' });
        tf.dispose(out.hiddenStates);
        return out.logits as tf.Tensor3D;
      });
      logits.dataSync();
      logits.dispose();
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

    const measure = async (choice: 'wasm' | 'native') => {
      await initEngine(choice);
      const slow = choice === 'wasm';
      ctx.log(`model forward: ${choice === 'wasm' ? 'stock wasm' : 'native'}`);
      const fwd = await timeIt(forward, slow ? { warmup: 1, minRuns: 2, minSeconds: 0 } : { warmup: 1, minRuns: 5, minSeconds: 2 });
      ctx.log(`model train step: ${choice === 'wasm' ? 'stock wasm (about 40 s a step)' : 'native'}`);
      // Stock wasm: the forward above warmed every forward kernel; one step is ~40 s, so no extra warm-up.
      const train = await timeIt(trainStep, slow ? { warmup: 0, minRuns: 1, minSeconds: 0 } : { warmup: 1, minRuns: 3, minSeconds: 3 });
      return { fwd, train, loss: lastLoss };
    };

    const stock = await measure('wasm');
    const native = await measure('native');
    ids.dispose();
    const tok = B * T;
    const table: Table = {
      title: `tiny Gemma (V${V} D256 L4 H4 F1024, B${B} T${T}, ${fmt(model.parameterCount / 1e6, 2)}M params)`,
      columns: ['', 'stock wasm', 'native', 'native / stock'],
      rows: [
        ['forward ms', fmt(stock.fwd.median * 1000), fmt(native.fwd.median * 1000), ''],
        ['forward tokens/s', fmt(tok / stock.fwd.median), fmt(tok / native.fwd.median), ratio(stock.fwd.median, native.fwd.median)],
        ['train step ms', fmt(stock.train.median * 1000), fmt(native.train.median * 1000), ''],
        ['train tokens/s', fmt(tok / stock.train.median), fmt(tok / native.train.median), ratio(stock.train.median, native.train.median)],
        ['runs (fwd / train)', `${stock.fwd.runs} / ${stock.train.runs}`, `${native.fwd.runs} / ${native.train.runs}`, ''],
        ['loss after the steps', fmt(stock.loss, 4), fmt(native.loss, 4), ''],
      ],
      notes: ['Target: train step >= 25x stock wasm. Train step = forward + LM cross entropy + tf.variableGrads + SGD update.'],
    };
    for (const v of vars) v.dispose();
    return [table];
  },
};

export default section;
