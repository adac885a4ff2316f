import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import {
  chooseLearningRates,
  chosenRuns,
  FINDINGS_V2,
  findingRecords,
  findingSpecs,
  lrProtocolSpecs,
  readRecords,
  runAblation,
  type LrProtocol,
  type RunFn,
  type RunRecord,
  type Variant,
} from '../../src/experiments/index.js';

const P: LrProtocol = { lrs: [3e-4, 1e-3, 3e-3], searchSeeds: [0, 1] };
const A: Variant = { pooling: 'mean' };
const B: Variant = { pooling: 'last' };

// Validation peaks at 1e-3 for A and 3e-3 for B; dev is made to peak elsewhere (3e-4), so a protocol that
// looked at dev would pick differently. Seeds add a small offset so means are not trivially equal.
const VAL: Record<string, Record<string, number>> = {
  mean: { '0.0003': 0.6, '0.001': 0.8, '0.003': 0.7 },
  last: { '0.0003': 0.5, '0.001': 0.6, '0.003': 0.75 },
};
const fake: RunFn = async (job) => {
  const lr = String(job.budget.lr);
  const validationScore = VAL[String(job.variant.pooling)]![lr]! + job.seed * 0.001;
  const dev = lr === '0.0003' ? 0.99 : 0.5 + job.seed * 0.01;
  return { metric: 'accuracy', value: dev, metrics: { accuracy: dev }, steps: 1, extra: { validationScore } };
};

test('lr search: chosen on validation (not dev), then the other seeds at the chosen rate only', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'lr-')), 'r.jsonl');
  const base = { name: 'x', variants: [A, B], tasks: ['sst2'], seeds: [0, 1, 2, 3, 4], budget: { steps: 10, lr: 1 } };
  // Before anything ran: only the search (2 variants x 3 rates x 2 seeds).
  let specs = lrProtocolSpecs(base, P, []);
  assert.equal(specs.length, 1);
  assert.deepEqual(specs[0]!.budgets!.map((b) => b.lr), [3e-4, 1e-3, 3e-3]);
  assert.deepEqual(specs[0]!.seeds, [0, 1]);
  const r1 = await runAblation(specs[0]!, fake, { file });
  assert.equal(r1.ran, 12);

  specs = lrProtocolSpecs(base, P, readRecords(file));
  assert.equal(specs.length, 3, 'search + one spec per (variant, task)');
  const byPool = Object.fromEntries(specs.slice(1).map((s) => [String(s.variants[0]!.pooling), s]));
  assert.equal(byPool.mean!.budget.lr, 1e-3);
  assert.equal(byPool.last!.budget.lr, 3e-3);
  assert.deepEqual(byPool.mean!.seeds, [2, 3, 4]);
  for (const s of specs) await runAblation(s, fake, { file });
  assert.equal(readRecords(file).length, 12 + 6, 'the search is not rerun; 3 seeds x 2 pairs added');

  const { runs, choices } = chosenRuns(readRecords(file), P);
  assert.equal(runs.length, 10, 'five seeds per pair at its chosen rate');
  assert.ok(runs.every((r) => r.budget.lr === (r.variant.pooling === 'mean' ? 1e-3 : 3e-3)));
  const mean = choices.find((c) => c.variant.pooling === 'mean')!;
  assert.ok(Math.abs(mean.validation - 0.8005) < 1e-12, `mean validation ${mean.validation}`);
  assert.ok(Math.abs(mean.byLr['0.0003']! - 0.6005) < 1e-12);
});

test('lr search: incomplete searches choose nothing; ties keep the smaller rate; runs without validation are refused', () => {
  const rec = (lr: number, seed: number, v: number | undefined): RunRecord => ({
    key: `${lr}-${seed}`, variant: A, seed, task: 't', budget: { lr }, metric: 'm', value: 0, metrics: {}, steps: 1, seconds: 0, finished: 'x',
    ...(v === undefined ? {} : { extra: { validationScore: v } }),
  });
  const partial = [rec(3e-4, 0, 0.5), rec(1e-3, 0, 0.9), rec(3e-3, 0, 0.1), rec(3e-4, 1, 0.5), rec(1e-3, 1, 0.9)];
  assert.deepEqual(chooseLearningRates(partial, P), [], 'seed 1 at 3e-3 is missing');
  const tied = [...partial, rec(3e-3, 1, 0.1)].map((r) => ({ ...r, extra: { validationScore: 0.7 } }));
  assert.equal(chooseLearningRates(tied, P)[0]!.lr, 3e-4);
  assert.throws(() => chooseLearningRates([rec(3e-4, 0, undefined)], P), (e: unknown) => e instanceof ConfigError && /no validation score/.test(e.message));
});

test('v2 findings: five seeds, validation rows in the budget, any searched rate belongs to the finding', () => {
  const f = FINDINGS_V2.attention_v2!;
  assert.deepEqual(f.seeds, [0, 1, 2, 3, 4]);
  assert.equal(f.budget.validation, 500);
  const rec = (lr: number): RunRecord => ({
    key: String(lr), variant: f.baseline, seed: 0, task: 'sst2', budget: { ...f.budget, lr, model: 'm', modelSha: 'a' }, metric: 'accuracy', value: 0.5, metrics: {}, steps: 1, seconds: 0, finished: 'x',
  });
  assert.equal(findingRecords(f, [rec(3e-4), rec(3e-3), rec(5e-2)]).length, 2, 'a rate outside the grid is another experiment');
  const specs = findingSpecs(f, { model: 'm', modelSha: 'a' }, []);
  assert.equal(specs.length, 1);
  assert.equal(specs[0]!.budgets!.length, 3);
  assert.equal(specs[0]!.budgets![0]!.modelSha, 'a');
});
