import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import {
  chosenRuns,
  findingRecords,
  findingSpecs,
  findingsChart,
  findingsSummary,
  findingLabel,
  lrChoiceRows,
  readRecords,
  reportedRuns,
  runAblation,
  type Finding,
  type RunFn,
} from '../../src/experiments/index.js';

const BASE = { pooling: 'mean' };
const TOY: Finding = {
  id: 'toy_v2',
  title: 'toy',
  paper: 'toy paper',
  factor: 'pooling',
  expected: { attention: -1, last: 1 },
  baseline: BASE,
  variants: [BASE, { pooling: 'attention' }, { pooling: 'last' }],
  tasks: ['sst2'],
  seeds: [0, 1, 2, 3, 4],
  budget: { steps: 1, lr: 1 },
  file: 'results/toy.jsonl',
  kind: 'glue-encoder',
  protocol: { lrs: [1e-3, 3e-3], searchSeeds: [0, 1] },
};

// Validation always prefers 1e-3. Dev at 1e-3: baseline 0.70 + 0.01·seed, attention 0.05 below it, last
// 0.01 below it; at 3e-3 dev is 0.99, so any summary that let the search's losing rate in would show it.
const DEV_OFFSET: Record<string, number> = { mean: 0, attention: -0.05, last: -0.01 };
const fake: RunFn = async (job) => {
  const chosen = job.budget.lr === 1e-3;
  const dev = chosen ? 0.7 + 0.01 * job.seed + DEV_OFFSET[String(job.variant.pooling)]! : 0.99;
  return { metric: 'accuracy', value: dev, metrics: { accuracy: dev }, steps: 1, extra: { validationScore: chosen ? 0.8 : 0.6 } };
};

async function runToy(root: string): Promise<void> {
  const file = join(root, TOY.file);
  mkdirSync(dirname(file), { recursive: true });
  const model = { model: 'm', modelSha: 'abc' };
  for (const spec of findingSpecs(TOY, model, [])) await runAblation(spec, fake, { file });
  for (const spec of findingSpecs(TOY, model, readRecords(file))) await runAblation(spec, fake, { file });
}

test('findings summary: only the chosen rate is reported; verdicts follow the paper sign per variant', async () => {
  const root = mkdtempSync(join(tmpdir(), 'findings-'));
  await runToy(root);
  const all = readRecords(join(root, TOY.file));
  assert.equal(all.length, 3 * 2 * 2 + 3 * 3, 'search (3 variants x 2 rates x 2 seeds) + seeds 2-4 at the chosen rate');
  const reported = reportedRuns(TOY, all);
  assert.equal(reported.length, 15);
  assert.ok(reported.every((r) => r.budget.lr === 1e-3));
  const { choices } = chosenRuns(findingRecords(TOY, all), TOY.protocol!);
  assert.deepEqual(lrChoiceRows(choices, findingLabel(TOY))[0], { task: 'sst2', variant: 'pooling=mean (baseline)', chosen_lr: 1e-3, 'validation @ 0.001': 0.8, 'validation @ 0.003': 0.6 });

  const rows = findingsSummary([TOY, { ...TOY, id: 'absent', file: 'results/none.jsonl' }], root);
  assert.deepEqual(rows.map((r) => [r.finding, r.variant, r.paper, r.result, r.up_down, r.n]), [
    ['toy_v2', 'pooling=attention', 'below baseline', 'agrees', '0/5', 5],
    ['toy_v2', 'pooling=last', 'above baseline', 'disagrees', '0/5', 5],
  ]);
  const [att, last] = rows;
  // Baseline mean over seeds 0-4 = 0.70 + 0.02; every paired difference is exact, so the interval collapses.
  assert.ok(Math.abs(att!.baseline - 0.72) < 1e-12 && Math.abs(att!.mean - 0.67) < 1e-12);
  for (const [r, d] of [[att!, -0.05], [last!, -0.01]] as const) {
    for (const x of [r.diff, r.ci95_lo, r.ci95_hi]) assert.ok(Math.abs(x - d) < 1e-9, `${r.variant}: ${x} vs ${d}`);
  }

  // The chart turns each difference toward the paper: attention's -0.05 (paper: below) becomes +0.05.
  const values = (findingsChart(rows) as unknown as { data: { values: { row: string; toward: number; lo: number; hi: number; result: string }[] } }).data.values;
  assert.equal(values[0]!.row, 'toy_v2: pooling=attention [sst2]');
  assert.ok(Math.abs(values[0]!.toward - 0.05) < 1e-9 && Math.abs(values[0]!.lo - 0.05) < 1e-9 && Math.abs(values[0]!.hi - 0.05) < 1e-9);
  assert.ok(Math.abs(values[1]!.toward + 0.01) < 1e-9);
});
