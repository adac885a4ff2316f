/**
 * `gemma-lab rank-eval --qrels FILE --run FILE [--msmarco] [-l N] [-c] [-M N]`: scores a run file
 * offline, printing what the reference tool prints (ms_marco_eval.py's block with --msmarco,
 * otherwise trec_eval-style `measure  all  value` lines).
 */
import { parseArgs } from 'node:util';
import type { Command } from '../cli/main.js';
import { formatTrec, hitRate, msmarcoMrr, trecEval, type Qrels, type Run, type TrecEvalOptions } from '../eval/ranking.js';
import { loadQrels, loadRun } from '../tasks/msmarco.js';

const USAGE = `usage: gemma-lab rank-eval --qrels QRELS --run RUN [--msmarco] [-l LEVEL] [-c] [-M DEPTH]
  --msmarco  official MS MARCO MRR@10 (rank column, divides by qrels queries) plus pygaggle's
             hit-rate R@k, as ms_marco_eval.py / pygaggle print them
  otherwise  trec_eval measures (score order, ties by docid descending):
  -l LEVEL   relevance threshold for binary measures (TREC DL: 2); nDCG always uses graded gains
  -c         average over all qrels queries (missing ones score 0)
  -M DEPTH   keep the first DEPTH documents per query`;

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

const command: Command = {
  summary: 'score a run file against qrels (official MS MARCO MRR@10 or trec_eval measures)',
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        qrels: { type: 'string' },
        run: { type: 'string' },
        msmarco: { type: 'boolean' },
        l: { type: 'string', short: 'l' },
        c: { type: 'boolean', short: 'c' },
        M: { type: 'string', short: 'M' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help || !values.qrels || !values.run) {
      console.log(USAGE);
      return values.help ? 0 : 2;
    }
    const int = (v: string | undefined, flag: string): number | undefined => {
      if (v === undefined) return undefined;
      if (!/^-?\d+$/.test(v)) throw new RangeError(`${flag} needs an integer, got '${v}'`);
      return Number(v);
    };
    const level = int(values.l, '-l');
    const depth = int(values.M, '-M');
    const lines = rankEvalReport(await loadQrels(values.qrels), await loadRun(values.run), {
      msmarco: values.msmarco ?? false,
      complete: values.c ?? false,
      ...(level !== undefined ? { relevanceLevel: level } : {}),
      ...(depth !== undefined ? { maxDocs: depth } : {}),
    });
    console.log(lines.join('\n'));
    return 0;
  },
};
export default command;
