import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { initEngine } from '../../src/engine/index.js';
import { scoreMultiRC, scoreReCoRD, scoreSuperGlueTask, writeMultiRCSubmission, writeSuperGlueSubmission } from '../../src/eval/superglue.js';
import { sharedDataPath } from '../../src/io/paths.js';
import { loadModel } from '../../src/models/load.js';
import type { T5GemmaModel } from '../../src/models/t5gemma.js';
import { Rng } from '../../src/rng/index.js';
import { type BoolQRecord, type ReCoRDRecord, loadSuperGlue } from '../../src/tasks/superglue.js';
import type { Tokenizer } from '../../src/tokenize/index.js';
import { collateSeq2Seq, teacherForce } from '../../src/t5gemma/objectives/seq2seq.js';
import { seq2seqTrainable } from '../../src/t5gemma/pretrain.js';
import { classificationData, classifySuperGlue, generateSuperGlue, superglueClassifier, superglueExamples } from '../../src/t5gemma/superglue.js';
import { batchFromRows } from '../../src/tokenize/batch.js';
import { train } from '../../src/train/trainer.js';
import { TOL, assertAllClose } from '../helpers/close.js';
import { type Case, fixtureDir, goldenCases } from './golden.js';

const tmp = mkdtempSync(join(tmpdir(), 't5gemma-sg-'));
before(async () => {
  await initEngine();
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Character-level tokenizer inside the fixtures' 256-id vocabulary (ids 16..255; 0 pad, 1 eos, 2 bos). */
const charTok: Tokenizer = {
  vocabSize: 256,
  padId: 0,
  bosId: 2,
  eosId: 1,
  encode: (text, o) => [...((o?.addBos ?? true) ? [2] : []), ...[...text].map((ch) => 16 + ((ch.codePointAt(0) as number) % 240))],
  decode: (ids) => ids.filter((i) => i >= 16).map((i) => String.fromCharCode(i - 16)).join(''),
  tokenToId: () => undefined,
  idToToken: () => undefined,
};

const tiny = async () => (await loadModel(fixtureDir('t5gemma-tiny'))) as T5GemmaModel;

test('classifier logits = golden encoder state at the last real token @ W^T + b', async () => {
  const model = await tiny();
  const clf = superglueClassifier(model, 3, 1);
  (clf.headParams.get('score.bias') as tf.Variable).assign(tf.tensor1d([0.5, -1, 2]));
  const W = (clf.headParams.get('score.weight') as tf.Variable).arraySync() as number[][];
  for (const c of goldenCases('t5gemma-tiny') as Case[]) {
    const got = clf.logits(batchFromRows(c.input_ids, c.attention_mask));
    const want = c.outputs.encoder_hidden_states.map((rows, b) => {
      const len = (c.attention_mask[b] as number[]).reduce((s, m) => s + m, 0);
      const h = rows[len - 1] as number[];
      return W.map((w, k) => w.reduce((s, x, d) => s + x * (h[d] as number), 0) + [0.5, -1, 2][k]!);
    });
    assertAllClose(got.arraySync(), want, TOL.parityF32, `${c.name} classifier logits`);
    got.dispose();
  }
  clf.dispose();
  model.dispose();
});

test('fine-tuned classifier on a separable BoolQ-shaped task: predictions feed scoreSuperGlueTask and the submission writer', async () => {
  const model = await tiny();
  const clf = superglueClassifier(model, 2, 3);
  const records: BoolQRecord[] = Array.from({ length: 24 }, (_, i) => ({ idx: i, question: `q${i % 5}`, passage: i % 2 ? 'yes yes yes' : 'no no no', label: i % 2 }));
  const data = classificationData(superglueExamples('boolq', records), 8, { tokenizer: charTok, maxLength: 32 });
  await train(clf, data, { seed: 1, maxSteps: 20, schedule: { lr: 3e-3, decay: 'constant' } });
  const res = await classifySuperGlue(clf, 'boolq', records, { tokenizer: charTok, maxLength: 32, batchSize: 5 });
  assert.equal(res.task, 'boolq');
  const preds = res.predictions as { idx: number; prediction: number }[];
  assert.deepEqual(preds.map((p) => p.idx), records.map((r) => r.idx));
  const score = scoreSuperGlueTask('boolq', preds.map((p) => p.prediction), records.map((r) => r.label as number));
  console.log(`toy BoolQ accuracy after 20 steps: ${score.metrics.accuracy}`);
  assert.equal(score.metrics.accuracy, 1);
  const file = await writeSuperGlueSubmission(tmp, 'boolq', preds, { checkSize: false });
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { idx: number; label: string });
  assert.deepEqual(lines[1], { idx: 1, label: 'true' });
  clf.dispose();
  model.dispose();
});

test('real SuperGLUE val files: CB/COPA/MultiRC and a ReCoRD record score end to end (untrained tiny model)', async () => {
  const model = await tiny();
  const o = { tokenizer: charTok, maxLength: 48, batchSize: 32 };
  const cb = await loadSuperGlue('cb', sharedDataPath('superglue', 'cb', 'val.jsonl'));
  const cbPred = await classifySuperGlue(superglueClassifier(model, 3), 'cb', cb.records, o);
  const p = cbPred.predictions as { idx: number; prediction: number }[];
  assert.equal(p.length, 56);
  assert.ok(p.every((x) => [0, 1, 2].includes(x.prediction)));
  const r = scoreSuperGlueTask('cb', p.map((x) => x.prediction), cb.records.map((x) => x.label as number));
  assert.ok(r.metrics.accuracy !== undefined && r.metrics.macro_f1 !== undefined);
  await assert.rejects(classifySuperGlue(superglueClassifier(model, 2), 'cb', cb.records, o), /3-way head/);

  const copa = await loadSuperGlue('copa', sharedDataPath('superglue', 'copa', 'val.jsonl'));
  const copaPred = (await classifySuperGlue(superglueClassifier(model, 2), 'copa', copa.records.slice(0, 10), o)).predictions as { idx: number; prediction: number }[];
  assert.deepEqual(copaPred.map((x) => x.idx), copa.records.slice(0, 10).map((x) => x.idx));
  assert.ok(copaPred.every((x) => x.prediction === 0 || x.prediction === 1));

  const mrc = await loadSuperGlue('multirc', sharedDataPath('superglue', 'multirc', 'val.jsonl'));
  const mrcRes = await classifySuperGlue(superglueClassifier(model, 2), 'multirc', mrc.records.slice(0, 2), o);
  assert.equal(mrcRes.task, 'multirc');
  const options = mrcRes.task === 'multirc' ? mrcRes.predictions : [];
  const nAnswers = mrc.records.slice(0, 2).flatMap((x) => x.questions.flatMap((q) => q.answers)).length;
  assert.equal(options.length, nAnswers);
  const scored = scoreMultiRC(options.map((x) => ({ ...x, label: x.label as number })));
  assert.ok(scored.metrics.f1a !== undefined && scored.metrics.em !== undefined);
  await writeMultiRCSubmission(tmp, options, { checkSize: false });

  const passage = 'Ann met Bob in Paris. Bob likes Paris.';
  const rec: ReCoRDRecord = {
    idx: 0,
    source: 'test',
    passage,
    entities: [
      { start: 0, end: 2, text: 'Ann' },
      { start: 8, end: 10, text: 'Bob' },
      { start: 15, end: 19, text: 'Paris' },
    ],
    queries: [{ idx: 7, query: '@placeholder is a city', answers: [{ start: 15, end: 19, text: 'Paris' }] }],
  };
  const recRes = await classifySuperGlue(superglueClassifier(model, 2), 'record', [rec], o);
  const recPred = recRes.task === 'record' ? recRes.predictions : new Map<number, string>();
  assert.ok(['Ann', 'Bob', 'Paris'].includes(recPred.get(7) as string));
  const rs = scoreReCoRD(recPred, [{ idx: 7, answers: ['Paris'] }]);
  assert.equal(rs.metrics.record_em, recPred.get(7) === 'Paris' ? 1 : 0);
  model.dispose();
});

test('text-to-text: a decoder taught to answer "True" yields class 1 through generate + parseGenerated', async () => {
  const model = await tiny();
  const records: BoolQRecord[] = Array.from({ length: 6 }, (_, i) => ({ idx: i, question: `is it ${i}?`, passage: 'it is.', label: i < 4 ? 1 : 0 }));
  const before = await generateSuperGlue(model, 'boolq', records, { tokenizer: charTok, maxLength: 40, maxNewTokens: 6 });
  // Untrained: whatever it generates, the prediction is the verbalizer index of the text, else -1.
  const verbal = (g: string) => ['false', 'true'].indexOf(g.trim().toLowerCase());
  assert.deepEqual((before.predictions as { prediction: number }[]).map((p) => p.prediction), before.generations.map(verbal));
  const target = [...charTok.encode('True', { addBos: false }), 1];
  const batch = collateSeq2Seq(
    records.map((r) => ({ inputIds: charTok.encode(`boolq question: ${r.question} passage: ${r.passage}`).slice(0, 39).concat(1), ...teacherForce(target, 2) })),
    0,
  );
  await train(seq2seqTrainable(model), { epoch: () => [batch], size: () => 6 }, { seed: 2, maxSteps: 40, schedule: { lr: 1e-2, decay: 'constant' } });
  const res = await generateSuperGlue(model, 'boolq', records, { tokenizer: charTok, maxLength: 40, maxNewTokens: 6, batchSize: 4 });
  assert.deepEqual(res.generations, records.map(() => 'True'));
  const preds = res.predictions as { idx: number; prediction: number }[];
  assert.deepEqual(preds.map((p) => p.prediction), [1, 1, 1, 1, 1, 1]);
  assert.equal(scoreSuperGlueTask('boolq', preds.map((p) => p.prediction), records.map((r) => r.label as number)).metrics.accuracy, 4 / 6);
  const beam = await generateSuperGlue(model, 'boolq', records.slice(0, 2), { tokenizer: charTok, maxLength: 40, maxNewTokens: 6, numBeams: 2 });
  assert.deepEqual(beam.generations, ['True', 'True']);
  model.dispose();
});

test('fine-tuning data from real CB/COPA train files: labelled, length-bucketed, reproducible; a few steps train', async () => {
  const cb = await loadSuperGlue('cb', sharedDataPath('superglue', 'cb', 'train.jsonl'));
  const ex = superglueExamples('cb', cb.records);
  assert.equal(ex.length, 250);
  const data = classificationData(ex, 16, { tokenizer: charTok, maxLength: 48 });
  const e0 = data.epoch(0, new Rng('x'));
  assert.deepEqual(data.epoch(0, new Rng('x')), e0);
  assert.equal(e0.reduce((n, b) => n + data.size(b), 0), 250);
  assert.ok(e0.every((b) => b.labels.every((l) => l === 0 || l === 1 || l === 2) && b.ids.length === b.batch * b.length && b.mask.length === b.ids.length));
  const copa = await loadSuperGlue('copa', sharedDataPath('superglue', 'copa', 'train.jsonl'));
  const copaEx = superglueExamples('copa', copa.records);
  assert.equal(copaEx.length, 800, 'two binary examples per COPA item');
  assert.equal(copaEx.filter((e) => e.label === 1).length, 400);
  const model = await tiny();
  const clf = superglueClassifier(model, 3);
  const res = await train(clf, data, { seed: 1, maxSteps: 3, schedule: { lr: 1e-3, decay: 'constant' } });
  assert.ok(res.logs.every((l) => Number.isFinite(l.loss)));
  clf.dispose();
  model.dispose();
});
