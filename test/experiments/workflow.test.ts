/**
 * The analyst workflow on a tiny random checkpoint with real task files (a few steps each): honest
 * selection recorded per run, Ctrl-C + resume giving the uninterrupted numbers, deterministic shards
 * merging into the unsharded grid, bad input refused before training, leaderboard test predictions,
 * HF export reloading bit for bit, seed statistics.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { assertAllClose, TOL } from '../helpers/close.js';
import { CORPUS_TOKENIZER as TOKENIZER, saveTinyCheckpoint } from '../helpers/checkpoint.js';
import { AbortedError, ConfigError, DataFileError } from '../../src/errors.js';
import { mergeRecords, readRecords } from '../../src/experiments/store.js';
import { parseShard } from '../../src/experiments/runner.js';
import { loadGemmaModel } from '../../src/models/load.js';
import { encodeBatch } from '../../src/tokenize/index.js';
import { loadEmbedder } from '../../src/embed/embed.js';
import { readStPipeline } from '../../src/embed/st.js';
import { exportHf, loadFinetuned, saveSentenceTransformerLayout } from '../../src/workflow/export.js';
import { evaluate, finetune, parseTask, predictTest, taskEncoder } from '../../src/workflow/finetune.js';
import { seedStats, t975 } from '../../src/workflow/stats.js';
import { runWorkflowSweep, type WorkflowSweepSpec } from '../../src/workflow/sweep.js';

const { dir, tok } = await saveTinyCheckpoint('workflow-');
const budget = { steps: 4, batch: 4, lr: 1e-3, trainLimit: 32, devLimit: 16, maxLength: 24, evalEvery: 2 };
const spec = (seeds: number[]): WorkflowSweepSpec => ({ name: 't', model: dir, tasks: ['rte'], seeds, budgets: [budget] });

test('sweep: each run records which split chose what; dev scored once; rerun skips recorded runs', async () => {
  const out = mkdtempSync(join(tmpdir(), 'wf-out-'));
  const res = await runWorkflowSweep(spec([0]), { out });
  const [r] = readRecords(join(out, 'results.jsonl'));
  assert.equal(res.ran, 1);
  assert.equal(r?.extra?.selectedBy, 'validation (3 rows carved from train, stratified=true, seed 0)');
  assert.equal(r?.extra?.devEvaluations, 1);
  assert.equal(r?.metrics.accuracy, r?.value);
  assert.ok(Number.isInteger((r?.value as number) * 16), 'accuracy over the 16 dev rows');
  assert.equal((await runWorkflowSweep(spec([0]), { out })).skipped, 1);
});

test('Ctrl-C mid-run saves a checkpoint; --resume ends with the uninterrupted numbers', async () => {
  const straight = mkdtempSync(join(tmpdir(), 'wf-a-'));
  await runWorkflowSweep(spec([1]), { out: straight });
  const want = readRecords(join(straight, 'results.jsonl'))[0];
  const out = mkdtempSync(join(tmpdir(), 'wf-b-'));
  const ac = new AbortController();
  await assert.rejects(
    runWorkflowSweep(spec([1]), { out, signal: ac.signal, onProgress: (e) => e.phase.endsWith('train') && e.done === 2 && ac.abort(new Error('Ctrl-C')) }),
    AbortedError,
  );
  assert.ok(!existsSync(join(out, 'results.jsonl')), 'nothing recorded for the interrupted run');
  const steps: number[] = [];
  await runWorkflowSweep(spec([1]), { out, resume: true, onProgress: (e) => e.phase.endsWith('train') && steps.push(e.done) });
  assert.deepEqual(steps, [3, 4], 'resumed after step 2');
  const got = readRecords(join(out, 'results.jsonl'))[0];
  assert.equal(got?.key, want?.key);
  assert.deepEqual(got?.metrics, want?.metrics);
  assert.equal(got?.extra?.bestValidation, want?.extra?.bestValidation);
});

test('--shard k/N: disjoint deterministic job sets whose merge is the whole grid; conflicting copies refused', async () => {
  const a = mkdtempSync(join(tmpdir(), 'wf-s1-'));
  const b = mkdtempSync(join(tmpdir(), 'wf-s2-'));
  const s = { ...spec([2, 3]), budgets: [{ ...budget, evalEvery: 4 }] };
  await runWorkflowSweep(s, { out: a, shard: parseShard('1/2') });
  await runWorkflowSweep(s, { out: b, shard: parseShard('2/2') });
  const ra = readRecords(join(a, 'results.jsonl'));
  const rb = readRecords(join(b, 'results.jsonl'));
  assert.deepEqual([ra.map((r) => r.seed), rb.map((r) => r.seed)], [[2], [3]]);
  const merged = mkdtempSync(join(tmpdir(), 'wf-m-'));
  const all = await mergeRecords([join(a, 'results.jsonl'), join(b, 'results.jsonl')], join(merged, 'results.jsonl'));
  assert.deepEqual(all.map((r) => r.seed), [2, 3]);
  assert.equal(readRecords(join(merged, 'results.jsonl')).length, 2);
  const bad = join(merged, 'bad.jsonl');
  writeFileSync(bad, JSON.stringify({ ...ra[0], value: 0.123, metrics: { accuracy: 0.123 } }) + '\n');
  await assert.rejects(mergeRecords([join(a, 'results.jsonl'), bad], join(merged, 'x.jsonl')), DataFileError);
  assert.throws(() => parseShard('3/2'), ConfigError);
});

test('bad input fails before any training: unknown task, batch > examples, lr <= 0, test file row count', async () => {
  const out = mkdtempSync(join(tmpdir(), 'wf-bad-'));
  await assert.rejects(runWorkflowSweep({ ...spec([0]), tasks: ['rtee'] }, { out }), /unknown task 'rtee'/);
  await assert.rejects(runWorkflowSweep({ ...spec([0]), budgets: [{ ...budget, lr: 0 }] }, { out }), /lr must be > 0/);
  await assert.rejects(runWorkflowSweep({ ...spec([0]), budgets: [{ ...budget, trainLimit: 3, evalEvery: 4 }] }, { out }), /batch 4 is larger than the 3 training examples/);
  await assert.rejects(runWorkflowSweep({ ...spec([0]), budgets: [{ ...budget, steps: 2, epochs: 1 }] }, { out }), /give steps or epochs, not both/);
  const testFile = join(out, 'test.tsv');
  writeFileSync(testFile, 'index\tsentence1\tsentence2\n0\ta\tb\n');
  await assert.rejects(runWorkflowSweep({ ...spec([0]), testFiles: { rte: testFile } }, { out }), /1 rows, the official rte test split has 3000/);
  assert.ok(!existsSync(join(out, 'results.jsonl')));
});

test('test predictions in the GLUE leaderboard format (WNLI, 146 rows)', async () => {
  const out = mkdtempSync(join(tmpdir(), 'wf-test-'));
  const file = join(out, 'test.tsv');
  writeFileSync(file, ['index\tsentence1\tsentence2', ...Array.from({ length: 146 }, (_, i) => `${i}\tThe cat sat number ${i}.\tA cat sat.`)].join('\n') + '\n');
  const model = await loadGemmaModel(dir);
  const enc = taskEncoder(model, parseTask('wnli'), { pooling: 'last' });
  try {
    const path = await predictTest(enc, parseTask('wnli'), file, out, { tokenizer: tok, maxLength: 24 });
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    assert.equal(path, join(out, 'WNLI.tsv'));
    assert.equal(lines[0], 'index\tprediction');
    assert.equal(lines.length, 147);
    assert.ok(lines.slice(1).every((l, i) => new RegExp(`^${i}\\t[01]$`).test(l)));
  } finally {
    enc.dispose();
    model.dispose();
  }
});

async function roundTrip(pooling: 'last' | 'mean', bias: boolean) {
  const model = await loadGemmaModel(dir);
  const ref = parseTask('mrpc');
  const enc = taskEncoder(model, ref, { pooling, bias, attention: 'causal' }, 7);
  const out = mkdtempSync(join(tmpdir(), 'wf-exp-'));
  for (const v of enc.head.params.values()) v.assign(tf.randomNormal(v.shape, 0, 0.3, 'float32', 1));
  await exportHf(enc, model, out, { task: 'mrpc', attention: 'causal', labels: ['not_equivalent', 'equivalent'], tokenizerDir: TOKENIZER });
  const back = await loadFinetuned(out);
  const batch = encodeBatch(tok, [['a man is here', 'a man is there'], ['no', 'yes indeed']], { maxLength: 24 });
  const [x, y] = [enc.logits(batch), back.encoder.logits(batch)];
  const same = Buffer.from((x.dataSync() as Float32Array).buffer).equals(Buffer.from((y.dataSync() as Float32Array).buffer));
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  tf.dispose([x, y]);
  for (const m of [enc, back.encoder, model, back.model]) m.dispose();
  return { same, cfg, out, labels: back.labels };
}

test('export: last pooling without bias = HF Gemma*ForSequenceClassification score.weight; others a documented head file; both reload bit for bit', async () => {
  const hf = await roundTrip('last', false);
  assert.ok(hf.same, 'identical logits after reload');
  assert.deepEqual(hf.cfg.architectures, ['Gemma2ForSequenceClassification']);
  assert.deepEqual([hf.cfg.num_labels, hf.cfg.problem_type, hf.cfg.id2label], [2, 'single_label_classification', { 0: 'not_equivalent', 1: 'equivalent' }]);
  assert.ok(!existsSync(join(hf.out, 'gemma_lab_head.safetensors')));
  const header = readFileSync(join(hf.out, 'model.safetensors'));
  assert.match(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString(), /"score.weight":\{"dtype":"F32","shape":\[2,16\]/);
  const own = await roundTrip('mean', true);
  assert.ok(own.same);
  assert.deepEqual(own.cfg.architectures, ['Gemma2ForCausalLM']);
  assert.ok(existsSync(join(own.out, 'gemma_lab_head.safetensors')));
  assert.deepEqual(own.labels, ['not_equivalent', 'equivalent']);
});

test('sentence-transformers layout of a bi-encoder: modules, pooling mode, reloadable backbone', async () => {
  const model = await loadGemmaModel(dir);
  const enc = taskEncoder(model, parseTask('msmarco:embed'), { pooling: 'mean' });
  const out = mkdtempSync(join(tmpdir(), 'wf-st-'));
  try {
    await saveSentenceTransformerLayout(enc, model, out, { task: 'msmarco:embed', attention: 'bidirectional_global', tokenizerDir: TOKENIZER, maxLength: 32 });
    const modules = JSON.parse(readFileSync(join(out, 'modules.json'), 'utf8')) as { type: string }[];
    assert.deepEqual(modules.map((m) => m.type.split('.').pop()), ['Transformer', 'Pooling', 'Normalize']);
    const pipeline = await readStPipeline(out, model.config.hiddenSize);
    assert.deepEqual(pipeline.modules.map((m) => (m.kind === 'pooling' ? `pooling:${m.modes.join('+')}` : m.kind)), ['pooling:mean', 'normalize']);
    assert.equal(pipeline.maxSeqLength, 32);
    assert.ok(existsSync(join(out, 'tokenizer.json')) && existsSync(join(out, 'config_sentence_transformers.json')));
    const back = await loadFinetuned(out);
    const batch = encodeBatch(tok, ['what is a cat'], { maxLength: 32 });
    const [a, b] = [enc.embed(batch), back.encoder.embed(batch)];
    assert.deepEqual(a.dataSync(), b.dataSync());
    // The embedder's reader (what `rank retrieve` uses) runs the trained attention (Gemma 2's HF config is
    // causal; the export records bidirectional_global) and gives the encoder's pooled vector, L2-normalised.
    const st = await loadEmbedder(out);
    try {
      assert.equal(st.mode, 'bidirectional_global');
      const want = tf.tidy(() => tf.div(a, tf.norm(a, 2, 1, true)).arraySync() as number[][]);
      assertAllClose(st.embed(['what is a cat']), want, TOL.parityF32, 'loadEmbedder vs encoder.embed');
    } finally {
      st.dispose();
    }
    tf.dispose([a, b]);
    back.encoder.dispose();
    back.model.dispose();
  } finally {
    enc.dispose();
    model.dispose();
  }
});

test('sentence-transformers layout of a last-token bi-encoder without bias: lasttoken Pooling, backbone-only model.safetensors', async () => {
  const model = await loadGemmaModel(dir);
  const enc = taskEncoder(model, parseTask('msmarco:embed'), { pooling: 'last', bias: false });
  const out = mkdtempSync(join(tmpdir(), 'wf-st-last-'));
  try {
    await saveSentenceTransformerLayout(enc, model, out, { task: 'msmarco:embed', attention: 'bidirectional_global', tokenizerDir: TOKENIZER, maxLength: 32 });
    assert.ok(existsSync(join(out, 'gemma_lab_head.safetensors')), 'the head stays out of the ST backbone');
    const st = await loadEmbedder(out);
    try {
      assert.deepEqual(st.pipeline.modules.map((m) => (m.kind === 'pooling' ? `pooling:${m.modes.join('+')}` : m.kind)), ['pooling:lasttoken', 'normalize']);
      const a = enc.embed(encodeBatch(tok, ['what is a cat'], { maxLength: 32 }));
      const want = tf.tidy(() => tf.div(a, tf.norm(a, 2, 1, true)).arraySync() as number[][]);
      a.dispose();
      assertAllClose(st.embed(['what is a cat']), want, TOL.parityF32, 'lasttoken embedder vs encoder.embed');
    } finally {
      st.dispose();
    }
  } finally {
    enc.dispose();
    model.dispose();
  }
});

test('finetune/evaluate on a SuperGLUE task (CB, 3 classes): table, curves, confusion matrix', async () => {
  const model = await loadGemmaModel(dir);
  const r = await finetune(model, 'superglue:cb', { steps: 2, batch: 4, lr: 1e-3, trainLimit: 16, devLimit: 12, maxLength: 32, evalEvery: 1 }, { tokenizer: tok });
  try {
    assert.equal(r.selection.by, 'validation');
    assert.equal(r.evals.length, 2);
    const m = r.confusion?.matrix as number[][];
    assert.equal(m.flat().reduce((a, b) => a + b, 0), 12, 'every dev row in the confusion matrix');
    const acc = m.reduce((a, row, i) => a + (row[i] as number), 0) / 12;
    assert.equal(r.metrics.accuracy, acc);
    assert.equal(r.score, (r.metrics.accuracy! + r.metrics.macro_f1!) / 2);
    assert.deepEqual(r.table.columnNames(), ['split', 'model', 'metric', 'value']);
    assert.ok(r.charts.loss && r.charts.validation && r.charts.confusion);
    const again = await evaluate(r.encoder, 'superglue:cb', { tokenizer: tok, maxLength: 32, devLimit: 12 });
    assert.equal(again.score, r.score, 'evaluate() reproduces the final dev score');
  } finally {
    r.encoder.dispose();
    model.dispose();
  }
});

test('seed statistics: Student-t 95% interval', () => {
  assert.equal(t975(1), 12.706);
  assert.equal(t975(30), 2.042);
  assert.ok(Math.abs(t975(120) - 1.9799) < 5e-4, `t(0.975, 120) = 1.9799, got ${t975(120)}`);
  const s = seedStats([0.5, 0.6, 0.7]);
  assert.ok(Math.abs(s.mean - 0.6) < 1e-12 && Math.abs(s.std - 0.1) < 1e-12);
  assert.ok(Math.abs(s.hi - (0.6 + (4.303 * 0.1) / Math.sqrt(3))) < 1e-12);
  assert.ok(Number.isNaN(seedStats([0.5]).lo));
});

test('finetune on a T5Gemma checkpoint fine-tunes its encoder (SuperGLUE RTE, the T5Gemma classification route)', async () => {
  const { loadModel } = await import('../../src/models/load.js');
  const { fixtureDir } = await import('../t5gemma/golden.js');
  const t5 = await loadModel(fixtureDir('t5gemma-tiny'));
  // Character-level ids inside the fixture's 256-token vocabulary.
  const charTok = { ...tok, vocabSize: 256, padId: 0, bosId: 2, eosId: 1, encode: (text: string, o?: { addBos?: boolean }) => [...((o?.addBos ?? true) ? [2] : []), ...[...text].map((ch) => 16 + ((ch.codePointAt(0) as number) % 240))] };
  const decoderBefore = [...t5.params].filter(([n]) => n.startsWith('model.decoder.')).map(([, v]) => v.dataSync().slice());
  const encoderBefore = (t5.params.get('model.encoder.layers.0.mlp.up_proj.weight') as tf.Variable).dataSync().slice();
  const r = await finetune(t5, 'superglue:rte', { steps: 2, batch: 4, lr: 1e-2, trainLimit: 16, devLimit: 8, maxLength: 32 }, { tokenizer: charTok, variant: { pooling: 'last' } });
  try {
    assert.equal(r.selection.by, 'none');
    assert.equal(r.confusion?.matrix.flat().reduce((a, b) => a + b, 0), 8);
    assert.notDeepEqual((t5.params.get('model.encoder.layers.0.mlp.up_proj.weight') as tf.Variable).dataSync(), encoderBefore, 'encoder trained');
    const decoderAfter = [...t5.params].filter(([n]) => n.startsWith('model.decoder.')).map(([, v]) => v.dataSync());
    assert.deepEqual(decoderAfter, decoderBefore, 'decoder untouched');
  } finally {
    r.encoder.dispose();
    t5.dispose();
  }
});
