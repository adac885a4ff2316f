import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { initEngine } from '../../src/engine/index.js';
import { ConfigError } from '../../src/errors.js';
import { DEFAULT_E2E_BUDGET, superglueE2EBudget, superglueEndToEnd } from '../../src/experiments/superglue_e2e.js';
import { REPO_ROOT } from '../../src/io/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'sg-e2e-'));
before(async () => {
  await initEngine();
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = { adaptSteps: 2, adaptBatch: 2, adaptSeqLen: 32, steps: 3, textSteps: 2, trainLimit: 12, devLimit: 8, generateLimit: 4, batch: 4, maxLength: 96 };

test('budget: a flat experiments Budget, defaults filled, unknown keys and bad values refused', () => {
  assert.deepEqual(superglueE2EBudget({}), DEFAULT_E2E_BUDGET);
  assert.equal(superglueE2EBudget({ steps: 5 }).steps, 5);
  assert.throws(() => superglueE2EBudget({ stepz: 5 }), (e: unknown) => e instanceof ConfigError && e.field === 'stepz');
  assert.throws(() => superglueE2EBudget({ batch: 0 }), (e: unknown) => e instanceof ConfigError && e.field === 'batch');
  assert.throws(() => superglueE2EBudget({ lr: 'fast' }), (e: unknown) => e instanceof ConfigError && e.field === 'lr');
});

test('one library call: shipped model -> T5Gemma 2 -> PrefixLM adaptation -> CB and COPA scored both ways; table, JSONL and chart written', async () => {
  const out = join(tmp, 'lib');
  const lines: string[] = [];
  const r = await superglueEndToEnd({ tasks: ['cb', 'copa'], objective: 'prefixlm', out, budget: TINY, log: (l) => lines.push(l) });
  assert.deepEqual(r.rows.map((x) => `${x.task}/${x.scoring}`), ['CB/classification', 'CB/text-to-text', 'COPA/classification', 'COPA/text-to-text']);
  for (const row of r.rows) {
    const vals = Object.values(row.metrics);
    assert.ok(Math.abs(row.score - vals.reduce((a, b) => a + b, 0) / vals.length) < 1e-12, 'score = mean of the metrics');
    vals.forEach((v) => assert.ok(v >= 0 && v <= 1));
  }
  assert.ok(Object.keys(r.rows[0]!.metrics).includes('macro_f1'));
  assert.equal(r.rows[0]!.devExamples, 8);
  assert.ok(Number.isFinite(r.adaptLoss.first) && Number.isFinite(r.adaptLoss.last));
  const jsonl = readFileSync(r.files.jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { task: string; objective: string });
  assert.equal(jsonl.length, 4);
  assert.equal(jsonl[0]!.objective, 'prefixlm');
  const chart = JSON.parse(readFileSync(r.files.chart, 'utf8')) as { $schema: string; data: { values: unknown[] } };
  assert.match(chart.$schema, /vega-lite\/v5/);
  assert.equal(chart.data.values.length, 4);
  assert.match(readFileSync(r.files.table, 'utf8'), /\| CB \| classification \|/);
  assert.ok(lines.some((l) => l.startsWith('adapted: loss')));
});

test('CLI superglue --objective prefixlm|ul2 routes here: flags map to the budget; a bad task is an error naming it', () => {
  const bin = join(REPO_ROOT, 'bin', 'gemma-lab.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'superglue', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 300_000 });
  const help = run('--objective', 'ul2', '--help');
  assert.equal(help.status, 0);
  for (const f of ['--model', '--task', '--objective', '--out', '--adapt-steps', '--text-steps', '--train-limit']) assert.ok(help.stdout.includes(f), f);
  // Other objectives belong to the encoder-classifier route (workflow), which refuses what it does not know.
  const bad = run('--objective', 'mlm', '--out', join(tmp, 'x'));
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /objective/);
  const badTask = run('--objective', 'ul2', '--task', 'record', '--out', join(tmp, 'x'));
  assert.match(badTask.stderr, /unknown task 'record'/);
  const out = join(tmp, 'cli');
  const ok = run('--task', 'wsc', '--objective', 'ul2', '--out', out, ...Object.entries(TINY).flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v)]));
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^WSC\tclassification\t\d+\.\d/m);
  const rows = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n');
  assert.equal(rows.length, 2);
});
