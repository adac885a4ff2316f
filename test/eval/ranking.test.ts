import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { GemmaLabError } from '../../src/errors.js';
import {
  formatTrec,
  hitRate,
  msmarcoMrr,
  trecEval,
  trecEvalQuery,
  trecOrder,
  type Qrels,
  type Run,
  type RunEntry,
} from '../../src/eval/ranking.js';
import { sharedDataPath } from '../../src/io/paths.js';
import { loadQrels, loadRun, loadTrecDlJsonl, runFromTrecDl } from '../../src/tasks/msmarco.js';

/** qid -> listed relevant pids (label 1), as MS MARCO qrels. */
function binaryQrels(q: Record<string, string[]>): Qrels {
  return new Map(Object.entries(q).map(([qid, pids]) => [qid, new Map(pids.map((p) => [p, 1]))]));
}

/** qid -> pids in rank order 1..n (MS MARCO run: score = -rank). */
function rankedRun(r: Record<string, string[]>): Run {
  return new Map(Object.entries(r).map(([qid, pids]) => [qid, pids.map((docid, i) => ({ docid, rank: i + 1, score: -(i + 1) }))]));
}

/** Scored entries; rank column deliberately wrong so tests show trec_eval ignores it. */
function scored(pairs: [string, number][]): RunEntry[] {
  return pairs.map(([docid, score]) => ({ docid, score, rank: 999 }));
}

/** Qrels / Run from qid -> [docid, grade] or [docid, score] pairs (run entries built by `scored`). */
const qrelsOf = (byQuery: Record<string, [string, number][]>): Qrels => new Map(Object.entries(byQuery).map(([q, d]) => [q, new Map(d)]));
const runOf = (byQuery: Record<string, [string, number][]>): Run => new Map(Object.entries(byQuery).map(([q, d]) => [q, scored(d)]));

describe('msmarcoMrr (ms_marco_eval.py semantics, benchmarks.md §5 case 14)', () => {
  const qrels = binaryQrels({ 1: ['10'], 2: ['20', '21'], 3: ['30'] });

  it('q1 hit at 1, q2 at 3, q3 only at rank 11 -> (1 + 1/3 + 0) / 3', () => {
    const pad = Array.from({ length: 10 }, (_, i) => `x${i}`);
    const r = msmarcoMrr(qrels, rankedRun({ 1: ['10', '11'], 2: ['5', '6', '21', '20'], 3: [...pad, '30'] }));
    assert.equal(r.mrr, 0.4444444444444444);
    assert.equal(r.queriesRanked, 3);
    assert.deepEqual([...r.perQuery], [['1', 1], ['2', 1 / 3], ['3', 0]]);
  });

  it('divides by qrels queries: dropping q3 from the run gives the same value', () => {
    assert.equal(msmarcoMrr(qrels, rankedRun({ 1: ['10', '11'], 2: ['5', '6', '21', '20'] })).mrr, 0.4444444444444444);
  });

  it('unknown run queries are ignored but counted in QueriesRanked', () => {
    const r = msmarcoMrr(qrels, rankedRun({ 1: ['11', '10'], 2: ['20'], 3: ['30'], 99: ['1'] }));
    assert.equal(r.mrr, 0.8333333333333334);
    assert.equal(r.queriesRanked, 4);
  });

  it('uses the rank column only, not scores or file order', () => {
    // 10 is written first with the best score but rank 2; 11 has rank 1.
    const run: Run = new Map([['1', [{ docid: '10', rank: 2, score: 9 }, { docid: '11', rank: 1, score: 0 }]]]);
    assert.equal(msmarcoMrr(binaryQrels({ 1: ['10'] }), run).mrr, 0.5);
  });

  it('a later duplicate rank overwrites; rank 0 lands in the last of the 1000 slots', () => {
    const q = binaryQrels({ 1: ['10'] });
    const dup: Run = new Map([['1', [{ docid: '10', rank: 1, score: 0 }, { docid: '11', rank: 1, score: 0 }]]]);
    assert.equal(msmarcoMrr(q, dup).mrr, 0);
    assert.equal(msmarcoMrr(q, new Map([['1', [{ docid: '10', rank: 0, score: 0 }]]])).mrr, 0);
  });

  it('counts every listed pid as relevant, whatever its label (the script ignores column 4)', () => {
    const q: Qrels = new Map([['1', new Map([['10', 0]])]]);
    assert.equal(msmarcoMrr(q, rankedRun({ 1: ['10'] })).mrr, 1);
  });

  it('rejects rank > 1000 and runs with no qrels query', () => {
    const q = binaryQrels({ 1: ['10'] });
    assert.throws(() => msmarcoMrr(q, new Map([['1', [{ docid: '10', rank: 1001, score: 0 }]]])), RangeError);
    assert.throws(() => msmarcoMrr(q, rankedRun({ 2: ['10'] })), GemmaLabError);
  });

  it('MRR@10 on the 105-query BM25 subset is exactly the official 0.15906651549508694', async () => {
    const qrels = await loadQrels(sharedDataPath('msmarco', 'ans-small', 'qrels.dev.small.tsv'));
    const run = await loadRun(sharedDataPath('msmarco', 'ans-small', 'run.dev.small.tsv'));
    const r = msmarcoMrr(qrels, run);
    assert.equal(r.mrr, 0.15906651549508694);
    assert.equal(r.queriesRanked, 105);
    // The same numbers as printed by the official script into ans-small/scores.
    const printed = await readFile(sharedDataPath('msmarco', 'ans-small', 'scores'), 'utf8');
    assert.match(printed, new RegExp(`^MRR @10: ${r.mrr}$`, 'm'));
    assert.match(printed, new RegExp(`^QueriesRanked: ${r.queriesRanked}$`, 'm'));
    // Its R @k lines are pygaggle's hit-rate convention.
    assert.match(printed, new RegExp(`^R @1000: ${hitRate(qrels, run, 1000)}$`, 'm'));
    assert.match(printed, new RegExp(`^R @50: ${hitRate(qrels, run, 50)}$`, 'm'));
  });
});

describe('recall conventions on the 105-query BM25 subset (benchmarks.md §5 case 15)', () => {
  it('pygaggle hit rate@1000 = 89/105; trec_eval recall.1000 = 0.8429; trec_eval -M 10 recip_rank = 0.1591', async () => {
    const qrels = await loadQrels(sharedDataPath('msmarco', 'ans-small', 'qrels.dev.small.tsv'));
    const run = await loadRun(sharedDataPath('msmarco', 'ans-small', 'run.dev.small.tsv'));
    assert.equal(hitRate(qrels, run, 1000), 0.8476190476190476);
    assert.equal(formatTrec(trecEval(qrels, run, { complete: true }).mean.recall.get(1000) as number), '0.8429');
    assert.equal(formatTrec(trecEval(qrels, run, { maxDocs: 10 }).mean.recipRank), '0.1591');
  });
});

describe('trecEval on TREC DL BM25 runs (benchmarks.md §5 case 17)', () => {
  const cases = [
    { year: '2019', qrels: 'qrels.dl19-passage.txt', run: 'trec_results_dl19_top100.txt', jsonl: 'bm25_dl19_top100.jsonl', n: 43, ndcg: '0.5058', r100: '0.4910' },
    { year: '2020', qrels: 'qrels.dl20-passage.txt', run: 'trec_results_dl20_top100.txt', jsonl: 'bm25_dl20_top100.jsonl', n: 54, ndcg: '0.4796', r100: '0.5599' },
  ];
  for (const c of cases) {
    it(`DL${c.year}: nDCG@10 ${c.ndcg}, -l 2 R@100 ${c.r100}, from the TREC run and from the jsonl`, async () => {
      const dir = `trec-dl-${c.year}`;
      const qrels = await loadQrels(sharedDataPath('msmarco', dir, c.qrels));
      for (const run of [await loadRun(sharedDataPath('msmarco', dir, c.run)), runFromTrecDl(await loadTrecDlJsonl(sharedDataPath('msmarco', dir, c.jsonl)))]) {
        const graded = trecEval(qrels, run, { complete: true });
        assert.equal(graded.numQueries, c.n);
        assert.equal(formatTrec(graded.mean.ndcgCut.get(10) as number), c.ndcg);
        const binary = trecEval(qrels, run, { complete: true, relevanceLevel: 2 });
        assert.equal(formatTrec(binary.mean.recall.get(100) as number), c.r100);
        if (c.year === '2019') {
          assert.equal(formatTrec(binary.mean.map), '0.2476');
          assert.equal(formatTrec(graded.mean.recipRank), '0.8245');
        }
      }
    });
  }
});

describe('trecEvalQuery hand-checkable cases', () => {
  const ranking = (ids: string[]): RunEntry[] => ids.map((docid, i) => ({ docid, rank: i + 1, score: ids.length - i }));

  it('ranx: reciprocal rank 0.5 / 0; recall@2 = 1/3', () => {
    assert.equal(trecEvalQuery(new Map([['3', 1]]), ranking(['2', '3', '1', '4', '5'])).recipRank, 0.5);
    assert.equal(trecEvalQuery(new Map([['9', 1]]), ranking(['2', '3', '1', '4', '5'])).recipRank, 0);
    const judged = new Map([['1', 1], ['2', 1], ['3', 1]]);
    assert.equal(trecEvalQuery(judged, ranking(['2', '4', '3', '1']), { cutoffs: [2] }).recall.get(2), 1 / 3);
  });

  it('ranx nDCG with linear gain (Järvelin): 0.6108112659356222, 0.8209849544772895, 0', () => {
    const judged = new Map([['2', 5], ['4', 4], ['5', 3], ['10', 2]]);
    const cases: [string[], number][] = [
      [['1', '2', '3', '4', '5'], 0.6108112659356222],
      [['10', '5', '2', '4', '3'], 0.8209849544772895],
      [['1', '3', '6', '7', '8'], 0],
    ];
    for (const [ids, want] of cases) {
      const m = trecEvalQuery(judged, ranking(ids), { cutoffs: [5] });
      assert.ok(Math.abs((m.ndcgCut.get(5) as number) - want) < 1e-15, `${ids}: ${m.ndcgCut.get(5)} vs ${want}`);
      assert.ok(Math.abs(m.ndcg - want) < 1e-15);
    }
  });

  it('orders by score desc, then docid in descending byte order; the rank column is ignored', () => {
    const e = scored([['a', 1], ['c', 2], ['b', 1], ['10', 1], ['9', 1]]);
    assert.deepEqual(trecOrder(e).map((x) => x.docid), ['c', 'b', 'a', '9', '10']);
    // Relevant 'a' ties with 'b' at score 1: it comes third -> RR 1/3, AP 1/3.
    const m = trecEvalQuery(new Map([['a', 1]]), e);
    assert.equal(m.recipRank, 1 / 3);
    assert.equal(m.map, 1 / 3);
  });

  it('nDCG@10 with grades: unjudged docs gain 0, ideal from all judged docs', () => {
    // Ranked: u (unjudged), g2, g0, g3. Judged also holds an unretrieved g1.
    const judged = new Map([['g2', 2], ['g0', 0], ['g3', 3], ['g1', 1]]);
    const m = trecEvalQuery(judged, ranking(['u', 'g2', 'g0', 'g3']), { cutoffs: [10] });
    const dcg = 2 / Math.log2(3) + 3 / Math.log2(5);
    const ideal = 3 + 2 / Math.log2(3) + 1 / Math.log2(4);
    assert.equal(m.ndcgCut.get(10), dcg / ideal);
    // Binary measures at -l 2: g2 and g3 relevant (2 of them), found at ranks 2 and 4.
    const l2 = trecEvalQuery(judged, ranking(['u', 'g2', 'g0', 'g3']), { relevanceLevel: 2, cutoffs: [2, 10] });
    assert.equal(l2.numRel, 2);
    assert.equal(l2.map, (1 / 2 + 2 / 4) / 2);
    assert.equal(l2.recall.get(2), 0.5);
    assert.equal(l2.precision.get(10), 0.2);
    assert.equal(l2.recipRank, 0.5);
  });

  it('a query whose judgments are all 0 scores 0 everywhere and still counts in the mean', () => {
    const qrels = qrelsOf({ '1': [['a', 1]], '2': [['b', 0]] });
    const run = runOf({ '1': [['a', 1]], '2': [['b', 1]] });
    const r = trecEval(qrels, run, { cutoffs: [10] });
    const q2 = r.perQuery.get('2');
    assert.deepEqual([q2?.map, q2?.ndcg, q2?.recipRank, q2?.recall.get(10)], [0, 0, 0, 0]);
    assert.equal(r.numQueries, 2);
    assert.equal(r.mean.ndcgCut.get(10), 0.5);
  });

  it('-c averages over all qrels queries; without it only over queries in the run; run-only queries are ignored', () => {
    const qrels = qrelsOf({ '1': [['a', 1]], '2': [['b', 1]] });
    const run = runOf({ '1': [['a', 1]], '77': [['a', 1]] });
    assert.equal(trecEval(qrels, run).mean.map, 1);
    assert.equal(trecEval(qrels, run).numQueries, 1);
    assert.equal(trecEval(qrels, run, { complete: true }).mean.map, 0.5);
  });

  it('-M keeps the first n after sorting; P@k divides by k even when fewer are retrieved', () => {
    const m = trecEvalQuery(new Map([['c', 1]]), scored([['a', 3], ['b', 2], ['c', 1]]), { maxDocs: 2, cutoffs: [5] });
    assert.equal(m.numRet, 2);
    assert.equal(m.recipRank, 0);
    const p = trecEvalQuery(new Map([['c', 1]]), scored([['c', 1]]), { cutoffs: [5] });
    assert.equal(p.precision.get(5), 0.2);
  });

  it('refuses a document retrieved twice', () => {
    assert.throws(() => trecEvalQuery(new Map(), scored([['a', 1], ['a', 2]])), /retrieved twice/);
  });

  it('hitRate counts queries with any relevant doc in the top k; missing queries are misses', () => {
    const qrels = binaryQrels({ 1: ['a'], 2: ['b'], 3: ['c'] });
    const run = rankedRun({ 1: ['x', 'a'], 2: ['b'] });
    assert.equal(hitRate(qrels, run, 1), 1 / 3);
    assert.equal(hitRate(qrels, run, 2), 2 / 3);
  });
});
