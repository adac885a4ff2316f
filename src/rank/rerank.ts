/**
 * Cross-encoder reranking: score every (query, candidate) pair in fixed-size batches across queries,
 * then order each query's candidates by score. Interruptible between batches; progress counts pairs.
 */
import { GemmaLabError } from '../errors.js';
import { compareDocids, type RunEntry } from '../eval/ranking.js';
import { throwIfAborted, type RunControl } from '../progress/index.js';
import type { TrecDlQuery } from '../tasks/msmarco.js';
import type { PairScorer } from './scorer.js';

export interface Candidate {
  readonly docid: string;
  readonly text: string;
}

export interface RerankQuery {
  readonly qid: string;
  readonly query: string;
  /** First-stage candidates in their first-stage order. */
  readonly candidates: readonly Candidate[];
}

export interface RerankOptions extends RunControl {
  /** Pairs per scorer call (default 32). */
  readonly batchSize?: number;
  /** Rerank only the first `depth` candidates of each query (default: all). */
  readonly depth?: number;
  /**
   * Batch pairs of similar text length together (default true): a batch is padded to its longest row,
   * so this cuts padding work. Each pair's score does not depend on its batch-mates.
   */
  readonly sortByLength?: boolean;
}

/**
 * Ranks by score descending, ties by docid descending (trec_eval's order), ranks 1..n. Writing the
 * result and evaluating it with either trec_eval rules or the MS MARCO rank column gives one order.
 */
export function rankByScore(scored: readonly { readonly docid: string; readonly score: number }[]): RunEntry[] {
  return [...scored]
    .sort((a, b) => b.score - a.score || compareDocids(b.docid, a.docid))
    .map((e, i) => ({ docid: e.docid, score: e.score, rank: i + 1 }));
}

/** Scores all pairs with `scorer` and returns the reranked run (qid in input order). */
export async function rerank(queries: readonly RerankQuery[], scorer: PairScorer, opts: RerankOptions = {}): Promise<Map<string, RunEntry[]>> {
  const batchSize = opts.batchSize ?? 32;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`rerank: batchSize must be a positive integer, got ${batchSize}`);
  const pairs: { q: number; c: Candidate }[] = [];
  const seen = new Set<string>();
  queries.forEach((query, q) => {
    if (seen.has(query.qid)) throw new GemmaLabError(`rerank: qid ${query.qid} appears twice`);
    seen.add(query.qid);
    const docs = new Set<string>();
    for (const c of query.candidates.slice(0, opts.depth ?? Infinity)) {
      if (docs.has(c.docid)) throw new GemmaLabError(`rerank: qid ${query.qid} lists docid ${c.docid} twice`);
      docs.add(c.docid);
      pairs.push({ q, c });
    }
  });
  // Scoring order: indices into `pairs`, longest first when sorting (ties keep input order).
  const order = pairs.map((_, i) => i);
  if (opts.sortByLength ?? true) {
    const len = pairs.map((p) => (queries[p.q] as RerankQuery).query.length + p.c.text.length);
    order.sort((a, b) => (len[b] as number) - (len[a] as number) || a - b);
  }
  const scores = new Float32Array(pairs.length);
  for (let start = 0; start < pairs.length; start += batchSize) {
    throwIfAborted(opts.signal, start);
    const idx = order.slice(start, start + batchSize);
    const batch = idx.map((i) => pairs[i] as { q: number; c: Candidate });
    const got = await scorer.scoreBatch(
      batch.map((p) => (queries[p.q] as RerankQuery).query),
      batch.map((p) => p.c.text),
    );
    if (got.length !== batch.length) throw new GemmaLabError(`rerank: scorer returned ${got.length} scores for ${batch.length} pairs`);
    got.forEach((s, i) => {
      if (!Number.isFinite(s)) {
        const p = batch[i] as { q: number; c: Candidate };
        throw new GemmaLabError(`rerank: non-finite score ${s} for qid ${(queries[p.q] as RerankQuery).qid} docid ${p.c.docid}`);
      }
    });
    idx.forEach((pairIndex, i) => (scores[pairIndex] = got[i] as number));
    opts.onProgress?.({ phase: 'rerank', done: start + batch.length, total: pairs.length });
  }
  const byQuery = queries.map(() => [] as { docid: string; score: number }[]);
  pairs.forEach((p, i) => (byQuery[p.q] as { docid: string; score: number }[]).push({ docid: p.c.docid, score: scores[i] as number }));
  return new Map(queries.map((q, i) => [q.qid, rankByScore(byQuery[i] as { docid: string; score: number }[])]));
}

/** The TREC DL reranking sets (BM25 top-100 with text) as rerank input, candidates in BM25 rank order. */
export function rerankQueriesFromTrecDl(records: readonly TrecDlQuery[]): RerankQuery[] {
  return records.map((r) => ({
    qid: r.qid,
    query: r.query,
    candidates: [...r.hits].sort((a, b) => a.rank - b.rank).map((h) => ({ docid: h.docid, text: h.content })),
  }));
}
