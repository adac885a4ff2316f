/**
 * Ranking metrics with the exact semantics of the two reference tools (docs/benchmarks.md §3):
 *
 * - `msmarcoMrr`: the official MS MARCO `ms_marco_eval.py` MRR@10. Order comes from the run's
 *   **rank column only** (no scores, no tie-breaking); every pid listed in the qrels is relevant
 *   (its label column is ignored); the sum is divided by the number of **qrels queries**, so a query
 *   missing from the run scores 0 and run queries without qrels are ignored.
 * - `trecEval`: trec_eval 9.0.8 (`form_res_rels.c`, `m_map.c`, `m_ndcg_cut.c`, ...). Order comes from
 *   the **score** column (descending), ties broken by docid in descending string order; the rank
 *   column is ignored. `relevanceLevel` (trec_eval `-l`) sets the threshold for binary measures (MAP,
 *   recall, P, recip_rank); nDCG always uses the graded label as gain. Without `complete` (trec_eval
 *   `-c`) the mean is over queries in both run and qrels; with it, over all qrels queries.
 *
 * Recall has two conventions in the MS MARCO literature, both named here:
 * - `recall_k` in `trecEval`: per query |relevant ∩ top k| / |relevant|, averaged (Anserini's number);
 * - `hitRate`: share of qrels queries with at least one relevant passage in the top k (pygaggle's
 *   "recall@1000").
 */
import type { RunEntry } from '../tasks/types.js';
import { GemmaLabError } from '../errors.js';

/** qid -> docid -> graded label (MS MARCO: 1; TREC DL: 0..3). */
export type Qrels = ReadonlyMap<string, ReadonlyMap<string, number>>;

export type { RunEntry };

/** qid -> retrieved documents, in file order. */
export type Run = ReadonlyMap<string, readonly RunEntry[]>;

export interface MsmarcoMrrResult {
  /** `MRR @10` as printed by ms_marco_eval.py (for k = 10). */
  readonly mrr: number;
  /** `QueriesRanked`: distinct qids in the run, including those without qrels. */
  readonly queriesRanked: number;
  /** Reciprocal rank per qrels query (0 when missing from the run). */
  readonly perQuery: ReadonlyMap<string, number>;
}

/** ms_marco_eval.py keeps a fixed 1000-slot array per query. */
const MSMARCO_SLOTS = 1000;

/**
 * Official MS MARCO MRR@k (k = 10 in the script). Each query's run is written into 1000 slots with
 * `slot[rank-1] = pid` (a later duplicate rank overwrites; rank 0 and negative ranks index from the
 * end as Python does), then slots 0..k-1 are scanned for the first relevant pid.
 * One deviation: an empty slot never matches, while the script's empty slots hold pid 0.
 */
export function msmarcoMrr(qrels: Qrels, run: Run, k = 10): MsmarcoMrrResult {
  let overlap = 0;
  // Summed in run order, as the script does: float addition order decides the last bits.
  let sum = 0;
  const perQuery = new Map<string, number>();
  for (const qid of qrels.keys()) perQuery.set(qid, 0);
  for (const [qid, entries] of run) {
    const relevant = qrels.get(qid);
    if (!relevant) continue;
    overlap++;
    const slots: (string | undefined)[] = new Array<string | undefined>(MSMARCO_SLOTS);
    for (const e of entries) {
      if (!Number.isInteger(e.rank) || e.rank > MSMARCO_SLOTS || e.rank < 1 - MSMARCO_SLOTS) {
        throw new RangeError(`msmarcoMrr: qid ${qid} pid ${e.docid}: rank ${e.rank} outside the script's 1000 slots`);
      }
      slots[e.rank >= 1 ? e.rank - 1 : MSMARCO_SLOTS + e.rank - 1] = e.docid;
    }
    for (let i = 0; i < Math.min(k, MSMARCO_SLOTS); i++) {
      const pid = slots[i];
      if (pid !== undefined && relevant.has(pid)) {
        perQuery.set(qid, 1 / (i + 1));
        sum += 1 / (i + 1);
        break;
      }
    }
  }
  if (overlap === 0) throw new GemmaLabError('msmarcoMrr: no run query appears in the qrels');
  return { mrr: sum / qrels.size, queriesRanked: run.size, perQuery };
}

/** trec_eval's result order: score descending, then docid in descending strcmp order. */
export function trecOrder(entries: readonly RunEntry[]): RunEntry[] {
  return [...entries].sort((a, b) => b.score - a.score || compareDocids(b.docid, a.docid));
}

/** trec_eval's docid order: strcmp on UTF-8 bytes (for ASCII ids, plain `<`). */
export function compareDocids(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export interface TrecEvalOptions {
  /** trec_eval `-l`: labels >= this count as relevant for binary measures. Default 1. */
  readonly relevanceLevel?: number;
  /** trec_eval `-c`: average over all qrels queries (missing ones score 0). Default false. */
  readonly complete?: boolean;
  /** trec_eval `-M`: keep only the first n documents per query after sorting. */
  readonly maxDocs?: number;
  /** Cutoffs for ndcg_cut, recall and P. Default trec_eval's 5,10,15,20,30,100,200,500,1000. */
  readonly cutoffs?: readonly number[];
}

export interface TrecQueryMeasures {
  readonly numRet: number;
  readonly numRel: number;
  readonly numRelRet: number;
  /** Average precision over all retrieved docs (trec_eval `map`). */
  readonly map: number;
  readonly recipRank: number;
  /** nDCG over all retrieved docs (trec_eval `ndcg`). */
  readonly ndcg: number;
  /** cutoff -> value (trec_eval `ndcg_cut.k`, `recall.k`, `P.k`). */
  readonly ndcgCut: ReadonlyMap<number, number>;
  readonly recall: ReadonlyMap<number, number>;
  readonly precision: ReadonlyMap<number, number>;
}

export interface TrecEvalResult {
  /** Queries averaged over (trec_eval's `num_q`). */
  readonly numQueries: number;
  readonly mean: TrecQueryMeasures;
  readonly perQuery: ReadonlyMap<string, TrecQueryMeasures>;
}

const DEFAULT_CUTOFFS = [5, 10, 15, 20, 30, 100, 200, 500, 1000] as const;

/** Per-query measures of trec_eval for one ranked list. Unjudged documents have gain 0. */
export function trecEvalQuery(
  judged: ReadonlyMap<string, number>,
  entries: readonly RunEntry[],
  opts: TrecEvalOptions = {},
): TrecQueryMeasures {
  const level = opts.relevanceLevel ?? 1;
  const cutoffs = opts.cutoffs ?? DEFAULT_CUTOFFS;
  let ranked = trecOrder(entries);
  if (opts.maxDocs !== undefined) ranked = ranked.slice(0, opts.maxDocs);
  const seen = new Set<string>();
  for (const e of ranked) {
    // trec_eval refuses a run that lists a document twice for a query.
    if (seen.has(e.docid)) throw new RangeError(`trecEval: docid ${e.docid} retrieved twice`);
    seen.add(e.docid);
  }
  // Negative labels mean "in the pool but unjudged" to trec_eval: never relevant, never a gain.
  const labels = ranked.map((e) => judged.get(e.docid) ?? -1);
  let numRel = 0;
  const idealGains: number[] = [];
  for (const rel of judged.values()) {
    if (rel >= level) numRel++;
    if (rel > 0) idealGains.push(rel);
  }
  idealGains.sort((a, b) => b - a);

  let numRelRet = 0;
  let apSum = 0;
  let recipRank = 0;
  const relRetAt: number[] = []; // relRetAt[i] = relevant among the first i+1
  for (let i = 0; i < labels.length; i++) {
    if ((labels[i] as number) >= level) {
      numRelRet++;
      apSum += numRelRet / (i + 1);
      if (recipRank === 0) recipRank = 1 / (i + 1);
    }
    relRetAt.push(numRelRet);
  }
  const relRetInTop = (k: number): number => (labels.length === 0 ? 0 : (relRetAt[Math.min(k, labels.length) - 1] as number));

  const ndcgCut = new Map<number, number>();
  const recall = new Map<number, number>();
  const precision = new Map<number, number>();
  for (const k of cutoffs) {
    const ideal = dcg(idealGains, k);
    ndcgCut.set(k, ideal > 0 ? dcg(labels, k) / ideal : 0);
    recall.set(k, numRel > 0 ? relRetInTop(k) / numRel : 0);
    precision.set(k, relRetInTop(k) / k);
  }
  const idealAll = dcg(idealGains, idealGains.length);
  return {
    numRet: labels.length,
    numRel,
    numRelRet,
    map: numRel > 0 ? apSum / numRel : 0,
    recipRank,
    ndcg: idealAll > 0 ? dcg(labels, labels.length) / idealAll : 0,
    ndcgCut,
    recall,
    precision,
  };
}

/** Sum of gain / log2(rank + 1) over the first k positions; non-positive labels add nothing. */
function dcg(gains: readonly number[], k: number): number {
  let sum = 0;
  const n = Math.min(k, gains.length);
  for (let i = 0; i < n; i++) {
    const g = gains[i] as number;
    if (g > 0) sum += g / Math.log2(i + 2);
  }
  return sum;
}

/** trec_eval over a whole run: per-query measures and their mean (see the module comment). */
export function trecEval(qrels: Qrels, run: Run, opts: TrecEvalOptions = {}): TrecEvalResult {
  const perQuery = new Map<string, TrecQueryMeasures>();
  const qids = opts.complete ? [...qrels.keys()] : [...run.keys()].filter((q) => qrels.has(q));
  for (const qid of qids) {
    perQuery.set(qid, trecEvalQuery(qrels.get(qid) as ReadonlyMap<string, number>, run.get(qid) ?? [], opts));
  }
  if (perQuery.size === 0) throw new GemmaLabError('trecEval: no run query appears in the qrels');
  return { numQueries: perQuery.size, mean: meanMeasures([...perQuery.values()]), perQuery };
}

function meanMeasures(all: readonly TrecQueryMeasures[]): TrecQueryMeasures {
  const n = all.length;
  const avg = (f: (m: TrecQueryMeasures) => number): number => all.reduce((s, m) => s + f(m), 0) / n;
  const avgMap = (f: (m: TrecQueryMeasures) => ReadonlyMap<number, number>): Map<number, number> => {
    const out = new Map<number, number>();
    for (const k of f(all[0] as TrecQueryMeasures).keys()) out.set(k, avg((m) => f(m).get(k) as number));
    return out;
  };
  // trec_eval prints the totals of the count measures, not their means.
  const total = (f: (m: TrecQueryMeasures) => number): number => all.reduce((s, m) => s + f(m), 0);
  return {
    numRet: total((m) => m.numRet),
    numRel: total((m) => m.numRel),
    numRelRet: total((m) => m.numRelRet),
    map: avg((m) => m.map),
    recipRank: avg((m) => m.recipRank),
    ndcg: avg((m) => m.ndcg),
    ndcgCut: avgMap((m) => m.ndcgCut),
    recall: avgMap((m) => m.recall),
    precision: avgMap((m) => m.precision),
  };
}

/**
 * pygaggle's "recall@k" (here: hit rate): the share of qrels queries with at least one document
 * labelled >= `relevanceLevel` among the first k of the run in trec_eval order. Queries missing
 * from the run count as misses.
 */
export function hitRate(qrels: Qrels, run: Run, k: number, relevanceLevel = 1): number {
  let hits = 0;
  for (const [qid, judged] of qrels) {
    const top = trecOrder(run.get(qid) ?? []).slice(0, k);
    if (top.some((e) => (judged.get(e.docid) ?? -1) >= relevanceLevel)) hits++;
  }
  return hits / qrels.size;
}

/** trec_eval prints measures with `%.4f`. */
export function formatTrec(value: number): string {
  return value.toFixed(4);
}
