/**
 * The real GLUE run function on a tiny random checkpoint (2 steps, 8 examples): deterministic given the
 * job (what resume-by-key relies on), and refusing a checkpoint whose weights changed.
 */
import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { saveTinyCheckpoint } from '../helpers/checkpoint.js';
import { ConfigError } from '../../src/errors.js';
import { glueEncoderRun, modelIdentity } from '../../src/experiments/glue.js';
import { readRecords, runAblation } from '../../src/experiments/index.js';
import { REPO_ROOT } from '../../src/io/paths.js';

async function tinyCheckpoint(): Promise<{ dir: string; model: string; modelSha: string }> {
  const { dir } = await saveTinyCheckpoint('glue-run-');
  return { dir, ...(await modelIdentity(dir)) };
}

test('glueEncoderRun: same job, same result; a changed checkpoint is refused', async () => {
  const ck = await tinyCheckpoint();
  assert.equal(ck.model, relative(REPO_ROOT, ck.dir));
  const job = {
    variant: { attention: 'bidirectional_global', pooling: 'attention', dropout: 0.1, init: 'random' },
    seed: 3,
    task: 'rte',
    budget: { steps: 2, batch: 4, lr: 1e-3, trainLimit: 8, devLimit: 8, maxLength: 32, model: ck.model, modelSha: ck.modelSha },
  };
  const file = join(ck.dir, 'results.jsonl');
  const first = await runAblation({ name: 't', variants: [job.variant], seeds: [3], tasks: ['rte'], budget: job.budget }, glueEncoderRun, { file });
  const rec = first.records[0]!;
  assert.equal(rec.metric, 'accuracy');
  assert.equal(rec.steps, 2);
  assert.equal(rec.value, rec.metrics.accuracy);
  assert.equal(rec.extra?.devExamples, 8);
  // accuracy on 8 examples is a multiple of 1/8
  assert.equal(Math.round(rec.value * 8), rec.value * 8);
  const again = await glueEncoderRun(job, {});
  assert.equal(again.value, rec.value, 'seeded: identical dev score');
  assert.equal(again.extra?.trainLossLast10, rec.extra?.trainLossLast10, 'seeded: identical training losses');
  assert.equal(readRecords(file).length, 1);
  await assert.rejects(glueEncoderRun({ ...job, budget: { ...job.budget, modelSha: '000000000000' } }, {}), (e: unknown) => e instanceof ConfigError && /weights hash/.test(e.message));
});

test('glueEncoderRun with a validation budget: rows carved from train choose the kept step, recorded for the lr search', async () => {
  const ck = await tinyCheckpoint();
  const job = {
    variant: { attention: 'bidirectional_global', pooling: 'mean', dropout: 0, init: 'random' },
    seed: 1,
    task: 'rte',
    budget: { steps: 4, batch: 4, lr: 1e-3, trainLimit: 8, devLimit: 8, maxLength: 32, validation: 6, evalEvery: 2, model: ck.model, modelSha: ck.modelSha },
  };
  const r = await glueEncoderRun(job, {});
  assert.equal(r.extra?.validationExamples, 6);
  assert.ok([2, 4].includes(r.extra?.selectedStep as number), `selected step ${String(r.extra?.selectedStep)}`);
  // accuracy on 6 validation rows is a multiple of 1/6
  const v = r.extra?.validationScore as number;
  assert.ok(Math.abs(v * 6 - Math.round(v * 6)) < 1e-9, `validation score ${v}`);
  assert.equal(r.extra?.devExamples, 8, 'dev stays the dev subset');
});
