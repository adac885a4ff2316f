import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { initEngine } from '../../src/engine/index.js';
import { InputError } from '../../src/errors.js';
import { loadModel } from '../../src/models/load.js';
import { T5GemmaModel } from '../../src/models/t5gemma.js';
import { T5Gemma2Model } from '../../src/models/t5gemma2.js';
import { toEncoderDecoder } from '../../src/t5gemma/build.js';
import { samplingDistribution } from '../../src/t5gemma/decode.js';
import { type EncoderDecoderModel, generate } from '../../src/t5gemma/generate.js';
import { type Case, fixtureDir, goldenCases } from '../t5gemma/golden.js';

before(async () => {
  await initEngine();
});

const models: [string, () => Promise<EncoderDecoderModel>, string][] = [
  ['t5gemma (Gemma 2 blocks, unbalanced)', async () => (await loadModel(fixtureDir('t5gemma-tiny-unbalanced'))) as T5GemmaModel, 't5gemma-tiny-unbalanced'],
  ['t5gemma2 (merged attention)', async () => (await loadModel(fixtureDir('t5gemma2-tiny'))) as T5Gemma2Model, 't5gemma2-tiny'],
  ['t5gemma from Gemma 3 (q/k norms, window 8)', async () => toEncoderDecoder(fixtureDir('gemma3-tiny')), 't5gemma-from-gemma3-tiny'],
];

for (const [what, make, fixture] of models) {
  test(`${what}: cached and uncached decoding give the same tokens and log-probs (greedy, beam, sampling) to 1e-5`, async () => {
    const model = await make();
    const c = goldenCases(fixture)[1] as Case; // row 1 is right-padded
    const runs = [
      { maxNewTokens: 12 },
      { maxNewTokens: 10, numBeams: 3, lengthPenalty: 0.5 },
      { maxNewTokens: 12, sample: { seed: 7, temperature: 1.3, topK: 50, topP: 0.95 } },
      { maxNewTokens: 12, sample: { seed: 8 } },
    ];
    let worst = 0;
    let tokens = 0;
    for (const o of runs) {
      const before = tf.memory().numTensors;
      const cached = await generate(model, c.input_ids, c.attention_mask, o);
      assert.equal(tf.memory().numTensors, before, 'the cache is freed');
      const plain = await generate(model, c.input_ids, c.attention_mask, { ...o, cache: false });
      cached.forEach((h, b) => {
        const p = plain[b]!;
        assert.deepEqual(h.tokens, p.tokens, `${JSON.stringify(o)} row ${b}`);
        worst = Math.max(worst, Math.abs(h.logProb - p.logProb));
        tokens += h.tokens.length;
        assert.ok(Math.abs(h.logProb - p.logProb) < 1e-5, `${JSON.stringify(o)} row ${b}: ${h.logProb} vs ${p.logProb}`);
      });
    }
    console.log(`${what}: ${tokens} tokens compared, max |logP cached - uncached| ${worst.toExponential(2)}`);
    model.dispose();
  });
}

test('decodeStep one token at a time reproduces the whole-prefix decoder logits (t5gemma2)', async () => {
  const model = (await loadModel(fixtureDir('t5gemma2-tiny'))) as T5Gemma2Model;
  const c = goldenCases('t5gemma2-tiny')[2] as Case;
  const enc = model.encode(c.input_ids, c.attention_mask);
  const full = model.decode(c.decoder_input_ids, enc, c.attention_mask).logits.arraySync();
  let cache = model.startDecoding(enc, c.attention_mask);
  let worst = 0;
  for (let t = 0; t < (c.decoder_input_ids[0] as number[]).length; t++) {
    const r = model.decodeStep(cache, c.decoder_input_ids.map((row) => [row[t] as number]));
    cache = r.cache;
    const got = r.logits.arraySync();
    got.forEach((row, b) => row[0]!.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - full[b]![t]![k]!)))));
    r.logits.dispose();
  }
  cache.dispose();
  enc.dispose();
  assert.ok(worst < 1e-5, `max |incremental - full| ${worst}`);
  model.dispose();
});

test('sampling: seeded and reproducible; top-k 1 is greedy; the truncation keeps what it should', async () => {
  const model = (await loadModel(fixtureDir('t5gemma2-tiny'))) as T5Gemma2Model;
  const c = goldenCases('t5gemma2-tiny')[0] as Case;
  const a = await generate(model, c.input_ids, c.attention_mask, { maxNewTokens: 8, sample: { seed: 3, temperature: 2 } });
  const b = await generate(model, c.input_ids, c.attention_mask, { maxNewTokens: 8, sample: { seed: 3, temperature: 2 } });
  const d = await generate(model, c.input_ids, c.attention_mask, { maxNewTokens: 8, sample: { seed: 4, temperature: 2 } });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.map((h) => h.tokens), d.map((h) => h.tokens));
  const greedy = await generate(model, c.input_ids, c.attention_mask, { maxNewTokens: 8 });
  const k1 = await generate(model, c.input_ids, c.attention_mask, { maxNewTokens: 8, sample: { seed: 9, topK: 1 } });
  assert.deepEqual(k1.map((h) => h.tokens), greedy.map((h) => h.tokens));
  // log p = log [0.5, 0.3, 0.15, 0.05]
  const lp = [0.5, 0.3, 0.15, 0.05].map(Math.log);
  assert.deepEqual(samplingDistribution(lp, { topP: 0.79 }).ids, [0, 1]);
  assert.deepEqual(samplingDistribution(lp, { topP: 0.81 }).ids, [0, 1, 2]);
  const k2 = samplingDistribution(lp, { topK: 2 });
  assert.deepEqual(k2.ids, [0, 1]);
  assert.ok(Math.abs((k2.probs[0] as number) - 0.625) < 1e-12);
  const hot = samplingDistribution(lp, { temperature: 2 });
  const want = [0.5, 0.3, 0.15, 0.05].map(Math.sqrt);
  const z = want.reduce((x, y) => x + y, 0);
  hot.probs.forEach((p, i) => assert.ok(Math.abs(p - (want[i] as number) / z) < 1e-12));
  model.dispose();
});

test('generate without a mask uses ids != pad; an all-pad row is an InputError naming the row', async () => {
  const model = (await loadModel(fixtureDir('t5gemma2-tiny'))) as T5Gemma2Model;
  const c = goldenCases('t5gemma2-tiny')[1] as Case;
  const withMask = await generate(model, c.input_ids, c.attention_mask, { maxNewTokens: 6 });
  const noMask = await generate(model, c.input_ids, undefined, { maxNewTokens: 6 });
  assert.deepEqual(noMask, withMask);
  await assert.rejects(generate(model, [c.input_ids[0] as number[], (c.input_ids[0] as number[]).map(() => 0)], undefined, { maxNewTokens: 2 }), (e: unknown) => e instanceof InputError && /row 1 holds only the pad id 0/.test(e.message));
  model.dispose();
});
