/**
 * SuperGLUE loaders on small files written here in the official layouts: ReCoRD (no real file in
 * ../shared), unlabelled test files, and malformed lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataFileError } from '../../src/errors.js';
import {
  argmaxPerGroup,
  loadSuperGlue,
  locateWscSpan,
  parseGenerated,
  parseRecordGenerated,
  recordCandidates,
  recordExamples,
  toTextToText,
  verbalize,
} from '../../src/tasks/superglue.js';

const dir = mkdtempSync(join(tmpdir(), 'sg-syn-'));
const write = (name: string, lines: readonly (string | object)[], finalNewline = true): string => {
  const p = join(dir, name);
  writeFileSync(p, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + (finalNewline ? '\n' : ''));
  return p;
};

// Official ReCoRD layout (SuperGLUE v2 ReCoRD/val.jsonl): inclusive entity/answer offsets,
// `@highlight` markers, several gold answers, repeated entity mentions.
const PASSAGE = 'The Eiffel Tower in Paris was built by Gustave Eiffel.\n@highlight\nParis, France celebrates the Eiffel Tower\n@highlight\nEiffel was an engineer';
const at = (s: string, from = 0) => {
  const start = PASSAGE.indexOf(s, from);
  return { start, end: start + s.length - 1 };
};
const RECORD = {
  source: 'Daily mail',
  passage: {
    text: PASSAGE,
    entities: [at('Eiffel Tower'), at('Paris'), at('Gustave Eiffel'), at('Paris', 60), at('France'), at('Eiffel Tower', 60), at('Eiffel', PASSAGE.lastIndexOf('Eiffel'))],
  },
  qas: [
    { query: '@placeholder was designed by an engineer.', answers: [{ ...at('Eiffel Tower'), text: 'Eiffel Tower' }, { ...at('Eiffel Tower', 60), text: 'Eiffel Tower' }], idx: 10 },
    { query: 'The tower stands in @placeholder.', answers: [{ ...at('Paris'), text: 'Paris' }, { ...at('France'), text: 'France' }], idx: 11 },
  ],
  idx: 3,
};

test('ReCoRD: inclusive offsets, de-duplicated sorted candidates, one example per (query, entity)', async () => {
  const s = await loadSuperGlue('record', write('record.jsonl', [RECORD]));
  const r = s.records[0]!;
  assert.equal(r.idx, 3);
  assert.equal(r.entities[0]!.text, 'Eiffel Tower', 'text = passage[start .. end] with end inclusive');
  assert.deepEqual(recordCandidates(r), ['Eiffel', 'Eiffel Tower', 'France', 'Gustave Eiffel', 'Paris']);
  const ex = recordExamples(s.records);
  assert.equal(ex.length, 10);
  assert.deepEqual(ex[1], { idx: 10, group: 10, member: 'Eiffel Tower', passage: 3, texts: [PASSAGE, 'Eiffel Tower was designed by an engineer.'], label: 1 });
  assert.deepEqual(ex.filter((e) => e.group === 11 && e.label === 1).map((e) => e.member), ['France', 'Paris']);
  // The ranking rule picks, per query, the candidate with the highest positive score.
  const scores = ex.map((e) => (e.member === 'Gustave Eiffel' ? 5 : e.member === 'Paris' ? 3 : 0));
  assert.deepEqual([...argmaxPerGroup(ex, scores)], [[10, 'Gustave Eiffel'], [11, 'Gustave Eiffel']]);
  const tt = toTextToText('record', s.records);
  assert.deepEqual(tt[1], { idx: 11, input: `record query: The tower stands in @placeholder. entities: Eiffel, Eiffel Tower, France, Gustave Eiffel, Paris passage: ${PASSAGE}`, target: 'Paris' });
  assert.equal(parseRecordGenerated('  Paris \n'), 'Paris');
});

test('ReCoRD: test file without answers -> null labels; bad offsets and mismatched answer text are errors', async () => {
  const test_ = { ...RECORD, qas: RECORD.qas.map(({ answers: _a, ...q }) => q) };
  const s = await loadSuperGlue('record', write('record-test.jsonl', [test_]));
  assert.ok(recordExamples(s.records).every((e) => e.label === null));
  assert.equal(toTextToText('record', s.records)[0]!.target, null);
  const off = { ...RECORD, passage: { ...RECORD.passage, entities: [{ start: 5, end: 999 }] } };
  await assert.rejects(loadSuperGlue('record', write('record-off.jsonl', [RECORD, off].map((r, i) => ({ ...r, idx: i })))), /record-off.jsonl:2: entity span \[5, 999\] outside the passage/);
  const wrong = { ...RECORD, qas: [{ ...RECORD.qas[0]!, answers: [{ ...at('Paris'), text: 'Lyon' }] }] };
  await assert.rejects(loadSuperGlue('record', write('record-text.jsonl', [wrong])), /answer text "Lyon" != passage/);
  const noPh = { ...RECORD, qas: [{ ...RECORD.qas[0]!, query: 'no placeholder' }] };
  await assert.rejects(loadSuperGlue('record', write('record-ph.jsonl', [noPh])), /query 10 has no @placeholder/);
});

test('test files (no label field) load with null labels; text-to-text targets are null', async () => {
  const b = await loadSuperGlue('boolq', write('boolq-test.jsonl', [{ question: 'is it?', passage: 'It is.', idx: 0 }, { question: 'q', passage: 'p', idx: 1 }], false));
  assert.deepEqual(b.records.map((r) => r.label), [null, null]);
  assert.deepEqual(toTextToText('boolq', b.records)[0], { idx: 0, input: 'boolq question: is it? passage: It is.', target: null });
  const m = await loadSuperGlue('multirc', write('multirc-test.jsonl', [{ idx: 0, version: 1.1, passage: { text: 'P', questions: [{ question: 'Q', idx: 0, answers: [{ text: 'A', idx: 0 }] }] } }]));
  assert.equal(m.records[0]!.questions[0]!.answers[0]!.label, null);
});

test('malformed lines name file:line: bad JSON, bare NaN, blank line, wrong types, unknown labels, duplicates', async () => {
  const cb = (o: object) => ({ premise: 'p', hypothesis: 'h', label: 'neutral', idx: 0, ...o });
  const cases: [string, (string | object)[], RegExp][] = [
    ['bad-json', [cb({}), '{"premise": "p",'], /bad-json.jsonl:2: invalid JSON/],
    ['nan', ['{"premise": "p", "hypothesis": "h", "label": "neutral", "idx": NaN}'], /nan.jsonl:1: invalid JSON/],
    ['blank', [cb({}), '', cb({ idx: 1 })], /blank.jsonl:2: invalid JSON/],
    ['array', ['[1, 2]'], /array.jsonl:1: expected a JSON object/],
    ['label', [cb({ label: 'Neutral' })], /label.jsonl:1: field 'label' has unknown value "Neutral"/],
    ['idx-type', [cb({ idx: '0' })], /idx-type.jsonl:1: field 'idx' must be an integer/],
    ['missing', [{ premise: 'p', label: 'neutral', idx: 0 }], /missing.jsonl:1: field 'hypothesis' is missing/],
    ['dup', [cb({}), cb({ idx: 1 }), cb({ idx: 0 })], /dup.jsonl:3: duplicate idx 0 \(first on line 1\)/],
  ];
  for (const [name, lines, re] of cases) {
    await assert.rejects(loadSuperGlue('cb', write(`${name}.jsonl`, lines)), (e: unknown) => e instanceof DataFileError && re.test(e.message), name);
  }
  await assert.rejects(loadSuperGlue('boolq', write('boolq-str.jsonl', [{ question: 'q', passage: 'p', idx: 0, label: 'true' }])), /field 'label' must be a boolean/);
  await assert.rejects(loadSuperGlue('copa', write('copa-q.jsonl', [{ premise: 'p', choice1: 'a', choice2: 'b', question: 'reason', label: 0, idx: 0 }])), /field 'question' has unknown value "reason"/);
  await assert.rejects(loadSuperGlue('copa', write('copa-l.jsonl', [{ premise: 'p', choice1: 'a', choice2: 'b', question: 'cause', label: 2, idx: 0 }])), /label' must be 0 or 1/);
  const mr = (aidx: number, label: number) => ({ idx: aidx, version: 1.1, passage: { text: 'P', questions: [{ question: 'Q', idx: aidx, answers: [{ text: 'A', idx: 7, label }] }] } });
  await assert.rejects(loadSuperGlue('multirc', write('multirc-dup.jsonl', [mr(0, 1), mr(1, 0)])), /multirc-dup.jsonl:2: duplicate answer idx 7/);
  await assert.rejects(loadSuperGlue('multirc', write('multirc-lab.jsonl', [mr(0, 2)])), /passage.questions\[0\].answers\[0\]|label must be 0 or 1/);
  await assert.rejects(loadSuperGlue('axb', write('axb-idx.jsonl', [{ idx: 'x1', sentence1: 'a', sentence2: 'b', label: 'entailment' }])), /idx must be a numeric string/);
  await assert.rejects(loadSuperGlue('wsc', write('wsc-span.jsonl', [{ text: 'A b c.', target: { span1_index: 0, span1_text: 'A', span2_index: 1, span2_text: 'zebra' }, idx: 0, label: true }])), /span2 "zebra" not found near token 1/);
  await assert.rejects(loadSuperGlue('wic', write('wic-off.jsonl', [{ word: 'w', sentence1: 'ab', sentence2: 'cd', start1: 0, end1: 9, start2: 0, end2: 1, idx: 0, label: true }])), /word offsets outside their sentence/);
  await assert.rejects(loadSuperGlue('cb', write('cb-count.jsonl', [cb({})])).then(() => loadSuperGlue('cb', join(dir, 'cb-count.jsonl'), { expectedRows: 56 })), /expected 56 records, loaded 1/);
});

test('WSC span location: trusted index, nearest match, prefix token, multi-word span across a newline', () => {
  assert.equal(locateWscSpan('He said it , and it fell.', 'it', 2), 2);
  assert.equal(locateWscSpan('He said it , and it fell.', 'it', 3), 2, 'nearest on a tie goes left');
  assert.equal(locateWscSpan('Emma\'s mother had died', 'Emma', 0), 0);
  assert.equal(locateWscSpan('to " willow-towered Canopy Huntertropic wrestles " as', 'willow-towered Canopy\nHuntertropic wrestles', 2), 2);
  assert.equal(locateWscSpan('nothing here', 'zebra', 0), -1);
});

test('verbalizers and parsing: exact label words, case/space-insensitive, anything else is null', () => {
  assert.equal(verbalize('cb', 1), 'contradiction');
  assert.equal(verbalize('copa', 1), 'choice2');
  assert.equal(verbalize('boolq', 1), 'True');
  assert.equal(parseGenerated('boolq', ' true\n'), 1);
  assert.equal(parseGenerated('rte', 'Not_Entailment'), 1);
  assert.equal(parseGenerated('cb', 'neutral'), 2);
  assert.equal(parseGenerated('cb', 'entailment.'), null);
  assert.equal(parseGenerated('wsc', 'yes'), null);
  assert.throws(() => verbalize('wic', 2), RangeError);
});
