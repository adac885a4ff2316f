import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { initEngine } from '../../src/engine/index.js';
import { loadModel } from '../../src/models/load.js';
import type { T5GemmaModel } from '../../src/models/t5gemma.js';
import { generate } from '../../src/t5gemma/generate.js';
import { type Case, fixtureDir, goldenCases } from './golden.js';

before(async () => {
  await initEngine();
});

/** log p(y | x) of each row's tokens by one teacher-forced forward (independent of the step function). */
function teacherForcedLogProb(model: T5GemmaModel, c: Case, b: number, tokens: number[]): number {
  const dec = [[model.config.bosTokenId, ...tokens.slice(0, -1)]];
  const out = model.forward([c.input_ids[b] as number[]], dec, { attentionMask: [c.attention_mask[b] as number[]] });
  const logp = tf.logSoftmax(out.logits).arraySync()[0] as number[][];
  tf.dispose([out.encoderHiddenStates, out.decoderHiddenStates, out.logits]);
  return tokens.reduce((s, t, i) => s + ((logp[i] as number[])[t] as number), 0);
}

test('greedy generation = argmax of a full teacher-forced forward at every step; beam score is consistent', async () => {
  const model = (await loadModel(fixtureDir('t5gemma-tiny-unbalanced'))) as T5GemmaModel;
  const c = goldenCases('t5gemma-tiny-unbalanced')[1] as Case; // row 1 is padded
  const greedy = await generate(model, c.input_ids, c.attention_mask, { maxNewTokens: 6 });
  for (let b = 0; b < 2; b++) {
    // Reference greedy: rerun the whole model on the growing prefix, one row at a time (no batching).
    const tokens: number[] = [];
    for (let t = 0; t < 6; t++) {
      const out = model.forward([c.input_ids[b] as number[]], [[model.config.bosTokenId, ...tokens]], { attentionMask: [c.attention_mask[b] as number[]] });
      const last = (out.logits.arraySync()[0] as number[][])[t] as number[];
      tf.dispose([out.encoderHiddenStates, out.decoderHiddenStates, out.logits]);
      const next = last.indexOf(Math.max(...last));
      tokens.push(next);
      if (next === model.config.eosTokenId) break;
    }
    assert.deepEqual(greedy[b]?.tokens, tokens, `row ${b}`);
    assert.ok(Math.abs((greedy[b]?.logProb as number) - teacherForcedLogProb(model, c, b, tokens)) < 1e-4);
  }
  const beam = await generate(model, c.input_ids, c.attention_mask, { maxNewTokens: 4, numBeams: 3, lengthPenalty: 0 });
  for (let b = 0; b < 2; b++) {
    const h = beam[b]!;
    assert.ok(Math.abs(h.logProb - teacherForcedLogProb(model, c, b, h.tokens)) < 1e-4, 'beam logP matches a teacher-forced forward');
    const g4 = await generate(model, [c.input_ids[b] as number[]], [c.attention_mask[b] as number[]], { maxNewTokens: 4 });
    assert.ok(h.score >= (g4[0]?.logProb as number) - 1e-6, 'beam (α=0) never scores below greedy');
  }
  model.dispose();
});
