/**
 * Reranking the TREC DL 2019/2020 passage sets (BM25 top-100 with text, shared/data) and scoring the
 * result with Anserini's conventions (benchmarks.md §3.3): nDCG@10 with graded gains; MAP and recall
 * with trec_eval `-l 2` (grade >= 2 relevant); all `-c` (averaged over the judged queries).
 */
import type { Qrels, Run } from '../eval/ranking.js';
import { trecEval } from '../eval/ranking.js';
import { sharedDataPath } from '../io/paths.js';
import { loadQrels, loadTrecDlJsonl, runFromTrecDl } from '../tasks/msmarco.js';
import { rerank, rerankQueriesFromTrecDl, type RerankOptions } from './rerank.js';
import { writeTrecRun } from './runfile.js';
import type { PairScorer } from './scorer.js';

export type TrecDlYear = 2019 | 2020;

const FILES: Readonly<Record<TrecDlYear, { readonly dir: string; readonly jsonl: string; readonly qrels: string }>> = {
  2019: { dir: 'trec-dl-2019', jsonl: 'bm25_dl19_top100.jsonl', qrels: 'qrels.dl19-passage.txt' },
  2020: { dir: 'trec-dl-2020', jsonl: 'bm25_dl20_top100.jsonl', qrels: 'qrels.dl20-passage.txt' },
};

export interface TrecDlScores {
  /** trec_eval -c -m ndcg_cut.10 (graded gains). */
  readonly ndcg10: number;
  /** trec_eval -c -l 2 -m map (over the retrieved depth, here 100). */
  readonly map: number;
  /** trec_eval -c -l 2 -m recall.100. */
  readonly recall100: number;
  /** trec_eval -c -l 2 -M 10 -m recip_rank. */
  readonly mrr10: number;
  readonly numQueries: number;
}

export function trecDlScores(qrels: Qrels, run: Run): TrecDlScores {
  const graded = trecEval(qrels, run, { complete: true, cutoffs: [10] });
  const binary = trecEval(qrels, run, { complete: true, relevanceLevel: 2, cutoffs: [100] });
  const top10 = trecEval(qrels, run, { complete: true, relevanceLevel: 2, maxDocs: 10, cutoffs: [10] });
  return {
    ndcg10: graded.mean.ndcgCut.get(10) as number,
    map: binary.mean.map,
    recall100: binary.mean.recall.get(100) as number,
    mrr10: top10.mean.recipRank,
    numQueries: graded.numQueries,
  };
}

/**
 * A year's BM25 top-100 records (with text) and judgments; `queries` keeps the first that many records and
 * their judgments only (quick runs; scores then average over those queries).
 */
export async function trecDlSet(year: TrecDlYear, queries?: number): Promise<{ records: Awaited<ReturnType<typeof loadTrecDlJsonl>>; qrels: Qrels }> {
  const f = FILES[year];
  const all = await loadTrecDlJsonl(sharedDataPath('msmarco', f.dir, f.jsonl));
  const qrels = await loadQrels(sharedDataPath('msmarco', f.dir, f.qrels));
  if (queries === undefined) return { records: all, qrels };
  const records = all.slice(0, queries);
  const kept = new Set(records.map((r) => r.qid));
  return { records, qrels: new Map([...qrels].filter(([qid]) => kept.has(qid))) };
}

export interface TrecDlRerankOptions extends RerankOptions {
  /** Only the first N queries (see trecDlSet). */
  readonly queries?: number;
  /** Write the reranked run here (TREC format, atomically). */
  readonly runPath?: string;
  /** Run tag in the file (default "gemma-lab"). */
  readonly tag?: string;
}

export interface TrecDlRerankResult {
  readonly run: Run;
  readonly scores: TrecDlScores;
  /** The same measures for the BM25 order the candidates came in. */
  readonly bm25: TrecDlScores;
}

export async function rerankTrecDl(year: TrecDlYear, scorer: PairScorer, opts: TrecDlRerankOptions = {}): Promise<TrecDlRerankResult> {
  const { records, qrels } = await trecDlSet(year, opts.queries);
  const run = await rerank(rerankQueriesFromTrecDl(records), scorer, opts);
  if (opts.runPath) await writeTrecRun(opts.runPath, run, opts.tag ?? 'gemma-lab');
  return { run, scores: trecDlScores(qrels, run), bm25: trecDlScores(qrels, runFromTrecDl(records)) };
}
