/**
 * GLUE TSV/parquet loaders on tiny files written here in the official layouts (for tasks whose real
 * files are not in ../shared: QQP, MNLI, QNLI, AX, and all test files), plus bad-row handling.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataFileError } from '../../src/errors.js';
import { sharedDataPath } from '../../src/io/paths.js';
import { loadGlue, loadGlueParquet, loadGlueTsv } from '../../src/tasks/glue.js';

const dir = mkdtempSync(join(tmpdir(), 'glue-syn-'));
function write(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}
const rows = (...lines: string[][]) => lines.map((l) => l.join('\t')).join('\n') + '\n';
const QQP_HEADER = ['id', 'qid1', 'qid2', 'question1', 'question2', 'is_duplicate'];
const qqpFile = (name: string, ...lines: string[][]) => write(name, rows(QQP_HEADER, ...lines));

test('QQP train: columns by header, 0/1 labels, idx = row number; quotes are plain characters', async () => {
  const f = qqpFile(
    'qqp-train.tsv',
    ['133273', '213221', '213222', 'How is the life of a math student? Could you describe your own experiences?', 'Which level of prepration is enough for the exam jlpt5?', '0'],
    ['402555', '536040', '536041', 'How do I control my horny emotions?', '"How do you control your horniness?', '1'],
    ['360472', '364011', '490273', 'What causes stool color to change to yellow?', 'What can cause stool to come out as little balls?', '0'],
  );
  const s = await loadGlueTsv('qqp', f);
  assert.equal(s.task.name, 'QQP');
  assert.deepEqual(
    s.examples.map((e) => [e.idx, e.label]),
    [[0, 0], [1, 1], [2, 0]],
  );
  assert.equal(s.examples[1]!.texts[1], '"How do you control your horniness?', 'an unbalanced quote stays in the text');
  assert.equal(s.examples.length, 3);
});

test('QQP broken lines: strict mode names file:line; skip mode counts exactly the short/long rows', async () => {
  const f = qqpFile(
    'qqp-broken.tsv',
    ['1', '1', '2', 'a?', 'b?', '0'],
    ['2', '3', '4', 'How do I'], // a question with an embedded newline: 3 fields here ...
    ['make tea?', 'c?', '1'], // ... and 3 on the next line
    ['3', '5', '6', 'd?', 'e?', '1', 'extra'],
    ['4', '7', '8', 'f?', 'g?', ''],
    ['5', '9', '10', 'h?', 'i?', '1'],
  );
  await assert.rejects(loadGlueTsv('qqp', f), (e: unknown) => e instanceof DataFileError && e.line === 3 && e.message.includes(`${f}:3:`) && /6 tab-separated fields, got 4/.test(e.message));
  const s = await loadGlueTsv('qqp', f, { onBadRow: 'skip' });
  assert.deepEqual(s.skipped.map((k) => k.line), [3, 4, 5, 6]);
  assert.match(s.skipped[3]!.reason, /empty is_duplicate/);
  // idx keeps HF's row numbering, so dropped rows leave gaps.
  assert.deepEqual(s.examples.map((e) => [e.idx, e.label]), [[0, 0], [5, 1]]);
});

test('labels outside the task set always throw with file:line, even in skip mode', async () => {
  const f = write('wnli-bad.tsv', rows(['index', 'sentence1', 'sentence2', 'label'], ['0', 'a', 'b', '1'], ['1', 'c', 'd', '2']));
  for (const onBadRow of ['error', 'skip'] as const) {
    await assert.rejects(loadGlueTsv('wnli', f, { onBadRow }), (e: unknown) => e instanceof DataFileError && e.line === 3 && /unknown WNLI label "2"/.test(e.message));
  }
  const m = write('mnli-dash.tsv', rows(['index', 'sentence1', 'sentence2', 'gold_label'], ['0', 'p', 'h', '-']));
  await assert.rejects(loadGlueTsv('mnli_m', m), /mnli-dash.tsv:2: unknown MNLI-m label "-"/);
  const st = write('stsb-bad.tsv', rows(['index', 'genre', 'filename', 'year', 'old_index', 'source1', 'source2', 'sentence1', 'sentence2', 'score'], ['0', 'g', 'f', 'y', '0', 'n', 'n', 'a', 'b', 'high']));
  await assert.rejects(loadGlueTsv('stsb', st), /stsb-bad.tsv:2: score must be a number in \[0, 5\], got "high"/);
});

const MNLI_TRAIN = ['index', 'promptID', 'pairID', 'genre', 'sentence1_binary_parse', 'sentence2_binary_parse', 'sentence1_parse', 'sentence2_parse', 'sentence1', 'sentence2', 'label1', 'gold_label'];
const MNLI_DEV = [...MNLI_TRAIN.slice(0, 10), 'label1', 'label2', 'label3', 'label4', 'label5', 'gold_label'];

test('MNLI train (12 cols), dev_matched/dev_mismatched (16 cols), test (10 cols)', async () => {
  const parse = ['( x )', '( y )', '(ROOT x)', '(ROOT y)'];
  const train = write('mnli-train.tsv', rows(MNLI_TRAIN, ['0', '31193', '31193n', 'government', ...parse, 'Conceptually cream skimming has two basic dimensions - product and geography.', 'Product and geography are what make cream skimming work. ', 'neutral', 'neutral']));
  const dev = write(
    'mnli-dev_matched.tsv',
    rows(
      MNLI_DEV,
      ['0', '63735', '63735n', 'slate', ...parse, 'The new rights are nice enough', 'Everyone really likes the newest benefits ', 'neutral', 'entailment', 'neutral', 'neutral', 'neutral', 'neutral'],
      ['1', '91383', '91383c', 'government', ...parse, 'He said "yes', 'He said no.', 'contradiction', 'contradiction', 'contradiction', 'contradiction', 'contradiction', 'contradiction'],
      ['2', '755', '755e', 'telephone', ...parse, 'a', 'b', 'entailment', 'entailment', 'entailment', 'entailment', 'neutral', 'entailment'],
    ),
  );
  const test_ = write('mnli-test_mismatched.tsv', rows(MNLI_TRAIN.slice(0, 10), ['0', '1', '1n', 'g', ...parse, 'p0', 'h0'], ['1', '2', '2n', 'g', ...parse, 'p1', 'h1']));
  const t = await loadGlueTsv('mnli_m', train);
  assert.deepEqual(t.examples[0], { idx: 0, texts: ['Conceptually cream skimming has two basic dimensions - product and geography.', 'Product and geography are what make cream skimming work. '], label: 1 });
  const d = await loadGlueTsv('mnli_m', dev);
  assert.deepEqual(d.examples.map((e) => e.label), [1, 2, 0], 'gold_label (col 16) mapped entailment 0 / neutral 1 / contradiction 2');
  assert.equal(d.examples[1]!.texts[0], 'He said "yes');
  const te = await loadGlueTsv('mnli_mm', test_);
  assert.deepEqual(te.examples.map((e) => [e.idx, e.label, e.texts[1]]), [[0, null, 'h0'], [1, null, 'h1']]);
  assert.equal(te.task.name, 'MNLI-mm');
});

test('QNLI, RTE and AX layouts; AX is test-only with MNLI label names', async () => {
  const q = write('qnli-dev.tsv', rows(['index', 'question', 'sentence', 'label'], ['0', 'What came into force after the new constitution was herald?', 'As of that day, the new constitution heralding the Second Republic came into force.', 'entailment'], ['1', 'q?', 's.', 'not_entailment']));
  const qs = await loadGlueTsv('qnli', q);
  assert.deepEqual(qs.examples.map((e) => e.label), [0, 1]);
  assert.deepEqual(qs.task.textFields, ['question', 'sentence']);
  const ax = write('AX.tsv', rows(['index', 'sentence1', 'sentence2'], ['0', 'The cat sat on the mat.', 'The cat did not sit on the mat.'], ['1', 'a', 'b']));
  const a = await loadGlueTsv('ax', ax);
  assert.deepEqual(a.examples.map((e) => [e.idx, e.label]), [[0, null], [1, null]]);
  assert.deepEqual(a.task.labelNames, ['entailment', 'neutral', 'contradiction']);
  assert.equal(a.task.diagnostic, true);
});

test('test files of every task: no labels, idx from the index/id column', async () => {
  const cases = [
    ['cola', rows(['index', 'sentence'], ['0', 'Bill whistled past the house.'], ['1', 'The car honked its way down the road.'])],
    ['sst2', rows(['index', 'sentence'], ['0', 'uneasy mishmash of styles and genres .'], ['1', 'this film \'s relationship to actual tension is the same as what christmas-tree flocking in a spray can is to actual snow : a poor -- if durable -- imitation .'])],
    ['mrpc', '\ufeff' + rows(['index', '#1 ID', '#2 ID', '#1 String', '#2 String'], ['0', '1089874', '1089925', 'PCCW \'s chief operating officer', '"Current Chief Operating Officer'], ['1', '3019446', '3019327', 'x', 'y'])],
    ['stsb', rows(['index', 'genre', 'filename', 'year', 'old_index', 'source1', 'source2', 'sentence1', 'sentence2'], ['0', 'main-captions', 'MSRvid', '2012test', '0024', 'none', 'none', 'A girl is styling her hair.', 'A girl is brushing her hair.'], ['1', 'g', 'f', 'y', '1', 'n', 'n', 'a', 'b'])],
    ['qqp', rows(['id', 'question1', 'question2'], ['0', 'How does the Surface Pro himself 4 compare with iPad Pro?', 'Why did Microsoft choose core m3?'], ['1', 'a?', 'b?'])],
    ['rte', rows(['index', 'sentence1', 'sentence2'], ['0', 'Mangla was summoned after Madhumita\'s sister Nidhi Shukla...', 'Shukla is related to Mangla.'], ['1', 'a', 'b'])],
    ['wnli', rows(['index', 'sentence1', 'sentence2'], ['0', 'Maude and Dora had seen the trains rushing across the prairie.', 'Horses ran away when Maude and Dora came into sight.'], ['1', 'a', 'b'])],
  ] as const;
  for (const [task, content] of cases) {
    const s = await loadGlueTsv(task, write(`${task}-test.tsv`, content));
    assert.deepEqual(s.examples.map((e) => [e.idx, e.label]), [[0, null], [1, null]], task);
  }
  const mrpc = await loadGlueTsv('mrpc', join(dir, 'mrpc-test.tsv'));
  assert.equal(mrpc.examples[0]!.texts[1], '"Current Chief Operating Officer', 'BOM-prefixed header still recognised');
});

test('CoLA without header, CRLF line ends, no final newline, BOM', async () => {
  const f = write('cola-dev.tsv', '\ufeffgj04\t1\t\tThe sailors rode the breeze clear of the rocks.\r\ngj04\t0\t*\tThe more you would want, the less you would eat.\r\nclc95\t1\t\t"Quoted" start.');
  const s = await loadGlueTsv('cola', f);
  assert.deepEqual(s.examples, [
    { idx: 0, texts: ['The sailors rode the breeze clear of the rocks.'], label: 1 },
    { idx: 1, texts: ['The more you would want, the less you would eat.'], label: 0 },
    { idx: 2, texts: ['"Quoted" start.'], label: 1 },
  ]);
  await assert.rejects(loadGlue('cola', f, { expectedRows: 4 }), /expected 4 rows, loaded 3/);
});

test('invalid UTF-8, missing columns, empty files are typed errors', async () => {
  const bytes = Buffer.concat([Buffer.from('sentence\tlabel\ngood .\t1\nbad '), Buffer.from([0xff, 0xfe]), Buffer.from(' .\t0\n')]);
  await assert.rejects(loadGlueTsv('sst2', write('sst2-utf8.tsv', bytes)), (e: unknown) => e instanceof DataFileError && e.line === 3 && /invalid UTF-8/.test(e.message));
  await assert.rejects(loadGlueTsv('rte', write('rte-cols.tsv', rows(['index', 'premise', 'hypothesis', 'label'], ['0', 'a', 'b', 'entailment']))), /rte-cols.tsv:1: header has no 'sentence1' column/);
  await assert.rejects(loadGlueTsv('sst2', write('empty.tsv', '')), /empty.tsv: empty file/);
  await assert.rejects(loadGlueTsv('sst2', join(dir, 'nope.tsv')), DataFileError);
});

test('parquet: ClassLabel names from the huggingface metadata decide the id mapping', async () => {
  const real = sharedDataPath('glue', 'rte', 'validation.parquet');
  const orig = await loadGlueParquet('rte', real);
  // Same-length swap inside the footer JSON: the file now claims id 0 = not_entailment.
  const buf = readFileSync(real);
  const from = Buffer.from('"names": ["entailment", "not_entailment"]');
  const to = Buffer.from('"names": ["not_entailment", "entailment"]');
  const at = buf.indexOf(from);
  assert.ok(at > 0, 'fixture has the expected metadata');
  const swapped = Buffer.from(buf);
  to.copy(swapped, at);
  const s = await loadGlueParquet('rte', write('rte-swapped.parquet', swapped));
  assert.deepEqual(s.examples.map((e) => e.label), orig.examples.map((e) => 1 - (e.label as number)));
  // WNLI's own names are [not_entailment, entailment]; RTE's file names are fine for WNLI too but
  // a task whose classes do not include them must be refused.
  await assert.rejects(loadGlueParquet('cola', real), /no 'sentence' column/);
  await assert.rejects(loadGlueParquet('mrpc', real), /ClassLabel name "entailment" is not a MRPC class/);
});

test('parquet without PAR1 footer or truncated -> DataFileError naming the file', async () => {
  const buf = readFileSync(sharedDataPath('glue', 'rte', 'validation.parquet'));
  const cut = write('rte-cut.parquet', buf.subarray(0, buf.length - 10));
  await assert.rejects(loadGlueParquet('rte', cut), (e: unknown) => e instanceof DataFileError && e.file === cut && /PAR1/.test(e.message));
  const tsv = write('not-parquet.parquet', 'sentence\tlabel\n');
  await assert.rejects(loadGlue('sst2', tsv), /PAR1/);
});
