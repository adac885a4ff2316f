/**
 * Findings (f)-(h)'s run function on the shipped pretrained Gemma 3 with tiny budgets: a bi-encoder from
 * the adapted encoder-decoder and a causal cross-encoder, scored on the first TREC DL queries (BM25 on the
 * same queries) and STS-B pairs; held-out triples choose the step; same job, same numbers.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { initEngine } from '../../src/engine/index.js';
import { FINDINGS_V2, modelIdentity } from '../../src/experiments/index.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { rankFindingRun } from '../../src/workflow/index.js';

const MODEL = join(REPO_ROOT, 'data', 'models', 'tiny-gemma-pretrained');
const budget = async () => ({
  adaptSteps: 1, adaptBatch: 2, adaptSeqLen: 32, adaptLr: 1e-3,
  steps: 2, batch: 4, lr: 1e-3, maxLength: 48, validation: 8, evalEvery: 1, temperature: 0.05, queries: 2, stsLimit: 24,
  ...(await modelIdentity(MODEL)),
});

test('rankFindingRun: bi-encoder from the adapted encoder-decoder, scored on TREC DL and STS-B; deterministic', async () => {
  await initEngine();
  const job = { variant: { model: 'bi', init: 'encoder_decoder', pooling: 'mean', attention: 'bidirectional_global' }, seed: 1, task: 'embed', budget: await budget() };
  const r = await rankFindingRun(job, {});
  const m = r.metrics!;
  for (const k of ['ndcg10_dl19', 'ndcg10_dl20', 'bm25_ndcg10_dl19', 'bm25_ndcg10_dl20']) assert.ok(m[k]! >= 0 && m[k]! <= 1, `${k} ${m[k]}`);
  assert.ok(m.stsb_spearman! >= -1 && m.stsb_spearman! <= 1);
  assert.ok(Math.abs(r.value - (m.ndcg10_dl19! + m.ndcg10_dl20! + m.stsb_spearman!) / 3) < 1e-12);
  assert.equal(r.extra?.trainGroups, 92);
  const v = r.extra?.validationScore as number;
  assert.ok(Math.abs(v * 8 - Math.round(v * 8)) < 1e-9, `validation ${v} is a fraction of 8 groups`);
  const again = await rankFindingRun(job, {});
  assert.equal(again.value, r.value);
});

test('rankFindingRun: causal cross-encoder reranks (BM25 scored on the same queries); wrong task refused', async () => {
  const b = await budget();
  const r = await rankFindingRun({ variant: { model: 'cross', init: 'decoder', pooling: 'last', attention: 'causal' }, seed: 0, task: 'rerank', budget: b }, {});
  const m = r.metrics!;
  assert.equal(m.stsb_spearman, undefined);
  assert.ok(Math.abs(r.value - (m.ndcg10_dl19! + m.ndcg10_dl20!) / 2) < 1e-12);
  // BM25 depends only on the query subset: the same whichever model reranks or retrieves.
  const bi = await rankFindingRun({ variant: { model: 'bi', init: 'random', pooling: 'first', attention: 'bidirectional_global' }, seed: 0, task: 'embed', budget: { ...b, steps: 1 } }, {});
  assert.equal(bi.metrics!.bm25_ndcg10_dl19, m.bm25_ndcg10_dl19);
  await assert.rejects(
    rankFindingRun({ variant: { model: 'cross', init: 'decoder', pooling: 'last', attention: 'causal' }, seed: 0, task: 'embed', budget: b }, {}),
    (e: unknown) => e instanceof ConfigError && /runs task 'rerank'/.test(e.message),
  );
});

test('ranking findings (f)-(h): the paper directions and the shared adaptation budget', () => {
  const f = FINDINGS_V2.embed_init_v2!;
  assert.deepEqual(f.expected, { encoder_decoder: 1, random: -1 });
  assert.equal(FINDINGS_V2.embed_pooling_v2!.variants.length, 4);
  assert.equal(FINDINGS_V2.rerank_attention_v2!.tasks[0], 'rerank');
  for (const k of ['adaptSteps', 'adaptBatch', 'adaptSeqLen', 'adaptLr']) assert.equal(f.budget[k], FINDINGS_V2.seq2seq_v2!.budget[k], `${k}: adapted arms shared with (e)`);
});
