import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compile } from 'vega-lite';
import { AbortedError, DataFileError } from '../../src/errors.js';
import {
  ablationChart,
  appendRecord,
  ablationJobs,
  bootstrapMeanInterval,
  crossGrid,
  differenceChart,
  direction,
  expectedSign,
  findingLabel,
  findingRecords,
  FINDINGS,
  oneAtATime,
  readRecords,
  recordedRuns,
  runAblation,
  runKey,
  sampleStd,
  signTest,
  summarizeRuns,
  summaryTable,
  type AblationSpec,
  type RunFn,
  type RunRecord,
  type Variant,
  type FactorValue,
} from '../../src/experiments/index.js';
import { renderChart } from '../../src/report/render.js';

const tmp = () => join(mkdtempSync(join(tmpdir(), 'ablate-')), 'results.jsonl');
const base: Variant = { attention: 'bidirectional_global', pooling: 'mean' };

// Baseline dev scores per seed, and the per-seed gain of the causal variant (hand-checked numbers below).
const BASE = [0.5, 0.6, 0.7, 0.8];
const GAIN = [-0.1, -0.1, 0.05, -0.2];
const fakeValue = (v: Variant, seed: number, task: string) =>
  (BASE[seed] as number) + (v.attention === 'causal' ? (GAIN[seed] as number) : 0) + (task === 'rte' ? 0.01 : 0);

function fakeRun(calls: string[]): RunFn {
  return async (job) => {
    calls.push(`${job.task}/${job.seed}/${job.variant.attention}`);
    return { metric: 'accuracy', value: fakeValue(job.variant, job.seed, job.task), steps: Number(job.budget.steps) };
  };
}

const spec: AblationSpec = {
  name: 'attention',
  variants: oneAtATime(base, { attention: ['causal'] }),
  seeds: [0, 1, 2, 3],
  tasks: ['sst2'],
  budget: { steps: 10, trainLimit: 64 },
};

test('grids: one factor at a time and the cross product', () => {
  assert.deepEqual(oneAtATime({ a: 1, b: 'x' }, { a: [1, 2], b: ['y'] }), [{ a: 1, b: 'x' }, { a: 2, b: 'x' }, { a: 1, b: 'y' }]);
  assert.deepEqual(crossGrid({ a: [1, 2], b: [true, false] }), [
    { a: 1, b: true },
    { a: 1, b: false },
    { a: 2, b: true },
    { a: 2, b: false },
  ]);
  assert.throws(() => oneAtATime({ a: 1 }, { c: [1] }), /factor 'c'/);
});

test('run keys are stable under key order and change with any part of the job', () => {
  const job = { variant: { a: 1, b: 'x' }, seed: 0, task: 'sst2', budget: { steps: 10 } };
  const k = runKey(job);
  assert.match(k, /^[0-9a-f]{16}$/);
  assert.equal(runKey({ ...job, variant: { b: 'x', a: 1 } }), k);
  assert.notEqual(runKey({ ...job, seed: 1 }), k);
  assert.notEqual(runKey({ ...job, task: 'rte' }), k);
  assert.notEqual(runKey({ ...job, budget: { steps: 11 } }), k);
  assert.notEqual(runKey({ ...job, variant: { a: '1', b: 'x' } }), k);
});

test('statistics: sample std, sign test, bootstrap interval', () => {
  assert.ok(Math.abs(sampleStd([0.5, 0.6, 0.7, 0.8]) - Math.sqrt(0.05 / 3)) < 1e-12);
  assert.ok(Number.isNaN(sampleStd([1])));
  // 3 wins, 1 loss: p = 2 * (C(4,0) + C(4,1)) / 2^4 = 0.625 (scipy.stats.binomtest(3, 4).pvalue).
  assert.deepEqual(signTest([0.1, 0.2, -0.3, 0.4, 0]), { wins: 3, losses: 1, p: 0.625 });
  // 6 of 6: p = 2 / 64.
  assert.equal(signTest([1, 1, 1, 1, 1, 1]).p, 2 / 64);
  assert.equal(signTest([0, 0]).p, 1);
  assert.deepEqual(bootstrapMeanInterval([0.25, 0.25, 0.25]), [0.25, 0.25]);
  const xs = [-0.1, -0.1, 0.05, -0.2];
  const [lo, hi] = bootstrapMeanInterval(xs, { seed: 3 });
  assert.deepEqual(bootstrapMeanInterval(xs, { seed: 3 }), [lo, hi], 'seeded: reproducible');
  assert.ok(lo >= -0.2 && lo < -0.0875 && hi > -0.0875 && hi <= 0.05, `[${lo}, ${hi}] brackets the mean -0.0875 within the data range`);
});

test('runs every job once, records JSONL, and summarises with exact numbers', async () => {
  const file = tmp();
  const calls: string[] = [];
  const res = await runAblation(spec, fakeRun(calls), { file });
  assert.equal(res.ran, 8);
  assert.equal(res.skipped, 0);
  assert.equal(calls.length, 8);
  assert.deepEqual(calls.slice(0, 2), ['sst2/0/bidirectional_global', 'sst2/0/causal'], 'seeds outermost');
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(lines.length, 8);
  assert.equal(readRecords(file).length, 8);

  const rows = summarizeRuns(res.records, { baseline: base });
  assert.equal(rows.length, 2);
  const [b, c] = rows as [(typeof rows)[0], (typeof rows)[0]];
  assert.equal(b.variant, 'baseline');
  assert.equal(b.n, 4);
  assert.ok(Math.abs(b.mean - 0.65) < 1e-12);
  assert.ok(Math.abs(b.std - Math.sqrt(0.05 / 3)) < 1e-12);
  assert.ok(Number.isNaN(b.diff));
  assert.equal(c.variant, 'attention=causal');
  // causal: 0.4, 0.5, 0.75, 0.6 -> mean 0.5625; paired diffs -0.1, -0.1, 0.05, -0.2 -> mean -0.0875.
  assert.ok(Math.abs(c.mean - 0.5625) < 1e-12);
  const dev = [0.4, 0.5, 0.75, 0.6].map((v) => v - 0.5625);
  assert.ok(Math.abs(c.std - Math.sqrt(dev.reduce((a, d) => a + d * d, 0) / 3)) < 1e-12);
  assert.ok(Math.abs(c.diff + 0.0875) < 1e-12);
  assert.equal(c.wins, 1);
  assert.equal(c.losses, 3);
  assert.equal(c.p_sign, 0.625);
  assert.ok(c.diff_lo <= c.diff && c.diff <= c.diff_hi);

  const table = summaryTable(res.records, { baseline: base });
  assert.equal(table.numRows(), 2);
  assert.deepEqual(table.columnNames(), ['task', 'variant', 'metric', 'n', 'mean', 'std', 'diff', 'diff_lo', 'diff_hi', 'wins', 'losses', 'p_sign']);
});

test('a rerun skips recorded runs; an aborted sweep resumes where it stopped', async () => {
  const file = tmp();
  const ctl = new AbortController();
  const calls: string[] = [];
  const run = fakeRun(calls);
  await assert.rejects(
    runAblation(spec, async (job, c) => {
      const out = await run(job, c);
      if (calls.length === 3) ctl.abort(new Error('user stop'));
      return out;
    }, { file, signal: ctl.signal }),
    (e: unknown) => e instanceof AbortedError && /user stop/.test(e.message),
  );
  assert.equal(readRecords(file).length, 3, 'the three finished runs were kept');
  const { missing } = recordedRuns(spec, file);
  assert.equal(missing.length, 5);

  const again: string[] = [];
  const res = await runAblation(spec, fakeRun(again), { file });
  assert.equal(res.ran, 5);
  assert.equal(res.skipped, 3);
  assert.equal(again.length, 5);
  assert.deepEqual(again[0], 'sst2/1/causal', 'continues with the first unfinished job');
  const third = await runAblation(spec, fakeRun(again), { file });
  assert.equal(third.ran, 0);
  assert.equal(third.skipped, 8);
  assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 8, 'nothing appended twice');
  // A bigger budget is a different run.
  const more = await runAblation({ ...spec, budget: { steps: 20, trainLimit: 64 } }, fakeRun([]), { file });
  assert.equal(more.ran, 8);
});

test('a sweep skips jobs another process sharing its file finished after it started', async () => {
  const file = tmp();
  const other: string[] = [];
  const mine: string[] = [];
  const run = fakeRun(mine);
  // While this sweep's first job runs, a second sweep on the same file runs every job.
  const res = await runAblation(spec, async (job, c) => {
    if (mine.length === 0) await runAblation(spec, fakeRun(other), { file });
    return run(job, c);
  }, { file });
  assert.equal(other.length, 8);
  assert.equal(res.ran, 1, 'only the job already in flight ran twice');
  assert.equal(res.skipped, 7);
});

test('the signal reaches the run function (steps inside a run can stop)', async () => {
  const file = tmp();
  const ctl = new AbortController();
  ctl.abort(new Error('stop now'));
  let seen = 0;
  await assert.rejects(runAblation(spec, async () => ((seen += 1), { metric: 'accuracy', value: 1, steps: 1 }), { file, signal: ctl.signal }), AbortedError);
  assert.equal(seen, 0, 'aborted before the first run');

  const late = new AbortController();
  await assert.rejects(
    runAblation(spec, async (_job, c) => {
      late.abort(new Error('mid-run'));
      if (c.signal?.aborted) throw new AbortedError('run saw the abort');
      return { metric: 'accuracy', value: 1, steps: 1 };
    }, { file, signal: late.signal }),
    /run saw the abort/,
  );
  assert.equal(readRecords(file).length, 0, 'an interrupted run is not recorded');
});

test('pooled rows pair on (task, seed) across tasks', async () => {
  const file = tmp();
  const res = await runAblation({ ...spec, tasks: ['sst2', 'rte'] }, fakeRun([]), { file });
  const rows = summarizeRuns(res.records, { baseline: base });
  assert.deepEqual(rows.map((r) => `${r.task}:${r.variant}:${r.n}`), ['sst2:baseline:4', 'sst2:attention=causal:4', 'rte:baseline:4', 'rte:attention=causal:4', 'all:baseline:8', 'all:attention=causal:8']);
  const all = rows[5] as (typeof rows)[0];
  assert.ok(Math.abs(all.diff + 0.0875) < 1e-12, 'the task offset cancels in the pairs');
  assert.equal(all.wins, 2);
  assert.equal(all.losses, 6);
  // p = 2 * (1 + 8 + 28) / 256
  assert.ok(Math.abs(all.p_sign - 74 / 256) < 1e-12);
  assert.throws(() => summarizeRuns(res.records, { baseline: { attention: 'x', pooling: 'mean' } }), /baseline/);
});

test('bad result lines are DataFileErrors naming file:line', () => {
  const file = tmp();
  writeFileSync(file, '{"key":"0123456789abcdef","variant":{},"seed":0,"task":"t","budget":{},"metric":"m","value":1,"metrics":{"m":1},"steps":1,"seconds":1,"finished":"x"}\n{oops\n');
  assert.throws(() => readRecords(file), (e: unknown) => e instanceof DataFileError && e.message.includes(`${file}:2`));
  writeFileSync(file, '{"key":"0123456789abcdef","variant":{},"seed":0,"task":"t","budget":{},"metric":"m","value":null,"metrics":{},"steps":1,"seconds":1,"finished":"x"}\n');
  assert.throws(() => readRecords(file), /:1: not a run record: 'value'/);
  assert.throws(() => ablationJobs({ ...spec, seeds: [] }), /at least one/);
});

test('the ablation chart is a Vega-Lite v5 spec that compiles and renders', async () => {
  const file = tmp();
  const res = await runAblation({ ...spec, tasks: ['sst2', 'rte'] }, fakeRun([]), { file });
  const chart = ablationChart(res.records, { baseline: base, title: 'attention' });
  assert.equal(chart.$schema, 'https://vega.github.io/schema/vega-lite/v5.json');
  assert.equal((chart as unknown as { data: { values: unknown[] } }).data.values.length, 16);
  compile(chart as Parameters<typeof compile>[0]);
  const r = await renderChart(chart, 1);
  assert.ok(r.png.length > 1000 && r.width > 200, `rendered ${r.width}x${r.height}`);
  assert.match(r.svg, /attention=causal/);
  const diff = differenceChart(summarizeRuns(res.records, { baseline: base }), { title: 'attention' });
  assert.deepEqual((diff as unknown as { data: { values: { diff: number }[] } }).data.values.map((v) => Math.round(v.diff * 1e4) / 1e4), [-0.0875, -0.0875, -0.0875]);
  compile(diff as Parameters<typeof compile>[0]);
  assert.ok((await renderChart(diff, 1)).png.length > 1000);
});

test('direction vs the paper: interval excluding 0 decides, the mean only leans', () => {
  assert.equal(direction({ diff: -0.05, diff_lo: -0.08, diff_hi: -0.02 }, -1), 'agrees');
  assert.equal(direction({ diff: -0.05, diff_lo: -0.08, diff_hi: -0.02 }, 1), 'disagrees');
  assert.equal(direction({ diff: -0.01, diff_lo: -0.08, diff_hi: 0.02 }, -1), 'leans agree');
  assert.equal(direction({ diff: 0.01, diff_lo: -0.02, diff_hi: 0.05 }, -1), 'leans disagree');
  assert.equal(direction({ diff: NaN, diff_lo: NaN, diff_hi: NaN }, 1), 'no data');
});

test('findings: labels, predicted signs and record selection', () => {
  const f = FINDINGS.attention!;
  const label = findingLabel(f);
  assert.equal(label(f.baseline), 'attention=bidirectional_global (baseline)');
  assert.equal(label({ ...f.baseline, attention: 'causal' }), 'attention=causal');
  assert.equal(label({ ...f.baseline, attention: 'causal', pooling: 'last' }), 'attention=causal, pooling=last');
  assert.equal(expectedSign(f, { ...f.baseline, attention: 'causal' }), -1);
  assert.equal(expectedSign(f, { ...f.baseline, attention: 'causal', pooling: 'last' }), undefined);
  const s2s = FINDINGS.seq2seq!;
  assert.equal(expectedSign(s2s, { arch: 'encoder_decoder', objective: 'prefixlm' }), 1, 'the objective is coupled to the architecture');
  const rec = (variant: Variant, modelSha: string, steps: FactorValue = f.budget.steps!): RunRecord => ({
    key: '0123456789abcdef', variant, seed: 0, task: 'sst2', budget: { ...f.budget, steps, model: 'm', modelSha }, metric: 'accuracy', value: 0.5, metrics: {}, steps: 1, seconds: 1, finished: 'x',
  });
  assert.equal(findingRecords(f, [rec(f.baseline, 'a'), rec(f.baseline, 'a', 999), rec({ ...f.baseline, pooling: 'first' }, 'a')]).length, 1, 'other budgets and variants are left out');
  assert.throws(() => findingRecords(f, [rec(f.baseline, 'a'), rec({ ...f.baseline, attention: 'causal' }, 'b')]), /several checkpoints \(a, b\)/);
});

test('concurrent appends to one file lose nothing', async () => {
  const file = tmp();
  const rec = (i: number): RunRecord => ({
    key: i.toString(16).padStart(16, '0'), variant: { i }, seed: 0, task: 't', budget: {}, metric: 'm', value: i, metrics: { m: i }, steps: 1, seconds: 0, finished: 'x',
  });
  await Promise.all(Array.from({ length: 20 }, (_, i) => appendRecord(file, rec(i))));
  assert.deepEqual(readRecords(file).map((r) => r.value).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
});
