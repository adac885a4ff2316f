/**
 * Every file under ../shared/data/superglue loads; record counts and label distributions equal
 * ../shared/data/SOURCES.md; the documented quirks (WSC idx 42, MultiRC 4,848 options, AX-g pairs,
 * AX-b string idx) are handled; encoder and text-to-text views are consistent with the records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { sharedDataPath } from '../../src/io/paths.js';
import {
  copaExamples,
  encoderExamples,
  loadSuperGlue,
  markWsc,
  multircExamples,
  pairExamples,
  parseGenerated,
  SUPERGLUE_SPLIT_SIZES,
  SUPERGLUE_TASKS,
  superglueSharedFile,
  toTextToText,
  type SuperGlueTaskId,
} from '../../src/tasks/superglue.js';

const path = (rel: string) => sharedDataPath('superglue', ...rel.split('/'));

function labelCounts(task: SuperGlueTaskId, labels: readonly (number | null)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of labels) {
    const k = l === null ? 'null' : SUPERGLUE_TASKS[task].labelNames![l]!;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** [task, file, records, label counts (SOURCES.md)] for the one-label-per-record tasks. */
const FLAT: readonly [Exclude<SuperGlueTaskId, 'multirc' | 'record'>, string, number, Record<string, number>][] = [
  ['boolq', 'boolq/val.jsonl', SUPERGLUE_SPLIT_SIZES.boolq.val!, { True: 2033, False: 1237 }],
  ['cb', 'cb/train.jsonl', SUPERGLUE_SPLIT_SIZES.cb.train!, { contradiction: 119, entailment: 115, neutral: 16 }],
  ['cb', 'cb/val.jsonl', SUPERGLUE_SPLIT_SIZES.cb.val!, { contradiction: 28, entailment: 23, neutral: 5 }],
  ['copa', 'copa/train.jsonl', SUPERGLUE_SPLIT_SIZES.copa.train!, { choice1: 195, choice2: 205 }],
  ['copa', 'copa/val.jsonl', SUPERGLUE_SPLIT_SIZES.copa.val!, { choice1: 55, choice2: 45 }],
  ['rte', 'rte/train.jsonl', SUPERGLUE_SPLIT_SIZES.rte.train!, { entailment: 1249, not_entailment: 1241 }],
  ['rte', 'rte/val.jsonl', SUPERGLUE_SPLIT_SIZES.rte.val!, { entailment: 146, not_entailment: 131 }],
  ['wic', 'wic/train.jsonl', SUPERGLUE_SPLIT_SIZES.wic.train!, { True: 2714, False: 2714 }],
  ['wic', 'wic/val.jsonl', SUPERGLUE_SPLIT_SIZES.wic.val!, { True: 319, False: 319 }],
  ['wsc', 'wsc/train.jsonl', SUPERGLUE_SPLIT_SIZES.wsc.train!, { True: 259, False: 295 }],
  ['wsc', 'wsc/val.jsonl', SUPERGLUE_SPLIT_SIZES.wsc.val!, { True: 38, False: 66 }],
  ['axb', 'axb/AX-b.jsonl', SUPERGLUE_SPLIT_SIZES.axb.test, { not_entailment: 644, entailment: 460 }],
  ['axg', 'axg/AX-g.jsonl', SUPERGLUE_SPLIT_SIZES.axg.test, { not_entailment: 178, entailment: 178 }],
];

test('the tables cover every file under shared/data/superglue', () => {
  const onDisk = readdirSync(sharedDataPath('superglue'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.jsonl')).sort();
  assert.deepEqual([...FLAT.map((f) => f[1]), 'multirc/train.jsonl', 'multirc/val.jsonl'].sort(), onDisk);
});

for (const [task, rel, n, dist] of FLAT) {
  test(`${rel}: ${n} records, labels as SOURCES.md`, async () => {
    const s = await loadSuperGlue(task, path(rel), { expectedRows: n });
    assert.equal(s.records.length, n);
    assert.deepEqual(labelCounts(task, s.records.map((r) => r.label)), dist);
    // Encoder view: one example per record (two for COPA), labels carried over.
    const ex = task === 'copa' ? copaExamples(s.records as never) : pairExamples(task, s.records as never);
    assert.equal(ex.length, task === 'copa' ? 2 * n : n);
    // Text-to-text view: target verbalizes the label and parses back to it.
    const tt = toTextToText(task, s.records);
    assert.equal(tt.length, n);
    tt.forEach((p, i) => assert.equal(parseGenerated(task, ` ${p.target!} `), s.records[i]!.label, `${rel} #${i}`));
  });
}

test('COPA: questions cause 52 / effect 48 in val, 198 / 202 in train; pairs carry the question phrase', async () => {
  for (const [rel, cause, effect] of [['copa/val.jsonl', 52, 48], ['copa/train.jsonl', 198, 202]] as const) {
    const s = await loadSuperGlue('copa', path(rel));
    assert.equal(s.records.filter((r) => r.question === 'cause').length, cause);
    assert.equal(s.records.filter((r) => r.question === 'effect').length, effect);
  }
  const v = await loadSuperGlue('copa', path('copa/val.jsonl'));
  const ex = copaExamples(v.records);
  assert.deepEqual(ex.slice(0, 2), [
    { idx: 0, group: 0, member: 0, texts: ['The man turned on the faucet. What happened as a result?', 'The toilet filled with water.'], label: 0 },
    { idx: 0, group: 0, member: 1, texts: ['The man turned on the faucet. What happened as a result?', 'Water flowed from the spout.'], label: 1 },
  ]);
});

test('MultiRC: val 83 passages / 953 questions / 4,848 options (2,075 true); train 456 / 5,131 / 27,243 (12,025 true)', async () => {
  for (const [rel, passages, questions, options, trues] of [
    ['multirc/val.jsonl', 83, 953, SUPERGLUE_SPLIT_SIZES.multirc.val!, 2075],
    ['multirc/train.jsonl', 456, 5131, SUPERGLUE_SPLIT_SIZES.multirc.train!, 12025],
  ] as const) {
    const s = await loadSuperGlue('multirc', path(rel), { expectedRows: passages });
    assert.equal(s.records.reduce((a, p) => a + p.questions.length, 0), questions);
    const ex = multircExamples(s.records);
    assert.equal(ex.length, options);
    assert.equal(ex.filter((e) => e.label === 1).length, trues);
    assert.equal(new Set(ex.map((e) => e.group)).size, questions, 'grouped by question');
    assert.equal(toTextToText('multirc', s.records).length, options);
    assert.ok(s.records.every((p) => !p.passage.includes('<b>Sent')), 'plain passage text');
  }
});

test('WSC: idx 42 span2 index 30 points at "use"; the span is found at token 31 and marked there', async () => {
  const v = await loadSuperGlue('wsc', path('wsc/val.jsonl'));
  const r = v.records.find((x) => x.idx === 42)!;
  assert.deepEqual(r.span2, { index: 30, text: 'it', token: 31 });
  assert.equal(markWsc(r), 'When they had eventually calmed down a bit , and had gotten home, Mr. Farley put the magic pebble in an iron *safe* . Some day they might want to use #it# , but really for now, what more could they wish for?');
  assert.equal(v.records.filter((x) => x.span1.token !== x.span1.index || x.span2.token !== x.span2.index).length, 1, 'only idx 42 needs relocating in val');
  const t = await loadSuperGlue('wsc', path('wsc/train.jsonl'));
  assert.equal(t.records.filter((x) => x.span1.token !== x.span1.index || x.span2.token !== x.span2.index).length, 0);
  // Newline inside span1_text (idx 234) and "Emma" pointing at "Emma's" (idx 433).
  assert.match(markWsc(t.records.find((x) => x.idx === 234)!), /\*willow-towered Canopy Huntertropic wrestles\*/);
  assert.match(markWsc(t.records.find((x) => x.idx === 433)!), /^\*Emma\*'s mother had died long ago, and #her# place/);
});

test('WiC: every span is the word form; encoder texts mark it and lead with the word', async () => {
  const s = await loadSuperGlue('wic', path('wic/val.jsonl'));
  const ex = pairExamples('wic', s.records);
  assert.deepEqual(ex[1]!.texts, ['stripe: Businessmen of every *stripe* joined in opposition to the proposal.', 'They earned their *stripes* in Kuwait.']);
  assert.ok(s.records.every((r) => r.sentence1.slice(r.start1, r.end1).length > 0 && r.sentence2.slice(r.start2, r.end2).length > 0));
});

test('AX-b: idx is a string in the file, parsed to 0..1103; phenomenon tags kept', async () => {
  const s = await loadSuperGlue('axb', path('axb/AX-b.jsonl'));
  assert.deepEqual(s.records.map((r) => r.idx), Array.from({ length: 1104 }, (_, i) => i));
  assert.deepEqual(s.records[0]!.tags, { logic: 'Negation' });
});

test('AX-g: 178 adjacent pairs share a hypothesis; pair_ids differ within a pair', async () => {
  const s = await loadSuperGlue('axg', path('axg/AX-g.jsonl'));
  for (let i = 0; i < s.records.length; i += 2) {
    const [a, b] = [s.records[i]!, s.records[i + 1]!];
    assert.deepEqual([a.idx, b.idx], [i, i + 1]);
    assert.equal(a.hypothesis, b.hypothesis);
    assert.notEqual(a.pairId, b.pairId);
  }
});

test('RTE: SuperGLUE val = GLUE RTE dev pairs and labels (6 texts differ only by surrounding quotes)', async () => {
  const { loadGlue } = await import('../../src/tasks/glue.js');
  const glue = await loadGlue('rte', sharedDataPath('glue', 'rte', 'dev.tsv'));
  const sg = await loadSuperGlue('rte', path('rte/val.jsonl'));
  assert.deepEqual(sg.records.map((r) => r.label), glue.examples.map((e) => e.label), 'same label ids (both entailment = 0)');
  const strip = (t: string) => t.replaceAll('"', '');
  let quoteOnly = 0;
  sg.records.forEach((r, i) => {
    const g = glue.examples[i]!.texts;
    assert.equal(strip(r.premise), strip(g[0]));
    assert.equal(strip(r.hypothesis), strip(g[1]!));
    if (r.premise !== g[0] || r.hypothesis !== g[1]) quoteOnly++;
  });
  assert.equal(quoteOnly, 6);
});

test('superglueSharedFile + encoderExamples dispatch', async () => {
  assert.equal(superglueSharedFile('axb', 'test'), path('axb/AX-b.jsonl'));
  assert.equal(superglueSharedFile('cb', 'val'), path('cb/val.jsonl'));
  const cb = await loadSuperGlue('cb', superglueSharedFile('cb', 'val'));
  assert.deepEqual(encoderExamples('cb', cb.records)[1], { idx: 1, texts: [cb.records[1]!.premise, cb.records[1]!.hypothesis], label: 2 });
  const mr = await loadSuperGlue('multirc', superglueSharedFile('multirc', 'val'));
  assert.equal(encoderExamples('multirc', mr.records).length, 4848);
  const wsc = await loadSuperGlue('wsc', superglueSharedFile('wsc', 'val'));
  assert.deepEqual(encoderExamples('wsc', wsc.records)[42]!.texts, [markWsc(wsc.records[42]!)]);
});
