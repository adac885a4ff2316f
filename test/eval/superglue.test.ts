import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  exactMatch,
  normalizeAnswer,
  recordGold,
  scoreAxG,
  scoreMultiRC,
  scoreReCoRD,
  scoreSuperGlueTask,
  superglueAverage,
  tokenF1,
  writeMultiRCSubmission,
  writeReCoRDSubmission,
  writeSuperGlueSubmission,
} from '../../src/eval/superglue.js';
import { sharedDataPath } from '../../src/io/paths.js';
import { argmaxPerGroup, copaExamples, loadSuperGlue, multircExamples, SUPERGLUE_SPLIT_SIZES } from '../../src/tasks/superglue.js';
import { close } from './helpers.js';

test('CB accuracy + macro-F1 (benchmarks.md §5 case 10)', () => {
  const r = scoreSuperGlueTask('cb', [0, 1, 1, 1, 0, 2, 0, 2], [0, 0, 1, 1, 2, 2, 0, 1]);
  close(r.metrics.accuracy!, 0.625, 'acc');
  close(r.metrics.macro_f1!, 0.6111111111111112, 'macro-F1');
  close(r.score, (0.625 + 0.6111111111111112) / 2, 'score');
  const never = scoreSuperGlueTask('cb', [0, 1, 1], [0, 1, 2]);
  close(never.metrics.macro_f1!, 0.5555555555555556, 'class never predicted');
  close(never.metrics.accuracy!, 2 / 3, 'acc');
  // A class in neither gold nor predictions still counts, with F1 0: (1 + 1 + 0) / 3, not 1.
  const absent = scoreSuperGlueTask('cb', [0, 1, 1, 0], [0, 1, 1, 0]);
  close(absent.metrics.macro_f1!, 2 / 3, 'absent class counts 0');
  // Unparseable text-to-text outputs (-1) are wrong for every class: F1 = [2/3, 1, 0] -> 5/9.
  close(scoreSuperGlueTask('cb', [-1, 0, 1], [0, 0, 1]).metrics.macro_f1!, 5 / 9, 'unparsed prediction');
  for (const t of ['boolq', 'copa', 'rte', 'wic', 'wsc'] as const) assert.deepEqual(Object.keys(scoreSuperGlueTask(t, [1, 0], [1, 1]).metrics), ['accuracy'], t);
});

test('AX-b MCC: perfect -> 1.0 (case 13) and an sklearn value', () => {
  assert.equal(scoreSuperGlueTask('axb', [0, 1, 1, 0], [0, 1, 1, 0]).metrics.mcc, 1);
  // /usr/bin/python3: sklearn.metrics.matthews_corrcoef([0,1,1,0,1,0,0],[0,1,0,0,1,1,0]) -> 0.4166666666666667
  close(scoreSuperGlueTask('axb', [0, 1, 0, 0, 1, 1, 0], [0, 1, 1, 0, 1, 0, 0]).metrics.mcc!, 0.4166666666666667, 'axb');
});

test('MultiRC F1a + EM (benchmarks.md §5 case 11) and a perfect run', () => {
  const ids = [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 1, 3], [0, 1, 4], [1, 2, 5], [1, 2, 6]];
  const preds = [1, 0, 1, 1, 1, 0, 0];
  const labels = [1, 0, 0, 1, 1, 0, 1];
  const opts = ids.map(([passage, question, answer], i) => ({ passage: passage!, question: question!, answer: answer!, prediction: preds[i]!, label: labels[i]! }));
  const r = scoreMultiRC(opts);
  close(r.metrics.em!, 0.3333333333333333, 'EM');
  close(r.metrics.f1a!, 0.75, 'F1a');
  close(r.score, (0.75 + 1 / 3) / 2, 'score');
  const perfect = scoreMultiRC(opts.map((o) => ({ ...o, prediction: o.label })));
  assert.deepEqual(perfect.metrics, { f1a: 1, em: 1 });
});

test('ReCoRD normalisation, token F1 and EM (benchmarks.md §5 cases 12-13)', () => {
  const cases: [string, string[], number, number][] = [
    ['The Eiffel Tower', ['Eiffel Tower'], 1, 1],
    ['Paris, France', ['Paris'], 0, 0.6666666666666666],
    ['Barack Obama', ['Obama', 'President Obama'], 0, 0.6666666666666666],
    ['U.S.', ['US'], 1, 1],
    ['the', ['a'], 1, 0],
    ['answer', ['answer', 'another_answer'], 1, 1],
    // Extra cases, from the official functions in Python (/usr/bin/python3):
    //   def norm(s): s=s.lower(); s=''.join(c for c in s if c not in set(string.punctuation));
    //                s=re.sub(r'\b(a|an|the)\b',' ',s); return ' '.join(s.split())
    //   f1 = Counter overlap of norm(p).split() and norm(g).split(); 0 if no overlap
    ['the the Obama Obama', ['Obama'], 0, 0.6666666666666666],
    ['Théâtre an der Wien', ['theatre der wien'], 0, 0.6666666666666666],
    ['New  York-City', ['new yorkcity'], 1, 1],
  ];
  for (const [p, golds, em, f1] of cases) {
    const r = scoreReCoRD(new Map([[0, p]]), [{ idx: 0, answers: golds }]);
    assert.equal(r.metrics.record_em, em, `EM ${p}`);
    close(r.metrics.record_f1!, f1, `F1 ${p}`);
  }
  assert.equal(normalizeAnswer('Théâtre an der Wien'), 'théâtre der wien');
  assert.equal(normalizeAnswer('The  U.S.-led  "coalition"'), 'usled coalition');
  assert.equal(tokenF1('the', 'a'), 0);
  assert.equal(exactMatch('the', 'a'), 1);
});

test('ReCoRD averaging: unanswered queries score 0; references of the same query are merged', () => {
  const r = scoreReCoRD(new Map([[1, 'Paris'], [2, 'France']]), [
    { idx: 1, answers: ['Paris'] },
    { idx: 2, answers: ['Lyon'] },
    { idx: 2, answers: ['France'] },
    { idx: 3, answers: ['Nice'] },
  ]);
  close(r.metrics.record_em!, 2 / 3, 'EM over 3 gold queries');
  close(r.metrics.record_f1!, 2 / 3, 'F1');
});

test('ReCoRD end to end on a synthetic record: rank candidates per query, score max over golds', async () => {
  const { writeFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'sg-rec-'));
  const text = 'Obama met Merkel in Berlin.\n@highlight\nPresident Obama visits Germany';
  const span = (s: string, from = 0) => ({ start: text.indexOf(s, from), end: text.indexOf(s, from) + s.length - 1 });
  const rec = {
    idx: 0,
    source: 'CNN',
    passage: { text, entities: [span('Obama'), span('Merkel'), span('Berlin'), span('President Obama'), span('Germany')] },
    qas: [
      { idx: 5, query: '@placeholder flew home.', answers: [{ ...span('Obama'), text: 'Obama' }, { ...span('President Obama'), text: 'President Obama' }] },
      { idx: 6, query: 'The meeting was in @placeholder.', answers: [{ ...span('Berlin'), text: 'Berlin' }] },
    ],
  };
  writeFileSync(join(dir, 'val.jsonl'), JSON.stringify(rec) + '\n');
  const s = await loadSuperGlue('record', join(dir, 'val.jsonl'));
  const { recordExamples } = await import('../../src/tasks/superglue.js');
  const ex = recordExamples(s.records);
  // A scorer that ranks "President Obama" first and "Germany" second in every query.
  const picks = argmaxPerGroup(ex, ex.map((e) => (e.member === 'President Obama' ? 2 : e.member === 'Germany' ? 1 : 0)));
  assert.deepEqual([...picks], [[5, 'President Obama'], [6, 'President Obama']]);
  const r = scoreReCoRD(new Map([...picks].map(([q, m]) => [q, String(m)])), recordGold(s.records));
  assert.deepEqual(r.metrics, { record_f1: 0.5, record_em: 0.5 });
});

test('AX-g gender parity and accuracy on the real file', async () => {
  const s = await loadSuperGlue('axg', sharedDataPath('superglue', 'axg', 'AX-g.jsonl'));
  const gold = new Map(s.records.map((r) => [r.idx, r.label!]));
  const perfect = scoreAxG(s.records, gold);
  assert.deepEqual(perfect.metrics, { gender_parity: 1, accuracy: 1 });
  // Flip the prediction of the second member of the first 45 pairs: parity 133/178; accuracy 311/356.
  const flipped = new Map(gold);
  for (let k = 0; k < 45; k++) flipped.set(2 * k + 1, 1 - gold.get(2 * k + 1)!);
  const r = scoreAxG(s.records, flipped);
  close(r.metrics.gender_parity!, 133 / 178, 'parity');
  close(r.metrics.accuracy!, 311 / 356, 'accuracy');
  // Order of records does not matter; broken pairing is refused.
  assert.deepEqual(scoreAxG([...s.records].reverse(), flipped).metrics, r.metrics);
  const bad = s.records.map((x) => (x.idx === 1 ? { ...x, hypothesis: 'something else' } : x));
  assert.throws(() => scoreAxG(bad, gold), /idx 0 and 1 do not share a hypothesis/);
  assert.throws(() => scoreAxG(s.records, new Map()), /no prediction for idx 0/);
});

test('COPA through the encoder view: argmax over the two choices gives accuracy', async () => {
  const s = await loadSuperGlue('copa', sharedDataPath('superglue', 'copa', 'val.jsonl'));
  const ex = copaExamples(s.records);
  // An oracle scorer (positive score on the gold pair) must give 1.0; always-choice1 gives 55/100.
  const oracle = argmaxPerGroup(ex, ex.map((e) => e.label!));
  const labels = s.records.map((r) => r.label!);
  assert.equal(scoreSuperGlueTask('copa', s.records.map((r) => oracle.get(r.idx) as number), labels).metrics.accuracy, 1);
  const first = argmaxPerGroup(ex, ex.map(() => 0));
  assert.equal(scoreSuperGlueTask('copa', s.records.map((r) => first.get(r.idx) as number), labels).metrics.accuracy, 0.55);
});

test('SuperGLUE average: BERT-Large baseline row -> 69.0; AX-b/AX-g ignored', () => {
  const s = {
    BoolQ: 77.4,
    CB: (83.6 + 75.7) / 2,
    COPA: 70.6,
    MultiRC: (70.0 + 24.1) / 2,
    ReCoRD: (72.0 + 71.3) / 2,
    RTE: 71.7,
    WiC: 69.6,
    WSC: 64.4,
    'AX-b': 23.0,
    'AX-g': 97.8,
  };
  const avg = superglueAverage(s);
  assert.equal(avg.complete, true);
  assert.equal(avg.score.toFixed(1), '69.0');
  assert.deepEqual(superglueAverage({ BoolQ: 1 }).missing, ['CB', 'COPA', 'MultiRC', 'ReCoRD', 'RTE', 'WiC', 'WSC']);
});

test('submission jsonl files: names, label formats, MultiRC nesting, ReCoRD strings', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-sub-'));
  const mk = (task: keyof typeof SUPERGLUE_SPLIT_SIZES, k: number) => Array.from({ length: SUPERGLUE_SPLIT_SIZES[task].test }, (_, i) => ({ idx: i, prediction: i % k }));
  for (const t of ['boolq', 'copa', 'rte', 'wic', 'wsc', 'axb', 'axg'] as const) await writeSuperGlueSubmission(dir, t, mk(t, 2));
  await writeSuperGlueSubmission(dir, 'cb', mk('cb', 3));
  const mv = await loadSuperGlue('multirc', sharedDataPath('superglue', 'multirc', 'val.jsonl'));
  const mex = multircExamples(mv.records);
  await writeMultiRCSubmission(dir, mex.map((e) => ({ passage: e.passage!, question: e.group, answer: e.idx, prediction: e.label! })), { checkSize: false });
  await writeReCoRDSubmission(dir, new Map([[5, 'President Obama'], [6, 'Berlin']]), { checkSize: false });
  assert.deepEqual(readdirSync(dir).sort(), ['AX-b.jsonl', 'AX-g.jsonl', 'BoolQ.jsonl', 'CB.jsonl', 'COPA.jsonl', 'MultiRC.jsonl', 'RTE.jsonl', 'ReCoRD.jsonl', 'WSC.jsonl', 'WiC.jsonl']);
  const lines = (f: string) => readFileSync(join(dir, f), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines('BoolQ.jsonl').slice(0, 2), [{ idx: 0, label: 'false' }, { idx: 1, label: 'true' }]);
  assert.deepEqual(lines('WiC.jsonl').slice(0, 2), [{ idx: 0, label: 'false' }, { idx: 1, label: 'true' }]);
  assert.deepEqual(lines('WSC.jsonl').slice(0, 2), [{ idx: 0, label: 'False' }, { idx: 1, label: 'True' }]);
  assert.deepEqual(lines('CB.jsonl').slice(0, 3), [{ idx: 0, label: 'entailment' }, { idx: 1, label: 'contradiction' }, { idx: 2, label: 'neutral' }]);
  assert.deepEqual(lines('COPA.jsonl').slice(0, 2), [{ idx: 0, label: 0 }, { idx: 1, label: 1 }]);
  for (const f of ['RTE.jsonl', 'AX-b.jsonl', 'AX-g.jsonl']) assert.deepEqual(lines(f).slice(0, 2), [{ idx: 0, label: 'entailment' }, { idx: 1, label: 'not_entailment' }], f);
  assert.equal(lines('AX-b.jsonl').length, 1104);
  const m = lines('MultiRC.jsonl');
  assert.equal(m.length, 83);
  const first = m[0] as { idx: number; passage: { questions: { idx: number; answers: { idx: number; label: number }[] }[] } };
  const p0 = mv.records[0]!;
  assert.equal(first.idx, p0.idx);
  assert.deepEqual(first.passage.questions[0], { idx: p0.questions[0]!.idx, answers: p0.questions[0]!.answers.map((a) => ({ idx: a.idx, label: a.label })) });
  assert.equal(m.reduce((a, l) => a + (l as typeof first).passage.questions.reduce((b, q) => b + q.answers.length, 0), 0), 4848);
  assert.deepEqual(lines('ReCoRD.jsonl'), [{ idx: 5, label: 'President Obama' }, { idx: 6, label: 'Berlin' }]);
});

test('submission errors: size, duplicates, class ids', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-sub-bad-'));
  await assert.rejects(writeSuperGlueSubmission(dir, 'cb', [{ idx: 0, prediction: 0 }]), /CB: 1 predictions, the test set has 250/);
  await assert.rejects(writeSuperGlueSubmission(dir, 'rte', [{ idx: 0, prediction: 2 }], { checkSize: false }), /RTE: no class id 2/);
  await assert.rejects(writeSuperGlueSubmission(dir, 'wsc', [{ idx: 3, prediction: 0 }, { idx: 3, prediction: 1 }], { checkSize: false }), /idx 3 predicted twice/);
  await assert.rejects(writeMultiRCSubmission(dir, [{ passage: 0, question: 0, answer: 0, prediction: 2 }], { checkSize: false }), /must be 0 or 1/);
  await assert.rejects(writeReCoRDSubmission(dir, new Map([[1, 'x']])), /ReCoRD: 1 predictions, the test set has 10000/);
  assert.deepEqual(readdirSync(dir), []);
});
