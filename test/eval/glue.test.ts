import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataFileError } from '../../src/errors.js';
import { glueAverage, scoreGlueTask, writeGlueSubmission } from '../../src/eval/glue.js';
import { sharedDataPath } from '../../src/io/paths.js';
import { GLUE_SPLIT_SIZES, GLUE_TASKS, loadGlue } from '../../src/tasks/glue.js';
import { labelsOf } from '../../src/tasks/types.js';
import { close } from './helpers.js';

test('task scores: metric sets per task and their mean', () => {
  const y = [0, 1, 0, 1, 0];
  const p = [0, 0, 1, 1, 0];
  const mrpc = scoreGlueTask('mrpc', p, y);
  assert.deepEqual(Object.keys(mrpc.metrics), ['f1', 'accuracy']);
  close(mrpc.metrics.f1!, 0.5, 'mrpc f1');
  close(mrpc.metrics.accuracy!, 0.6, 'mrpc acc');
  close(mrpc.score, 0.55, 'mrpc score');
  const cola = scoreGlueTask('cola', [1, 1, 1, 1], [0, 1, 1, 0]);
  assert.deepEqual(cola.metrics, { mcc: 0 });
  const stsb = scoreGlueTask('stsb', [10, 9, 2.5, 6, 4], [1, 2, 3, 4, 5]);
  close(stsb.metrics.pearson!, -0.7426106572325057, 'stsb pearson');
  close(stsb.metrics.spearman!, -0.7, 'stsb spearman');
  close(stsb.score, (-0.7426106572325057 - 0.7) / 2, 'stsb score');
  for (const t of ['sst2', 'qnli', 'rte', 'wnli', 'mnli_m', 'mnli_mm'] as const) {
    assert.deepEqual(scoreGlueTask(t, [0, 1, 1], [0, 1, 0]).metrics, { accuracy: 2 / 3 }, t);
  }
  assert.deepEqual(Object.keys(scoreGlueTask('qqp', [1], [1]).metrics), ['f1', 'accuracy']);
  // AX: R3 = 3-class MCC. /usr/bin/python3: from sklearn.metrics import matthews_corrcoef
  //   matthews_corrcoef([1,0,2,0,2,1],[1,2,2,0,2,2]) -> 0.5773502691896257
  close(scoreGlueTask('ax', [1, 2, 2, 0, 2, 2], [1, 0, 2, 0, 2, 1]).metrics.mcc!, 0.5773502691896257, 'ax R3');
});

test('perfect predictions on real dev sets score 1.0 (benchmarks.md §5 case 9)', async () => {
  for (const [task, file] of [['sst2', 'sst2/dev.tsv'], ['mrpc', 'mrpc/dev.tsv'], ['cola', 'cola/dev.tsv'], ['stsb', 'stsb/dev.tsv']] as const) {
    const s = await loadGlue(task, sharedDataPath('glue', ...file.split('/')));
    const y = labelsOf(s);
    const r = scoreGlueTask(task, y, y);
    for (const [m, v] of Object.entries(r.metrics)) close(v, 1, `${task} ${m}`);
  }
});

test('labelsOf: a hidden label (test split) is a DataFileError naming the file and example', () => {
  const split = { file: 'glue/sst2/test.tsv', examples: [{ label: 1 }, { label: null }] };
  assert.deepEqual(labelsOf({ ...split, examples: split.examples.slice(0, 1) }), [1]);
  assert.throws(
    () => labelsOf(split),
    (e: unknown) => e instanceof DataFileError && e.file === split.file && e.message === 'glue/sst2/test.tsv: example 1 has no label (test split?)',
  );
});

test('GLUE average: MNLI counts once as mean(m, mm); BERT-Base leaderboard row gives 78.3', () => {
  // BERT-Base leaderboard (benchmarks.md §1.2), percent: MRPC F1/acc, STS-B r/rho, QQP F1/acc.
  const s = {
    CoLA: 52.1,
    'SST-2': 93.5,
    MRPC: (88.9 + 84.8) / 2,
    'STS-B': (87.1 + 85.8) / 2,
    QQP: (71.2 + 89.2) / 2,
    'MNLI-m': 84.6,
    'MNLI-mm': 83.4,
    QNLI: 90.5,
    RTE: 66.4,
    WNLI: 65.1,
    AX: 29.9,
  };
  const avg = glueAverage(s);
  assert.equal(avg.complete, true);
  assert.equal(avg.score.toFixed(1), '78.3');
  close(avg.score, 705.1 / 9, 'exact mean');
  close(avg.perTask.MNLI!, 84.0, 'MNLI');
  assert.equal(Object.keys(avg.perTask).length, 9);
  // Counting m and mm separately would give 78.9: make sure we do not.
  const wrong = (705.1 - 84 + 84.6 + 83.4) / 10;
  assert.equal(wrong.toFixed(1), '78.9');
  const partial = glueAverage({ CoLA: 0.5, 'MNLI-m': 0.8 });
  assert.equal(partial.complete, false);
  assert.deepEqual(partial.missing, ['SST-2', 'MRPC', 'STS-B', 'QQP', 'MNLI-mm', 'QNLI', 'RTE', 'WNLI']);
  close(partial.score, 0.5, 'partial mean over available tasks');
});

test('submission TSVs: leaderboard names, header, label strings, STS-B clipping, atomic write', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'glue-sub-'));
  const mk = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => ({ idx: i, prediction: f(i) }));
  for (const id of Object.keys(GLUE_TASKS) as (keyof typeof GLUE_TASKS)[]) {
    const spec = GLUE_TASKS[id];
    const n = GLUE_SPLIT_SIZES[id].test;
    const preds = spec.kind === 'regression' ? mk(n, (i) => (i % 7) - 1.23456) : mk(n, (i) => i % spec.labelNames!.length);
    const path = await writeGlueSubmission(dir, id, preds);
    assert.equal(path, join(dir, spec.submissionFile));
  }
  assert.deepEqual(readdirSync(dir).sort(), ['AX.tsv', 'CoLA.tsv', 'MNLI-m.tsv', 'MNLI-mm.tsv', 'MRPC.tsv', 'QNLI.tsv', 'QQP.tsv', 'RTE.tsv', 'SST-2.tsv', 'STS-B.tsv', 'WNLI.tsv']);
  const head = (f: string, k = 4) => readFileSync(join(dir, f), 'utf8').split('\n').slice(0, k);
  assert.deepEqual(head('CoLA.tsv'), ['index\tprediction', '0\t0', '1\t1', '2\t0']);
  assert.deepEqual(head('MNLI-m.tsv'), ['index\tprediction', '0\tentailment', '1\tneutral', '2\tcontradiction']);
  assert.deepEqual(head('AX.tsv'), ['index\tprediction', '0\tentailment', '1\tneutral', '2\tcontradiction']);
  assert.deepEqual(head('RTE.tsv'), ['index\tprediction', '0\tentailment', '1\tnot_entailment', '2\tentailment']);
  assert.deepEqual(head('QNLI.tsv', 2), ['index\tprediction', '0\tentailment']);
  assert.deepEqual(head('WNLI.tsv'), ['index\tprediction', '0\t0', '1\t1', '2\t0']);
  assert.deepEqual(head('STS-B.tsv', 8), ['index\tprediction', '0\t0', '1\t0', '2\t0.765', '3\t1.765', '4\t2.765', '5\t3.765', '6\t4.765']);
  const lines = readFileSync(join(dir, 'QQP.tsv'), 'utf8').split('\n');
  assert.equal(lines.length, 390965 + 2, 'header + rows + final newline');
  assert.ok(readdirSync(dir).every((f) => !f.endsWith('.tmp')), 'no temp files left');
  const big = await writeGlueSubmission(dir, 'stsb', [{ idx: 0, prediction: 7.2 }], { checkSize: false });
  assert.deepEqual(readFileSync(big, 'utf8'), 'index\tprediction\n0\t5\n');
});

test('submission errors: wrong size, duplicate index, unknown class, NaN score', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'glue-sub-bad-'));
  await assert.rejects(writeGlueSubmission(dir, 'rte', [{ idx: 0, prediction: 0 }]), /RTE: 1 predictions, the test set has 3000/);
  await assert.rejects(writeGlueSubmission(dir, 'rte', [{ idx: 0, prediction: 0 }, { idx: 0, prediction: 1 }], { checkSize: false }), /index 0 predicted twice/);
  await assert.rejects(writeGlueSubmission(dir, 'rte', [{ idx: 0, prediction: 2 }], { checkSize: false }), /RTE: no class id 2/);
  await assert.rejects(writeGlueSubmission(dir, 'stsb', [{ idx: 0, prediction: Number.NaN }], { checkSize: false }), /not finite/);
  assert.deepEqual(readdirSync(dir), [], 'nothing written on failure');
});
