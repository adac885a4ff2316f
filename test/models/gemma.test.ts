/**
 * GemmaModel behaviour beyond the goldens: batching and padding equivalences, leaks, random init,
 * save/load round trip, gradients, dropout, and input validation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { parseGemmaConfig } from '../../src/config/gemma.js';
import { GemmaModel, gemmaParameterShapes } from '../../src/models/gemma.js';
import { loadGemmaModel } from '../../src/models/load.js';
import { assertAllClose } from '../helpers/close.js';
import { readGolden } from './golden.js';

const G3 = join(REPO_ROOT, 'test', 'fixtures', 'gemma3-tiny');
/** float32 reassociation between differently shaped batches; far below the parity tolerance. */
const EQUIV = 1e-5;

const g3 = async () => {
  await initEngine();
  return loadGemmaModel(G3);
};

test('a batch equals its rows run alone, and right padding leaves real-token outputs unchanged (every mode)', async () => {
  const model = await g3();
  try {
    const c = readGolden(G3).cases.find((x) => x.name === 'right_padded')!;
    for (const mode of ['causal', 'bidirectional_sliding', 'bidirectional_sliding_gemma3_hf'] as const) {
      const batch = model.forward(c.input_ids, { attentionMask: c.attention_mask, attention: mode, logits: true });
      const bh = batch.hiddenStates.arraySync();
      c.input_ids.forEach((row, b) => {
        const n = c.lengths[b]!;
        const single = model.forward([row.slice(0, n)], { attention: mode, logits: true });
        assertAllClose(single.hiddenStates.arraySync()[0]!, bh[b]!.slice(0, n), EQUIV, `${mode} row ${b} alone`);
        assertAllClose(single.logits!.arraySync()[0]!, batch.logits!.arraySync()[b]!.slice(0, n), EQUIV, `${mode} logits row ${b}`);
        // 5 more pads on the right change nothing for the real tokens
        const padded = model.forward([[...row.slice(0, n), 0, 0, 0, 0, 0]], { attentionMask: [[...Array(n).fill(1), 0, 0, 0, 0, 0]], attention: mode });
        assertAllClose(padded.hiddenStates.arraySync()[0]!.slice(0, n), bh[b]!.slice(0, n), EQUIV, `${mode} row ${b} extra padding`);
        tf.dispose([single, padded]);
      });
      tf.dispose(batch);
    }
  } finally {
    model.dispose();
  }
});

test('no tensor leaks: forward+pool inside tf.tidy, and forward + dispose', async () => {
  const model = await g3();
  try {
    const ids = [[2, 5, 6, 7, 0]];
    const mask = [[1, 1, 1, 1, 0]];
    model.forward(ids, { attentionMask: mask }).hiddenStates.dispose(); // warm-up (lazy backend state)
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const out = model.forward(ids, { attentionMask: mask, attention: 'bidirectional_sliding' });
      model.pool(out.hiddenStates, mask, 'mean');
    });
    assert.equal(tf.memory().numTensors, before);
    const out = model.forward(ids, { attentionMask: tf.tensor2d(mask) as tf.Tensor2D, logits: true, attention: 'bidirectional_global' });
    assert.equal(tf.memory().numTensors, before + 3); // mask input + hidden + logits
    tf.dispose(out);
    assert.equal(tf.memory().numTensors, before + 1);
  } finally {
    model.dispose();
  }
});

test('logits: by default only in causal mode; on request in other modes', async () => {
  const model = await g3();
  try {
    const a = model.forward([[2, 9, 9]], { attention: 'bidirectional_global' });
    const b = model.forward([[2, 9, 9]], { attention: 'bidirectional_global', logits: true });
    const c = model.forward([[2, 9, 9]], { logits: false });
    assert.equal(a.logits, undefined);
    assert.deepEqual(b.logits?.shape, [1, 3, 256]);
    assert.equal(c.logits, undefined);
    tf.dispose([a, b, c]);
  } finally {
    model.dispose();
  }
});

test('random init: seeded, HF-like (N(0, 0.02), zero norms and pad row); save -> loadModel reproduces the forward', async () => {
  await initEngine();
  const config = parseGemmaConfig(JSON.parse((await import('node:fs')).readFileSync(join(G3, 'config.json'), 'utf8')), G3);
  const a = GemmaModel.random(config, 11);
  const b = GemmaModel.random(config, 11);
  const c = GemmaModel.random(config, 12);
  const dir = await mkdtemp(join(tmpdir(), 'gemma-random-'));
  try {
    const q = 'model.layers.0.self_attn.q_proj.weight';
    assert.deepEqual(a.params.get(q)!.dataSync(), b.params.get(q)!.dataSync());
    assert.notDeepEqual(a.params.get(q)!.dataSync(), c.params.get(q)!.dataSync());
    const w = Array.from(a.params.get(q)!.dataSync());
    const std = Math.sqrt(w.reduce((s, x) => s + x * x, 0) / w.length);
    assert.ok(Math.abs(std - 0.02) < 0.002, `std ${std}`);
    assert.ok(a.params.get('model.norm.weight')!.dataSync().every((x) => x === 0));
    assert.ok(a.params.get('model.embed_tokens.weight')!.dataSync().slice(0, 64).every((x) => x === 0));
    // embed 256*64 + 4 layers * (q,k,v,o 4*4096 + q/k norm 32 + mlp 3*64*128 + 4 norms * 64) + final norm 64
    assert.equal(a.parameterCount, 165_056);
    assert.deepEqual([...a.params.keys()].sort(), [...gemmaParameterShapes(config).keys()].sort());

    await a.save(dir);
    const loaded = await loadGemmaModel(dir);
    const ids = [[2, 40, 41, 42, 43, 44, 45, 46, 47, 48]];
    const x = a.forward(ids);
    const y = loaded.forward(ids);
    assert.deepEqual(y.logits!.dataSync(), x.logits!.dataSync());
    tf.dispose([x, y]);
    loaded.dispose();
  } finally {
    [a, b, c].forEach((m) => m.dispose());
    await rm(dir, { recursive: true, force: true });
  }
});

test('gradients reach every parameter (embedding via the gather gradient)', async () => {
  const model = await g3();
  try {
    const { value, grads } = tf.variableGrads(() =>
      tf.mean(tf.square(model.forward([[2, 7, 8, 9, 10]], { attention: 'bidirectional_sliding' }).hiddenStates)) as tf.Scalar,
    );
    assert.equal(Object.keys(grads).length, model.params.size);
    for (const g of Object.values(grads)) {
      const d = g.dataSync();
      assert.ok(d.every(Number.isFinite));
      assert.ok(d.some((v) => v !== 0));
    }
    tf.dispose([value, ...Object.values(grads)]);
  } finally {
    model.dispose();
  }
});

test('dropout: only when training, reproducible from the seed, different across seeds', async () => {
  const model = await g3();
  try {
    const ids = [[2, 7, 8, 9, 10, 11]];
    const dropout = { embedding: 0.1, attention: 0.1, residual: 0.1 };
    const run = (o: Parameters<GemmaModel['forward']>[1]) => {
      const out = model.forward(ids, o);
      const d = out.hiddenStates.dataSync();
      tf.dispose(out);
      return Array.from(d);
    };
    const evalOut = run({});
    assert.deepEqual(run({ dropout, seed: 1 }), evalOut); // training not set: no dropout
    const t1 = run({ training: true, dropout, seed: 1 });
    assert.deepEqual(run({ training: true, dropout, seed: 1 }), t1);
    assert.notDeepEqual(t1, evalOut);
    assert.notDeepEqual(run({ training: true, dropout, seed: 2 }), t1);
  } finally {
    model.dispose();
  }
});

test('bad inputs are RangeErrors naming the position', async () => {
  const model = await g3();
  try {
    assert.throws(() => model.forward([[2, 256]]), /inputIds\[0\]\[1\] = 256 is not a token id in \[0, 256\)/);
    assert.throws(() => model.forward([[2, 3], [2]]), /row 1 has length 1, expected 2/);
    assert.throws(() => model.forward([[2, 3]], { attentionMask: [[1, 2]] }), /attentionMask\[0\]\[1\] = 2/);
    assert.throws(() => model.forward([[2, 3]], { attentionMask: [[1, 1], [1, 1]] }), /2 rows, expected 1/);
  } finally {
    model.dispose();
  }
});

test('use_bidirectional_attention (EmbeddingGemma) makes the HF bidirectional window the default mode', async () => {
  await initEngine();
  const json = JSON.parse((await import('node:fs')).readFileSync(join(G3, 'config.json'), 'utf8'));
  const model = GemmaModel.random(parseGemmaConfig({ ...json, use_bidirectional_attention: true }, G3), 3);
  try {
    assert.equal(model.defaultMode, 'bidirectional_sliding_gemma3_hf');
    const ids = [Array.from({ length: 14 }, (_, t) => 2 + t)];
    const a = model.forward(ids);
    const b = model.forward(ids, { attention: 'bidirectional_sliding_gemma3_hf' });
    const c = model.forward(ids, { attention: 'bidirectional_sliding' });
    assert.equal(a.logits, undefined);
    assert.deepEqual(a.hiddenStates.dataSync(), b.hiddenStates.dataSync());
    assert.notDeepEqual(a.hiddenStates.dataSync(), c.hiddenStates.dataSync());
    tf.dispose([a, b, c]);
  } finally {
    model.dispose();
  }
});
