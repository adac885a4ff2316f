import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { tinyGemma2 } from '../helpers/tiny.js';
import { toEncoder, type GemmaEncoder } from '../../src/encoder/encoder.js';
import { initEngine } from '../../src/engine/index.js';
import { sharedDataPath } from '../../src/io/paths.js';
import { GemmaModel } from '../../src/models/gemma.js';
import { denseRetrieve } from '../../src/rank/dense.js';
import { CrossEncoderObjective, EncoderEmbedder, EncoderPairScorer, rankingBatch, groupsFromBge, groupsFromTriples, rankingData, type RankTextOptions } from '../../src/rank/encoder.js';
import type { Tokenizer } from '../../src/tokenize/index.js';
import { rerank } from '../../src/rank/rerank.js';
import { Rng } from '../../src/rng/index.js';
import { ConfigError } from '../../src/errors.js';
import { loadBgeJsonl, streamTriples, type Triple } from '../../src/tasks/msmarco.js';
import { train } from '../../src/train/trainer.js';
import { assertAllClose, TOL } from '../helpers/close.js';

// A tiny random Gemma 2 (vocab 32) and a byte "tokenizer" mapping each UTF-8 byte into ids 3..31.
const CONFIG = tinyGemma2({ vocab_size: 32, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, head_dim: 8, query_pre_attn_scalar: 8, sliding_window: 4, layer_types: ['sliding_attention', 'full_attention'], initializer_range: 0.5, max_position_embeddings: 64 }, 'rank-test-config');
const bytes = (t: string): number[] => [...Buffer.from(t, 'utf8')].map((b) => 3 + (b % 29));
const TOK: Tokenizer = {
  encode: (text, opts) => [...(opts?.addBos === false ? [] : [2]), ...bytes(text), ...(opts?.addEos ? [1] : [])],
  decode: () => assert.fail('not used'),
  vocabSize: 32,
  padId: 0,
  bosId: 2,
  eosId: 1,
  tokenToId: () => undefined,
  idToToken: () => undefined,
};
const OPTS: RankTextOptions = { maxLength: 20, addEos: true };

/** Independent path: backbone forward of one unpadded sequence, mean over its tokens (float64), then the head. */
function directScore(model: GemmaModel, enc: GemmaEncoder, ids: number[]): number {
  const pooled = directMean(model, ids);
  const w = enc.headParams.get('score.weight')?.dataSync() as Float32Array;
  const b = enc.headParams.get('score.bias')?.dataSync()[0] as number;
  return pooled.reduce((s, v, i) => s + v * (w[i] as number), b);
}

function directMean(model: GemmaModel, ids: number[]): number[] {
  const out = model.forward([ids], { attentionMask: [ids.map(() => 1)], attention: 'bidirectional_global', logits: false });
  const h = (out.hiddenStates.arraySync() as number[][][])[0] as number[][];
  out.hiddenStates.dispose();
  return (h[0] as number[]).map((_, d) => h.reduce((s, row) => s + (row[d] as number), 0) / h.length);
}

describe('encoder adapters (tiny random Gemma 2)', () => {
  let model: GemmaModel;
  let enc: GemmaEncoder;
  before(async () => {
    await initEngine();
    model = GemmaModel.random(CONFIG, 5);
    enc = toEncoder(model, { attention: 'bidirectional_global', pooling: 'mean', head: { kind: 'ranking', loss: 'pointwise' }, seed: 9 });
    // The head starts at bias 0 with small weights; give it a visible bias so the test sees it.
    enc.headParams.get('score.bias')?.assign(tf.tensor1d([0.25]));
  });
  after(() => {
    enc.dispose();
    model.dispose();
  });

  it('rows are `bos query eos passage eos`, right padded, long pairs cut to maxLength', () => {
    const b = rankingBatch(TOK, [['ab', 'cd'], ['q', 'x'.repeat(50)]], OPTS);
    assert.equal(b.batch, 2);
    assert.equal(b.length, 20);
    const row0 = [2, ...bytes('ab'), 1, ...bytes('cd'), 1];
    assert.deepEqual([...b.ids.slice(0, 20)], [...row0, ...Array(20 - row0.length).fill(0)]);
    assert.deepEqual([...b.mask.slice(0, 20)], [...row0.map(() => 1), ...Array(20 - row0.length).fill(0)]);
    assert.deepEqual([...b.ids.slice(20, 24)], [2, ...bytes('q'), 1, ...bytes('x')]);
    assert.equal(b.ids[39], 1);
  });

  it('pair scores equal a direct backbone forward + mean pool + head per unpadded pair', async () => {
    const scorer = new EncoderPairScorer(enc, TOK, OPTS);
    const q = ['red fox', 'a', 'what is the capital of france'];
    const p = ['the quick red fox jumps', 'b', 'paris'];
    const got = await scorer.scoreBatch(q, p);
    // Rows 0 and 2 exceed maxLength 20 and are cut (checked above); the reference gets those exact rows.
    const ids = (i: number): number[] => {
      const full = [2, ...bytes(q[i] as string), 1, ...bytes(p[i] as string), 1];
      return full.length <= 20 ? full : [...rankingBatch(TOK, [[q[i] as string, p[i] as string]], OPTS).ids];
    };
    const wantExact = q.map((_, i) => directScore(model, enc, ids(i)));
    const err = assertAllClose(got, wantExact, TOL.parityF32, 'pair scores vs direct forward');
    assert.ok(err < 1e-5, `max error ${err}`);
    console.log(`pair scores vs direct forward: max |err| ${err.toExponential(2)}`);
    // Scores differ between pairs (a constant scorer would pass the closeness check only by accident).
    assert.ok(Math.abs((got[0] as number) - (got[1] as number)) > 1e-4);
  });

  it('embeddings equal a direct forward + mean pool of `bos prefix+text eos`', async () => {
    const emb = new EncoderEmbedder(enc, TOK, { ...OPTS, queryPrefix: 'q: ', passagePrefix: 'p: ' });
    const texts = ['hello world', 'x', 'a longer passage about foxes'];
    const got = await emb.embed(texts, 'query');
    texts.forEach((t, i) => {
      const want = directMean(model, [2, ...bytes(`q: ${t}`).slice(0, 18), 1]); // maxLength 20 cuts the text
      assertAllClose(got[i] as Float32Array, want, TOL.parityF32, `query embedding ${i}`);
    });
    const asPassage = await emb.embed(['x'], 'passage');
    assertAllClose(asPassage[0] as Float32Array, directMean(model, [2, ...bytes('p: x'), 1]), TOL.parityF32, 'passage embedding');
  });

  it('embeds in forward passes of batchSize texts, each text as if alone', async () => {
    const texts = ['hello world', 'x', 'a longer passage about foxes', 'sky', 'red'];
    const got = await new EncoderEmbedder(enc, TOK, { ...OPTS, batchSize: 2 }).embed(texts, 'passage');
    assert.equal(got.length, 5);
    texts.forEach((t, i) => assertAllClose(got[i] as Float32Array, directMean(model, [2, ...bytes(t).slice(0, 18), 1]), TOL.parityF32, `chunked embedding ${i}`));
    assert.deepEqual(await new EncoderEmbedder(enc, TOK, { ...OPTS, batchSize: 2 }).embed([], 'query'), []);
    await assert.rejects(new EncoderEmbedder(enc, TOK, { ...OPTS, batchSize: 0 }).embed(texts, 'query'), (e: unknown) => e instanceof ConfigError && /field 'batchSize': must be a positive integer, got 0/.test(e.message));
  });

  it('rerank and denseRetrieve run end to end on the model', async () => {
    const scorer = new EncoderPairScorer(enc, TOK, OPTS);
    const cands = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'].map((t, i) => ({ docid: `${i}`, text: t }));
    const run = await rerank([{ qid: '1', query: 'greek letters', candidates: cands }], scorer, { batchSize: 2 });
    const one = await scorer.scoreBatch(cands.map(() => 'greek letters'), cands.map((c) => c.text));
    const want = [...one].map((s, i) => ({ docid: `${i}`, s })).sort((a, b) => b.s - a.s || (a.docid < b.docid ? 1 : -1));
    assert.deepEqual(run.get('1')?.map((e) => e.docid), want.map((w) => w.docid));
    const dense = await denseRetrieve([{ qid: '1', text: 'greek' }], cands.map((c) => ({ pid: c.docid, text: c.text })), new EncoderEmbedder(enc, TOK, OPTS), { k: 3, similarity: 'cosine' });
    assert.equal(dense.get('1')?.length, 3);
  });

  it('objective: pointwise loss = BCE of the scorer scores (labels 1, 0); pairwise = softmax CE', async () => {
    const batch = { queries: ['red fox', 'sky'], positives: ['a red fox', 'blue sky'], negatives: [['green car', 'a tree'], ['sea', 'land']] };
    const scorer = new EncoderPairScorer(enc, TOK, OPTS);
    const rows: number[][] = [];
    for (let i = 0; i < 2; i++) {
      const s = await scorer.scoreBatch(Array(3).fill(batch.queries[i]), [batch.positives[i] as string, ...(batch.negatives[i] as string[])]);
      rows.push([...s]);
    }
    const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    const bce = rows.flatMap((r) => r.map((s, j) => (j === 0 ? softplus(-s) : softplus(s)))).reduce((a, b) => a + b) / 6;
    const ce = rows.map((r) => Math.log(r.reduce((a, s) => a + Math.exp(s), 0)) - (r[0] as number)).reduce((a, b) => a + b) / 2;
    assertAllClose([new CrossEncoderObjective(enc, TOK, OPTS, 'pointwise').evalLoss(batch)], [bce], 1e-5, 'pointwise');
    assertAllClose([new CrossEncoderObjective(enc, TOK, OPTS, 'pairwise').evalLoss(batch)], [ce], 1e-5, 'pairwise');
    assert.throws(() => new CrossEncoderObjective(enc, TOK, OPTS, 'pairwise').evalLoss({ ...batch, negatives: [['x'], ['y', 'z']] }), /equal N/);
  });
});

describe('cross-encoder training on real MS MARCO triples', () => {
  it('rankingData batches every triple once per epoch; a few pairwise steps lower the loss on those triples', async () => {
    await initEngine();
    const triples: Triple[] = [];
    for await (const t of streamTriples(sharedDataPath('msmarco', 'train', 'triples.train.small.head100.tsv'))) {
      if (triples.length < 8) triples.push(t);
    }
    const data = rankingData(groupsFromTriples(triples), 3);
    const epoch = data.epoch(0, new Rng(1));
    assert.deepEqual(epoch.map((b) => data.size(b)), [3, 3, 2]);
    assert.deepEqual(epoch.flatMap((b) => b.queries).sort(), triples.map((t) => t.query).sort());

    const model = GemmaModel.random(CONFIG, 11);
    const enc = toEncoder(model, { attention: 'bidirectional_global', pooling: 'mean', head: { kind: 'ranking', loss: 'pairwise' }, seed: 3 });
    try {
      const objective = new CrossEncoderObjective(enc, TOK, { ...OPTS, maxLength: 24 }, 'pairwise');
      const all = { queries: triples.map((t) => t.query), positives: triples.map((t) => t.positive), negatives: triples.map((t) => [t.negative]) };
      const before = objective.evalLoss(all);
      const res = await train(objective, rankingData(groupsFromTriples(triples), 4), { seed: 0, maxSteps: 12, schedule: { lr: 3e-3, decay: 'constant' } });
      const afterLoss = objective.evalLoss(all);
      assert.equal(res.steps, 12);
      assert.ok(afterLoss < before - 0.05, `loss ${before} -> ${afterLoss}`);
      console.log(`pairwise loss on 8 triples: ${before} -> ${afterLoss} after ${res.steps} steps`);
    } finally {
      enc.dispose();
      model.dispose();
    }
  });
});

describe('BGE groups', () => {
  it('first positive and the first N mined negatives of each real example', async () => {
    const ex = await loadBgeJsonl(sharedDataPath('msmarco', 'train', 'bge_example_msmarco.jsonl'));
    const groups = groupsFromBge(ex, 7);
    assert.equal(groups.length, 10);
    assert.deepEqual(groups[3], { query: ex[3]?.query, positive: ex[3]?.pos[0], negatives: ex[3]?.neg.slice(0, 7) });
    assert.throws(() => groupsFromBge(ex, 26), /has 25 negatives, need 26/);
    const batch = rankingData(groups, 4).epoch(0, new Rng(0))[0];
    assert.deepEqual(batch?.negatives.map((n) => n.length), [7, 7, 7, 7]);
  });
});
