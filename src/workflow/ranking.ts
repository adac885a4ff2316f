/**
 * MS MARCO / TREC DL in the analyst workflow:
 * - training groups from MS MARCO triples (`query\tpositive\tnegative`, .tsv) or `{query, pos, neg}`
 *   JSONL (pos/neg a string or a list; the first pos, the first `negatives` negs);
 * - a cross-encoder reranker (pairwise softmax loss over positive + hard negatives) re-scoring the TREC
 *   DL BM25 top-100, and a bi-encoder (multiple-negatives ranking loss: in-batch + hard negatives at a
 *   temperature) retrieving from the pooled DL candidate passages (every query's BM25 top-100: the full
 *   8.8M-passage collection is not available offline), each scored with trec_eval's rules beside BM25.
 */
import { readFileSync } from 'node:fs';
import type { SentenceEmbedder } from '../embed/embed.js';
import type { GemmaEncoder } from '../encoder/encoder.js';
import { DataFileError } from '../errors.js';
import { sharedDataPath } from '../io/paths.js';
import type { RunControl } from '../progress/index.js';
import { denseRetrieve, type DensePassage } from '../rank/dense.js';
import { EncoderEmbedder, EncoderPairScorer, groupsFromTriples, type RankingGroup } from '../rank/encoder.js';
import type { TextEmbedder } from '../rank/scorer.js';
import { rerankTrecDl, trecDlScores, trecDlSet, type TrecDlScores, type TrecDlYear } from '../rank/trecdl.js';
import { runFromTrecDl, streamTriples } from '../tasks/msmarco.js';
import type { Tokenizer } from '../tokenize/index.js';

/** The default training file (MS MARCO's first 100 train triples). */
export const DEFAULT_TRIPLES = sharedDataPath('msmarco', 'train', 'triples.train.small.head100.tsv');

/** Training groups from a triples TSV or a `{query, pos, neg}` JSONL file (each group: 1 positive, `negatives` negatives). */
export async function loadRankingGroups(file: string, negatives = 1): Promise<RankingGroup[]> {
  if (file.endsWith('.tsv')) {
    const triples = [];
    for await (const t of streamTriples(file)) triples.push(t);
    if (negatives !== 1) throw new DataFileError(`triples carry one negative each; asked for ${negatives}`, file);
    return groupsFromTriples(triples);
  }
  const out: RankingGroup[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      if (text.trim() === '') return;
      const line = i + 1;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(text) as Record<string, unknown>;
      } catch (e) {
        throw new DataFileError(`invalid JSON (${(e as Error).message})`, file, line);
      }
      const list = (v: unknown, what: string): string[] => {
        const xs = typeof v === 'string' ? [v] : v;
        if (!Array.isArray(xs) || !xs.every((x) => typeof x === 'string')) throw new DataFileError(`'${what}' must be a string or a list of strings`, file, line);
        return xs as string[];
      };
      if (typeof o.query !== 'string') throw new DataFileError("'query' must be a string", file, line);
      const pos = list(o.pos, 'pos');
      const neg = list(o.neg, 'neg');
      if (pos.length === 0) throw new DataFileError("'pos' is empty", file, line);
      if (neg.length < negatives) throw new DataFileError(`${neg.length} negatives, need ${negatives}`, file, line);
      out.push({ query: o.query, positive: pos[0] as string, negatives: neg.slice(0, negatives) });
    });
  if (out.length === 0) throw new DataFileError('no training groups', file);
  return out;
}

export interface RankScores {
  readonly year: TrecDlYear;
  readonly model: TrecDlScores;
  readonly bm25: TrecDlScores;
  /** Passages searched (retrieval: the pooled candidates) or pairs re-scored (reranking). */
  readonly candidates: number;
}

export interface RankEvalOptions extends RunControl {
  readonly tokenizer: Tokenizer;
  readonly maxLength: number;
  readonly batchSize?: number;
  /** Write the run (TREC format) here. */
  readonly runPath?: string;
  /** Only the first N TREC DL queries (quick runs; BM25 is scored on the same ones). */
  readonly queries?: number;
}

/** Cross-encoder reranking of TREC DL's BM25 top-100, nDCG@10 etc. beside BM25's. */
export async function rerankScores(encoder: GemmaEncoder, year: TrecDlYear, o: RankEvalOptions): Promise<RankScores> {
  const scorer = new EncoderPairScorer(encoder, o.tokenizer, { maxLength: o.maxLength });
  const r = await rerankTrecDl(year, scorer, { batchSize: o.batchSize ?? 32, ...(o.queries !== undefined ? { queries: o.queries } : {}), ...(o.runPath ? { runPath: o.runPath } : {}), ...(o.signal ? { signal: o.signal } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
  let pairs = 0;
  for (const v of r.run.values()) pairs += v.length;
  return { year, model: r.scores, bm25: r.bm25, candidates: pairs };
}

/** Bi-encoder retrieval (cosine, exact top-100) over the pooled DL candidates, beside BM25's run. */
export async function retrieveScores(encoder: GemmaEncoder, year: TrecDlYear, o: RankEvalOptions): Promise<RankScores> {
  return retrieveWith(new EncoderEmbedder(encoder, o.tokenizer, { maxLength: o.maxLength }), year, o);
}

/** `retrieveScores` with any text embedder (an exported bi-encoder loaded by `loadEmbedder`: `stTextEmbedder`). */
export async function retrieveWith(embedder: TextEmbedder, year: TrecDlYear, o: Omit<RankEvalOptions, 'tokenizer' | 'maxLength'>): Promise<RankScores> {
  const { records, qrels } = await trecDlSet(year, o.queries);
  const pool = new Map<string, DensePassage>();
  for (const r of records) for (const h of r.hits) if (!pool.has(h.docid)) pool.set(h.docid, { pid: h.docid, text: h.content });
  const run = await denseRetrieve(
    records.map((r) => ({ qid: r.qid, text: r.query })),
    pool.values(),
    embedder,
    { k: 100, similarity: 'cosine', batchSize: o.batchSize ?? 32, totalPassages: pool.size, ...(o.signal ? { signal: o.signal } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}) },
  );
  if (o.runPath) await (await import('../rank/runfile.js')).writeTrecRun(o.runPath, run, 'gemma-lab-dense');
  return { year, model: trecDlScores(qrels, run), bm25: trecDlScores(qrels, runFromTrecDl(records)), candidates: pool.size };
}

/** A sentence-transformers embedder as the ranking pipeline's `TextEmbedder` (same vectors for queries and passages). */
export function stTextEmbedder(e: SentenceEmbedder): TextEmbedder {
  return { embed: async (texts) => (texts.length === 0 ? [] : e.embed(texts).map((v) => Float32Array.from(v))) };
}
