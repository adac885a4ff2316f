/**
 * Finding (e) v2's run function on the shipped pretrained Gemma 3 (tiny budgets): both arms, grouped tasks
 * (COPA, MultiRC) and CB's three classes; validation carved from train by scored examples chooses the kept
 * step; dev stays whole records; the same job gives the same numbers.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { initEngine } from '../../src/engine/index.js';
import { modelIdentity, superglueArmRun } from '../../src/experiments/index.js';
import { adaptMicroBatch } from '../../src/experiments/superglue.js';
import { REPO_ROOT } from '../../src/io/paths.js';

const MODEL = join(REPO_ROOT, 'data', 'models', 'tiny-gemma-pretrained');

async function budget(extra: Record<string, number> = {}) {
  const id = await modelIdentity(MODEL);
  return { adaptSteps: 1, adaptBatch: 2, adaptSeqLen: 32, adaptLr: 1e-3, steps: 2, batch: 4, lr: 1e-3, trainLimit: 8, devLimit: 8, maxLength: 48, validation: 6, evalEvery: 1, ...id, ...extra };
}

test('superglueArmRun: encoder-decoder on COPA with validation selection, deterministic', async () => {
  await initEngine();
  const job = { variant: { arch: 'encoder_decoder', objective: 'prefixlm' }, seed: 2, task: 'copa', budget: await budget() };
  const r = await superglueArmRun(job, {});
  assert.equal(r.metric, 'score');
  assert.equal(r.extra?.validationExamples, 6);
  assert.equal(r.extra?.devExamples, 8);
  assert.ok([1, 2].includes(r.extra?.selectedStep as number));
  // COPA accuracy on 8 questions and validation on 6 are multiples of 1/8 and 1/6
  assert.ok(Math.abs(r.value * 8 - Math.round(r.value * 8)) < 1e-9, `dev ${r.value}`);
  const v = r.extra?.validationScore as number;
  assert.ok(Math.abs(v * 6 - Math.round(v * 6)) < 1e-9, `validation ${v}`);
  const again = await superglueArmRun(job, {});
  assert.equal(again.value, r.value);
  assert.equal(again.extra?.lastTrainLoss, r.extra?.lastTrainLoss);
});

test('superglueArmRun: decoder-only arm on CB (3 classes) and MultiRC paragraphs; bad task refused', async () => {
  const cb = await superglueArmRun({ variant: { arch: 'decoder_only', objective: 'causal_lm' }, seed: 0, task: 'cb', budget: await budget() }, {});
  assert.ok(cb.metrics?.accuracy !== undefined && cb.metrics.macro_f1 !== undefined, JSON.stringify(cb.metrics));
  assert.ok(Math.abs(cb.value - (cb.metrics.accuracy! + cb.metrics.macro_f1!) / 2) < 1e-12, 'CB score = mean of accuracy and macro F1');
  const mrc = await superglueArmRun({ variant: { arch: 'decoder_only', objective: 'causal_lm' }, seed: 0, task: 'multirc', budget: await budget({ steps: 1 }) }, {});
  // Whole paragraphs: at least the asked-for answers, and every paragraph has several.
  assert.ok((mrc.extra?.validationExamples as number) >= 6);
  assert.ok((mrc.extra?.devExamples as number) >= 8);
  await assert.rejects(superglueArmRun({ variant: { arch: 'decoder_only', objective: 'causal_lm' }, seed: 0, task: 'record', budget: await budget() }, {}), (e: unknown) => e instanceof ConfigError && /not one of boolq/.test(e.message));
});

test('adaptation micro-batch: the largest divisor of adaptBatch up to 4 (gradients accumulate to the full batch)', () => {
  assert.deepEqual([16, 12, 8, 6, 4, 3, 2, 1].map(adaptMicroBatch), [4, 4, 4, 3, 4, 3, 2, 1]);
  assert.deepEqual([5, 7, 9, 10].map(adaptMicroBatch), [1, 1, 3, 2]);
});
