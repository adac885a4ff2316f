/**
 * Every file under ../shared/data/glue loads with the official row count and the label
 * distribution stated in ../shared/data/SOURCES.md; parquet files equal their TSV counterparts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { sharedDataPath } from '../../src/io/paths.js';
import { GLUE_SPLIT_SIZES, glueSharedFile, loadGlue, loadGlueShared, type GlueTaskId } from '../../src/tasks/glue.js';
import { readTsv } from '../../src/tasks/tsv.js';
import type { LoadedSplit } from '../../src/tasks/types.js';

function counts(s: LoadedSplit): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of s.examples) {
    const k = s.task.labelNames ? s.task.labelNames[e.label as number]! : String(e.label);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** [task, file, official rows, label counts from SOURCES.md (null: regression)] */
const FILES: readonly [GlueTaskId, string, number, Record<string, number> | null][] = [
  ['cola', 'cola/train.tsv', GLUE_SPLIT_SIZES.cola.train!, { acceptable: 6023, unacceptable: 2528 }],
  ['cola', 'cola/dev.tsv', GLUE_SPLIT_SIZES.cola.dev!, { acceptable: 721, unacceptable: 322 }],
  ['cola', 'cola/in_domain_dev.tsv', 527, { acceptable: 365, unacceptable: 162 }],
  ['cola', 'cola/out_of_domain_dev.tsv', 516, { acceptable: 354, unacceptable: 162 }],
  ['cola', 'cola/train.parquet', 8551, { acceptable: 6023, unacceptable: 2528 }],
  ['sst2', 'sst2/train.tsv', GLUE_SPLIT_SIZES.sst2.train!, { positive: 37569, negative: 29780 }],
  ['sst2', 'sst2/dev.tsv', GLUE_SPLIT_SIZES.sst2.dev!, { positive: 444, negative: 428 }],
  ['mrpc', 'mrpc/train.tsv', GLUE_SPLIT_SIZES.mrpc.train!, { equivalent: 2474, not_equivalent: 1194 }],
  ['mrpc', 'mrpc/dev.tsv', GLUE_SPLIT_SIZES.mrpc.dev!, { equivalent: 279, not_equivalent: 129 }],
  ['mrpc', 'mrpc/train.parquet', 3668, { equivalent: 2474, not_equivalent: 1194 }],
  ['stsb', 'stsb/train.tsv', GLUE_SPLIT_SIZES.stsb.train!, null],
  ['stsb', 'stsb/dev.tsv', GLUE_SPLIT_SIZES.stsb.dev!, null],
  ['stsb', 'stsb/train.parquet', 5749, null],
  ['rte', 'rte/train.tsv', GLUE_SPLIT_SIZES.rte.train!, { entailment: 1249, not_entailment: 1241 }],
  ['rte', 'rte/dev.tsv', GLUE_SPLIT_SIZES.rte.dev!, { entailment: 146, not_entailment: 131 }],
  ['rte', 'rte/train.parquet', 2490, { entailment: 1249, not_entailment: 1241 }],
  ['rte', 'rte/validation.parquet', 277, { entailment: 146, not_entailment: 131 }],
  ['wnli', 'wnli/dev.tsv', GLUE_SPLIT_SIZES.wnli.dev!, { not_entailment: 40, entailment: 31 }],
  ['wnli', 'wnli/train.parquet', GLUE_SPLIT_SIZES.wnli.train!, { not_entailment: 323, entailment: 312 }],
];

const load = (task: GlueTaskId, rel: string) => loadGlue(task, sharedDataPath('glue', ...rel.split('/')));

test('the table covers every data file under shared/data/glue', () => {
  const onDisk = readdirSync(sharedDataPath('glue'), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(tsv|parquet)$/.test(f) && !f.endsWith('dev_ids.tsv'))
    .map((f) => f.replaceAll('\\', '/'))
    .sort();
  assert.deepEqual([...FILES.map((f) => f[1])].sort(), onDisk);
});

for (const [task, rel, rows, dist] of FILES) {
  test(`${rel}: ${rows} rows, strict mode, labels as SOURCES.md`, async () => {
    const s = await loadGlue(task, sharedDataPath('glue', ...rel.split('/')), { expectedRows: rows });
    assert.equal(s.examples.length, rows);
    assert.equal(s.skipped.length, 0);
    if (dist) assert.deepEqual(counts(s), dist);
    else {
      for (const e of s.examples) assert.ok(e.label !== null && e.label >= 0 && e.label <= 5, `score ${e.label}`);
    }
    assert.ok(s.examples.every((e) => e.texts.every((t) => t.length > 0)), 'no empty texts');
  });
}

test('MRPC: BOM stripped, quotes kept; dev 85 lines with `"`; dev pairs = dev_ids.tsv', async () => {
  const dev = await load('mrpc', 'mrpc/dev.tsv');
  const raw = await readTsv(sharedDataPath('glue', 'mrpc', 'dev.tsv'));
  assert.equal(raw[0]!.fields[0], 'Quality', 'BOM removed from the header');
  const ids = await readTsv(sharedDataPath('glue', 'mrpc', 'dev_ids.tsv'));
  const key = (f: readonly string[]) => `${f[0]}-${f[1]}`;
  assert.deepEqual(raw.slice(1).map((r) => key(r.fields.slice(1, 3))).sort(), ids.map((r) => key(r.fields)).sort());
  assert.equal(dev.examples.filter((e) => e.texts.some((t) => t.includes('"'))).length, 85);
  assert.equal(dev.examples[0]!.texts[1], '"The foodservice pie business does not fit our long-term growth strategy.');
  const train = await load('mrpc', 'mrpc/train.tsv');
  assert.equal(train.examples.filter((e) => e.texts.some((t) => t.includes('"'))).length, 769);
  // Labels equal HF's (the parquet is the SentEval-tokenized build, so only labels are comparable).
  const pq = await load('mrpc', 'mrpc/train.parquet');
  assert.deepEqual(pq.examples.map((e) => e.label), train.examples.map((e) => e.label));
});

test('STS-B: float scores; the parquet (float32) equals the TSV to 1e-5, same sentences', async () => {
  const tsv = await load('stsb', 'stsb/train.tsv');
  const pq = await load('stsb', 'stsb/train.parquet');
  assert.equal(tsv.examples[1]!.label, 3.8);
  let maxErr = 0;
  tsv.examples.forEach((e, i) => {
    const p = pq.examples[i]!;
    assert.deepEqual(p.texts, e.texts, `row ${i}`);
    maxErr = Math.max(maxErr, Math.abs((p.label as number) - (e.label as number)));
  });
  assert.ok(maxErr < 1e-5, `max |parquet - tsv| = ${maxErr}`);
  const dev = await load('stsb', 'stsb/dev.tsv');
  assert.deepEqual(dev.examples.map((e) => e.idx), Array.from({ length: 1500 }, (_, i) => i));
  assert.equal(dev.examples.filter((e) => e.texts.some((t) => t.includes('"'))).length, 110);
});

test('CoLA: parquet = train.tsv; GLUE dev = in-domain + out-of-domain except the 9 rows SOURCES.md lists', async () => {
  const tsv = await load('cola', 'cola/train.tsv');
  const pq = await load('cola', 'cola/train.parquet');
  assert.deepEqual(pq.examples.map((e) => [e.texts, e.label]), tsv.examples.map((e) => [e.texts, e.label]));
  const dev = await load('cola', 'cola/dev.tsv');
  const ind = await load('cola', 'cola/in_domain_dev.tsv');
  const ood = await load('cola', 'cola/out_of_domain_dev.tsv');
  const both = [...ind.examples, ...ood.examples];
  assert.equal(both.length, 1043);
  const textDiff: number[] = [];
  const labelDiff: number[] = [];
  dev.examples.forEach((e, i) => {
    if (e.texts[0] !== both[i]!.texts[0]) textDiff.push(i);
    if (e.label !== both[i]!.label) labelDiff.push(i);
  });
  assert.deepEqual(textDiff, [18, 73, 329, 728, 729, 730, 731]);
  assert.deepEqual(labelDiff, [522, 526]);
  assert.deepEqual([dev.examples[522]!.label, dev.examples[526]!.label], [1, 1]);
});

test('SST-2 keeps the trailing space before the tab', async () => {
  const dev = await load('sst2', 'sst2/dev.tsv');
  assert.equal(dev.examples[0]!.texts[0], "it 's a charming and often affecting journey . ");
  assert.ok(dev.examples.every((e) => e.texts[0].endsWith(' ')));
});

test('RTE: both parquet files equal the TSVs row by row (text, label, idx)', async () => {
  for (const [t, p] of [['rte/train.tsv', 'rte/train.parquet'], ['rte/dev.tsv', 'rte/validation.parquet']] as const) {
    const a = await load('rte', t);
    const b = await load('rte', p);
    assert.deepEqual(b.examples, a.examples, `${t} vs ${p}`);
  }
});

test('glueSharedFile / loadGlueShared: TSV first, parquet stand-in, official size checked', async () => {
  assert.equal(glueSharedFile('sst2', 'dev'), sharedDataPath('glue', 'sst2', 'dev.tsv'));
  assert.equal(glueSharedFile('wnli', 'train'), sharedDataPath('glue', 'wnli', 'train.parquet'));
  assert.equal(glueSharedFile('rte', 'dev'), sharedDataPath('glue', 'rte', 'dev.tsv'));
  assert.throws(() => glueSharedFile('qqp', 'train'), /no QQP train file in the shared data/);
  assert.throws(() => glueSharedFile('mnli_mm', 'dev'), /dev_mismatched.tsv: no MNLI-mm dev file/);
  assert.equal((await loadGlueShared('wnli', 'train')).examples.length, 635);
  assert.equal((await loadGlueShared('cola', 'dev')).examples.length, 1043);
  await assert.rejects(loadGlueShared('cola', 'test'), /no CoLA test file/);
});
