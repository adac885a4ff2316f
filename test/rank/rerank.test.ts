import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AbortedError, ConfigError, GemmaLabError } from '../../src/errors.js';
import { formatTrec, msmarcoMrr, trecEval } from '../../src/eval/ranking.js';
import { sharedDataPath } from '../../src/io/paths.js';
import type { ProgressEvent } from '../../src/progress/index.js';
import { rerank, rerankQueriesFromTrecDl, type RerankQuery } from '../../src/rank/rerank.js';
import { formatMsmarcoRun, formatTrecRun, writeMsmarcoRun, writeTrecRun } from '../../src/rank/runfile.js';
import type { PairScorer } from '../../src/rank/scorer.js';
import { rerankTrecDl, trecDlScores } from '../../src/rank/trecdl.js';
import { loadQrels, loadRun, loadTrecDlJsonl } from '../../src/tasks/msmarco.js';

/** Deterministic scorer: number of query words found in the passage; records each call's size. */
class OverlapScorer implements PairScorer {
  readonly calls: [string, string][][] = [];
  async scoreBatch(queries: readonly string[], passages: readonly string[]): Promise<Float32Array> {
    this.calls.push(queries.map((q, i) => [q, passages[i] as string]));
    return Float32Array.from(queries, (q, i) => {
      const words = new Set((passages[i] as string).split(' '));
      return q.split(' ').filter((w) => words.has(w)).length;
    });
  }
}

const QUERIES: RerankQuery[] = [
  {
    qid: '1',
    query: 'red fox',
    candidates: [
      { docid: 'a', text: 'blue sky' },
      { docid: 'b', text: 'red fox runs' },
      { docid: 'c', text: 'a red car' },
      { docid: 'd', text: 'red fox red fox' },
    ],
  },
  { qid: '2', query: 'sky', candidates: [{ docid: 'x', text: 'sky' }, { docid: 'y', text: 'sea' }, { docid: 'z', text: 'sky' }, { docid: 'w', text: 'land' }] },
];

describe('rerank with a deterministic scorer', () => {
  it('orders by score, ties by docid descending (trec_eval order), ranks 1..n', async () => {
    const run = await rerank(QUERIES, new OverlapScorer());
    assert.deepEqual(run.get('1'), [
      { docid: 'd', score: 2, rank: 1 },
      { docid: 'b', score: 2, rank: 2 },
      { docid: 'c', score: 1, rank: 3 },
      { docid: 'a', score: 0, rank: 4 },
    ]);
    assert.deepEqual(run.get('2')?.map((e) => e.docid), ['z', 'x', 'y', 'w']);
  });

  it('batches pairs across queries, reports progress per batch, honours depth', async () => {
    const scorer = new OverlapScorer();
    const events: ProgressEvent[] = [];
    await rerank(QUERIES, scorer, { batchSize: 3, sortByLength: false, onProgress: (e) => events.push(e) });
    assert.deepEqual(scorer.calls.map((c) => c.length), [3, 3, 2]);
    assert.deepEqual(scorer.calls[1], [['red fox', 'red fox red fox'], ['sky', 'sky'], ['sky', 'sea']]);
    assert.deepEqual(events.map((e) => [e.phase, e.done, e.total]), [['rerank', 3, 8], ['rerank', 6, 8], ['rerank', 8, 8]]);
    const shallow = await rerank(QUERIES, new OverlapScorer(), { depth: 2 });
    assert.deepEqual(shallow.get('1')?.map((e) => e.docid), ['b', 'a']);
  });

  it('length-sorted batching (the default) scores longest pairs first and gives the same run', async () => {
    const scorer = new OverlapScorer();
    const sorted = await rerank(QUERIES, scorer, { batchSize: 3 });
    const lengths = scorer.calls.flat().map(([q, p]) => q.length + p.length);
    assert.deepEqual(lengths, [...lengths].sort((a, b) => b - a));
    assert.deepEqual(scorer.calls[0]?.[0], ['red fox', 'red fox red fox']);
    assert.deepEqual(sorted, await rerank(QUERIES, new OverlapScorer(), { batchSize: 3, sortByLength: false }));
  });

  it('stops between batches when the signal fires, saying how many pairs were scored', async () => {
    const scorer = new OverlapScorer();
    const ac = new AbortController();
    await assert.rejects(
      rerank(QUERIES, scorer, { batchSize: 3, signal: ac.signal, onProgress: () => ac.abort(new Error('user stop')) }),
      (e: unknown) => e instanceof AbortedError && e.completed === 3 && /user stop/.test(e.message),
    );
    assert.equal(scorer.calls.length, 1);
  });

  it('rejects a scorer returning the wrong count or a non-finite score, and duplicate ids', async () => {
    const short: PairScorer = { scoreBatch: async (q) => new Float32Array(q.length - 1) };
    await assert.rejects(rerank(QUERIES, short), /returned 3 scores for 4 pairs|returned \d+ scores/);
    const nan: PairScorer = { scoreBatch: async (q) => new Float32Array(q.length).fill(NaN) };
    await assert.rejects(rerank(QUERIES, nan), /non-finite score NaN for qid 1 docid d/);
    await assert.rejects(rerank([QUERIES[0] as RerankQuery, QUERIES[0] as RerankQuery], new OverlapScorer()), GemmaLabError);
  });
});

describe('run files', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'runfile-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('formats TREC and MS MARCO lines in rank order', () => {
    const run = new Map([['7', [{ docid: 'b', rank: 2, score: 0.1 }, { docid: 'a', rank: 1, score: 0.30000001192092896 }]]]);
    assert.equal(formatTrecRun(run, 'gemma'), '7 Q0 a 1 0.30000001192092896 gemma\n7 Q0 b 2 0.1 gemma\n');
    assert.equal(formatMsmarcoRun(new Map([['7', [{ docid: '12', rank: 2, score: 0 }, { docid: '11', rank: 1, score: 1 }]]])), '7\t11\t1\n7\t12\t2\n');
    assert.throws(() => formatTrecRun(run, 'two words'), ConfigError);
    assert.throws(() => formatTrecRun(new Map([['7', [{ docid: 'a', rank: 1, score: Infinity }]]]), 't'), /not finite/);
    assert.throws(() => formatTrecRun(new Map([['7', [{ docid: 'a b', rank: 1, score: 0 }]]]), 't'), /whitespace/);
  });

  it('written atomically (no temp file left) and read back into the same run', async () => {
    const run = await rerank(QUERIES, new OverlapScorer());
    const trec = join(dir, 'run.trec');
    await writeTrecRun(trec, run, 'overlap');
    assert.deepEqual(await loadRun(trec), run);
    const numeric = new Map([...run].map(([q, l]) => [q, l.map((e) => ({ ...e, docid: String(e.docid.charCodeAt(0)) }))]));
    const ms = join(dir, 'run.tsv');
    await writeMsmarcoRun(ms, numeric);
    assert.deepEqual(
      [...(await loadRun(ms))].map(([q, l]) => [q, l.map((e) => [e.docid, e.rank])]),
      [...numeric].map(([q, l]) => [q, l.map((e) => [e.docid, e.rank])]),
    );
    await assert.rejects(writeMsmarcoRun(join(dir, 'bad.tsv'), run), /pid 'd' is not a non-negative integer/);
    assert.deepEqual((await readdir(dir)).sort(), ['run.trec', 'run.tsv']);
    assert.match(await readFile(trec, 'utf8'), /^1 Q0 d 1 2 overlap\n/);
  });

  it('DL19 end to end: reranking by the BM25 score itself, written and re-read, gives trec_eval nDCG@10 0.5058', async () => {
    const records = await loadTrecDlJsonl(sharedDataPath('msmarco', 'trec-dl-2019', 'bm25_dl19_top100.jsonl'));
    const bm25 = new Map(records.flatMap((r) => r.hits.map((h) => [`${r.query}\u0000${h.content}`, h.score] as const)));
    const scorer: PairScorer = {
      scoreBatch: async (q, p) => Float32Array.from(q, (query, i) => bm25.get(`${query}\u0000${p[i]}`) as number),
    };
    const run = await rerank(rerankQueriesFromTrecDl(records), scorer, { batchSize: 64 });
    const path = join(dir, 'dl19.trec');
    await writeTrecRun(path, run, 'bm25');
    const qrels = await loadQrels(sharedDataPath('msmarco', 'trec-dl-2019', 'qrels.dl19-passage.txt'));
    const back = await loadRun(path);
    assert.equal(formatTrec(trecEval(qrels, back, { complete: true }).mean.ndcgCut.get(10) as number), '0.5058');
    // The written ranks agree with the score order, so the MS MARCO rank-column MRR sees the same list.
    // (msmarcoMrr counts every listed pid as relevant, so give it the grade >= 1 judgments only.)
    const relevant = new Map([...qrels].map(([q, j]) => [q, new Map([...j].filter(([, g]) => g >= 1))]));
    const ranked = msmarcoMrr(relevant, back).perQuery;
    const fromScores = trecEval(qrels, back, { complete: true, maxDocs: 10 }).perQuery;
    assert.deepEqual([...ranked], [...fromScores].map(([q, m]) => [q, m.recipRank]));
  });

  for (const [year, ndcg, r100] of [[2019, '0.5058', '0.4910'], [2020, '0.4796', '0.5599']] as const) {
    it(`rerankTrecDl ${year}: the BM25 scorer reproduces BM25 (nDCG@10 ${ndcg}, -l 2 R@100 ${r100}); the reversed scorer is worse`, async () => {
      const dl = `trec-dl-${year}`;
      const records = await loadTrecDlJsonl(sharedDataPath('msmarco', dl, `bm25_dl${year % 100}_top100.jsonl`));
      const bm25 = new Map(records.flatMap((r) => r.hits.map((h) => [`${r.query}\u0000${h.content}`, h.score] as const)));
      const scorer = (sign: number): PairScorer => ({
        scoreBatch: async (q, p) => Float32Array.from(q, (query, i) => sign * (bm25.get(`${query}\u0000${p[i]}`) as number)),
      });
      const runPath = join(dir, `dl${year}.trec`);
      const res = await rerankTrecDl(year, scorer(1), { batchSize: 50, runPath, tag: 'bm25' });
      assert.equal(formatTrec(res.scores.ndcg10), ndcg);
      assert.equal(formatTrec(res.scores.recall100), r100);
      assert.deepEqual(res.scores, res.bm25);
      if (year === 2019) assert.equal(formatTrec(res.scores.map), '0.2476');
      const qrels = await loadQrels(sharedDataPath('msmarco', dl, `qrels.dl${year % 100}-passage.txt`));
      assert.deepEqual(trecDlScores(qrels, await loadRun(runPath)), res.scores);
      const reversed = await rerankTrecDl(year, scorer(-1), { batchSize: 50 });
      assert.ok(reversed.scores.ndcg10 < res.scores.ndcg10 - 0.1, `reversed nDCG@10 ${reversed.scores.ndcg10}`);
    });
  }
});
