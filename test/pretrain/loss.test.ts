import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { loadGemmaModel } from '../../src/models/load.js';
import { causalLmLoss, causalLmNll, evaluateNll, perplexity, unigramNll } from '../../src/pretrain/loss.js';
import { documentStream, PackedSequences } from '../../src/pretrain/pack.js';
import { assertAllClose } from '../helpers/close.js';

// Goldens: /usr/bin/python3 test/pretrain/reference_lm.py (numpy / torch float64, independent of src/).
const golden = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'pretrain', 'golden_lm.json'), 'utf8')) as {
  loss: { logits: number[][][]; ids: number[][]; weights: number[][]; mean_nll: number; sum_nll: number; count: number };
  perplexity: { docs: number[][]; seq_len: number; stream: number[]; rows: number[][]; lengths: number[]; sum_nll: number; count: number; perplexity: number };
};
const specials = { padId: 0, eosId: 1, bosId: 2 };

test('causal-LM loss equals the numpy mean next-token NLL over weighted targets', async () => {
  await initEngine();
  const g = golden.loss;
  const [loss, sum, count] = tf.tidy(() => {
    const logits = tf.tensor3d(g.logits);
    const ids = tf.tensor2d(g.ids, undefined, 'int32');
    const w = tf.tensor2d(g.weights);
    const r = causalLmNll(logits, ids, w);
    return [causalLmLoss(logits, ids, w), r.sum, r.count];
  });
  assertAllClose(loss.dataSync()[0] as number, g.mean_nll, 1e-6, 'mean NLL');
  assertAllClose(sum.dataSync()[0] as number, g.sum_nll, 1e-5, 'summed NLL');
  assert.equal(count.dataSync()[0], g.count);
  tf.dispose([loss, sum, count]);
});

test('the loss ignores padded targets whatever their logits, and its gradient is softmax - onehot', async () => {
  await initEngine();
  const g = golden.loss;
  const base = tf.tensor3d(g.logits);
  // Row 1 has targets only at t = 1: changing logits that predict padded positions must not matter.
  const changed = tf.tidy(() => base.add(tf.tensor3d(g.logits.map((row, b) => row.map((v, t) => v.map(() => (b === 1 && t >= 1 ? 100 : 0)))))) as tf.Tensor3D);
  const ids = tf.tensor2d(g.ids, undefined, 'int32');
  const w = tf.tensor2d(g.weights);
  const a = causalLmLoss(base, ids, w);
  const b = causalLmLoss(changed, ids, w);
  assert.equal(a.dataSync()[0], b.dataSync()[0]);
  // d mean / d logits[b, t] = (softmax - onehot(ids[b, t+1])) * w[b, t+1] / count, computed in float64 here.
  const grad = tf.grad((x: tf.Tensor) => causalLmLoss(x as tf.Tensor3D, ids, w))(base).arraySync() as number[][][];
  const want = g.logits.map((row, bb) =>
    row.map((v, t) => {
      const wt = t + 1 < row.length ? (g.weights[bb] as number[])[t + 1] as number : 0;
      const m = Math.max(...v);
      const z = v.reduce((s, x) => s + Math.exp(x - m), 0);
      return v.map((x, k) => (wt * (Math.exp(x - m) / z - (k === (g.ids[bb] as number[])[t + 1] ? 1 : 0))) / g.count);
    }),
  );
  assertAllClose(grad, want, 1e-6, 'gradient');
  tf.dispose([base, changed, ids, w, a, b]);
});

test('held-out perplexity of the Gemma 3 fixture on packed docs matches the torch float64 reference', async () => {
  await initEngine();
  const g = golden.perplexity;
  const stream = documentStream(g.docs, specials);
  assert.deepEqual(Array.from(stream), g.stream);
  const packed = new PackedSequences(stream, g.seq_len, 'pad', specials.padId);
  assert.deepEqual(Array.from({ length: packed.count }, (_, i) => Array.from(packed.sequence(i))), g.rows);
  const model = await loadGemmaModel(join(REPO_ROOT, 'test', 'fixtures', 'gemma3-tiny'));
  // Batch size 3 splits the 4 rows unevenly: the total must not depend on batching.
  const r = await evaluateNll(model, packed, specials, { batchSize: 3 });
  model.dispose();
  assert.equal(r.tokens, g.count);
  assertAllClose(r.nll, g.sum_nll, 1e-4, 'summed NLL');
  assertAllClose(perplexity(r), g.perplexity, 1e-3, 'perplexity');
});

test('unigram baseline: add-one frequencies of the train stream, scored on the same targets', () => {
  // train stream: bos 5 5 6 eos -> counts (add-one over V = 8): 5:3, 6:2, eos(1):2, others 1; total 8 + 4 = 12
  const train = documentStream([[5, 5, 6]], specials);
  const held = new PackedSequences(documentStream([[5, 7]], specials), 3, 'pad', 0); // [bos 5 7] [eos pad pad]
  const r = unigramNll(train, 8, held, specials);
  // targets: 5 (t=1), 7 (t=2); eos at t=0 of row 2 is never a target
  assert.equal(r.tokens, 2);
  assertAllClose(r.nll, -Math.log(3 / 12) - Math.log(1 / 12), 1e-12, 'unigram NLL');
});
