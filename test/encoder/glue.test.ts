import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { tinyGemma2 } from '../helpers/tiny.js';
import { GemmaModel } from '../../src/models/gemma.js';
import { toEncoder } from '../../src/encoder/encoder.js';
import { carveValidation, evaluateGlue, exampleTokenizer, finetuneGlue, glueFile } from '../../src/encoder/glue.js';
import { accuracy } from '../../src/eval/metrics.js';
import { loadGlue } from '../../src/tasks/glue.js';
import { tokenizerFromJson } from '../../src/tokenize/index.js';
import { readTokenizerFiles, trimTokenizer } from '../../src/tokenize/trim.js';
import { ConfigError } from '../../src/errors.js';

await initEngine();

// Real SST-2 rows, a tiny model, a vocabulary trimmed to the 256 training rows used here.
const train = await loadGlue('sst2', glueFile('sst2', 'train'));
const rows = train.examples.slice(0, 256);
const trimmed = trimTokenizer(readTokenizerFiles(), rows.map((e) => e.texts[0]));
const tok = tokenizerFromJson(trimmed.tokenizerJson, trimmed.config, { eos: ['<eos>'] }, 'trimmed');
const config = tinyGemma2({ vocab_size: tok.vocabSize, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, head_dim: 16, query_pre_attn_scalar: 16, sliding_window: 16, layer_types: ['full_attention'], pad_token_id: tok.padId, bos_token_id: tok.bosId, eos_token_id: tok.eosId, initializer_range: 0.02, max_position_embeddings: 128 });

test('finetuneGlue on real SST-2 rows: per-step logs, loss decreases, dev metric = accuracy of the returned predictions', async () => {
  const model = GemmaModel.random(config, 0);
  const enc = toEncoder(model, { attention: 'bidirectional_global', pooling: 'mean', head: { kind: 'classification', numClasses: 2 } });
  try {
    const before = tf.memory().numTensors;
    const r = await finetuneGlue('sst2', enc, {
      tokenizer: exampleTokenizer(tok, 32),
      maxLength: 32,
      seed: 1,
      trainLimit: 256,
      devLimit: 64,
      trainBatchSize: 16,
      maxSteps: 30,
      evalEvery: 15,
      schedule: { lr: 3e-3, warmupSteps: 3 },
      files: { train: glueFile('sst2', 'train') },
    });
    assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
    assert.equal(r.logs.length, 30);
    assert.deepEqual(r.logs.map((l) => l.step), Array.from({ length: 30 }, (_, i) => i + 1));
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const first = mean(r.logs.slice(0, 5).map((l) => l.loss));
    const last = mean(r.logs.slice(-5).map((l) => l.loss));
    assert.ok(last < first - 0.05, `loss should decrease: first5 ${first.toFixed(4)} -> last5 ${last.toFixed(4)}`);
    assert.deepEqual(r.evals.map((e) => e.step), [15, 30]);
    const dev = (await loadGlue('sst2', glueFile('sst2', 'dev'))).examples.slice(0, 64);
    assert.equal(r.dev.examples, 64);
    assert.equal(r.dev.metrics.accuracy, accuracy(dev.map((e) => e.label as number), r.dev.predictions));
    // Honest selection: 26 rows (10% of 256) carved from train chose the checkpoint; dev was scored once.
    assert.equal(r.selection.by, 'validation');
    assert.equal(r.selection.validationExamples, 26);
    assert.equal(r.selection.best?.metric, Math.max(...r.evals.map((e) => e.metric)), 'best validation weights are restored');
    assert.equal(r.selection.devEvaluations, 1);
    // evaluateGlue reads the same dev rows and gives the same number for the same weights.
    const again = await evaluateGlue('sst2', enc, { tokenizer: exampleTokenizer(tok, 32), maxLength: 32, devLimit: 64 });
    assert.deepEqual(again.predictions, r.dev.predictions);
  } finally {
    enc.dispose();
    model.dispose();
  }
});

test('carveValidation: seeded, stratified by label (largest remainders), disjoint, file order kept', () => {
  const ex = Array.from({ length: 100 }, (_, i) => ({ idx: i, label: i < 70 ? 0 : 1 }));
  const a = carveValidation(ex, 10, 3);
  assert.deepEqual([a.validation.filter((e) => e.label === 0).length, a.validation.filter((e) => e.label === 1).length], [7, 3]);
  assert.equal(a.train.length, 90);
  assert.deepEqual([...a.train, ...a.validation].map((e) => e.idx).sort((x, y) => x - y), ex.map((e) => e.idx));
  assert.deepEqual(a.validation.map((e) => e.idx), [...a.validation.map((e) => e.idx)].sort((x, y) => x - y));
  assert.deepEqual(carveValidation(ex, 10, 3).validation, a.validation, 'same seed, same rows');
  assert.notDeepEqual(carveValidation(ex, 10, 4).validation, a.validation, 'another seed, other rows');
  // 3 classes of 5/3/2 rows, 5 picked: exact shares 2.5/1.5/1 -> floors 2/1/1, the remainder to the first tie.
  const b = carveValidation([0, 0, 0, 0, 0, 1, 1, 1, 2, 2].map((label, idx) => ({ idx, label })), 5, 0);
  assert.deepEqual([0, 1, 2].map((c) => b.validation.filter((e) => e.label === c).length), [3, 1, 1]);
  assert.throws(() => carveValidation(ex, 100, 0), ConfigError);
});

test('finetuneGlue rejects a head that does not fit the task', async () => {
  const model = GemmaModel.random(config, 0);
  const enc = toEncoder(model, { attention: 'causal', pooling: 'last', head: { kind: 'regression' } });
  try {
    await assert.rejects(finetuneGlue('sst2', enc, { tokenizer: exampleTokenizer(tok), maxSteps: 1 }), ConfigError);
  } finally {
    enc.dispose();
    model.dispose();
  }
});
