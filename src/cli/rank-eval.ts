/**
 * `gemma-lab rank-eval --qrels FILE --run FILE [--msmarco] [-l N] [-c] [-M N]`: scores a run file
 * offline, printing what the reference tool prints (ms_marco_eval.py's block with --msmarco,
 * otherwise trec_eval-style `measure  all  value` lines).
 */
import { defineCommand } from './args.js';
import { ConfigError } from '../errors.js';
import { formatTrec, hitRate, msmarcoMrr, trecEval, type Qrels, type Run, type TrecEvalOptions } from '../eval/ranking.js';
import { loadQrels, loadRun } from '../tasks/msmarco.js';

/** The lines `rank-eval` prints. */
export function rankEvalReport(qrels: Qrels, run: Run, mode: { readonly msmarco: boolean } & TrecEvalOptions): string[] {
  if (mode.msmarco) {
    const r = msmarcoMrr(qrels, run);
    return [
      '#####################',
      `MRR @10: ${r.mrr}`,
      `QueriesRanked: ${r.queriesRanked}`,
      `R @1000: ${hitRate(qrels, run, 1000)}`,
      `R @50: ${hitRate(qrels, run, 50)}`,
      '#####################',
    ];
  }
  const res = trecEval(qrels, run, { ...mode, cutoffs: [5, 10, 20, 100, 1000] });
  const m = res.mean;
  const line = (name: string, v: string): string => `${name.padEnd(22)}\tall\t${v}`;
  return [
    line('num_q', String(res.numQueries)),
    line('num_ret', String(m.numRet)),
    line('num_rel', String(m.numRel)),
    line('num_rel_ret', String(m.numRelRet)),
    line('map', formatTrec(m.map)),
    line('recip_rank', formatTrec(m.recipRank)),
    ...[5, 10, 20, 100, 1000].map((k) => line(`P_${k}`, formatTrec(m.precision.get(k) as number))),
    ...[5, 10, 20, 100, 1000].map((k) => line(`recall_${k}`, formatTrec(m.recall.get(k) as number))),
    line('ndcg', formatTrec(m.ndcg)),
    ...[5, 10, 20, 100, 1000].map((k) => line(`ndcg_cut_${k}`, formatTrec(m.ndcgCut.get(k) as number))),
  ];
}

export default defineCommand(
  'score a run file against qrels (official MS MARCO MRR@10 or trec_eval measures)',
  {
    name: 'rank-eval',
    flags: {
      qrels: { type: 'string', required: true, value: 'QRELS', help: 'relevance judgments (TREC qrels)' },
      run: { type: 'string', required: true, value: 'RUN', help: 'run file (MS MARCO or TREC format)' },
      msmarco: {
        type: 'boolean',
        help: "official MS MARCO MRR@10 (rank column, divides by qrels queries) plus pygaggle's\nhit-rate R@k, as ms_marco_eval.py / pygaggle print them;\notherwise trec_eval measures (score order, ties by docid descending) with:",
      },
      l: { type: 'string', value: 'LEVEL', help: 'relevance threshold for binary measures (TREC DL: 2); nDCG always uses graded gains' },
      c: { type: 'boolean', help: 'average over all qrels queries (missing ones score 0)' },
      M: { type: 'string', value: 'DEPTH', help: 'keep the first DEPTH documents per query' },
    },
  },
  async (values) => {
    const int = (v: string | undefined, flag: string): number | undefined => {
      if (v === undefined) return undefined;
      if (!/^-?\d+$/.test(v)) throw new ConfigError(`needs an integer, got '${v}'`, undefined, flag);
      return Number(v);
    };
    const level = int(values.l, '-l');
    const depth = int(values.M, '-M');
    const lines = rankEvalReport(await loadQrels(values.qrels), await loadRun(values.run), {
      msmarco: values.msmarco,
      complete: values.c,
      ...(level !== undefined ? { relevanceLevel: level } : {}),
      ...(depth !== undefined ? { maxDocs: depth } : {}),
    });
    console.log(lines.join('\n'));
    return 0;
  },
);
