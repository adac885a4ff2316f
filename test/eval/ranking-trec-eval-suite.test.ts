/**
 * Opt-in cross-check against trec_eval's own regression suite (usnistgov/trec_eval `test/`, the
 * `make quicktest` cases): every per-query and `all` value of the measures trecEval computes must equal
 * trec_eval's printed `%.4f`. The suite's files are not vendored here; point at a checkout:
 *   git clone https://github.com/usnistgov/trec_eval && \
 *   TREC_EVAL_TEST_DIR=$PWD/trec_eval/test node --import tsx --test test/eval/ranking-trec-eval-suite.test.ts
 * (Checked for this commit against trec_eval f425365 (v10.0): 4 x 132 values, 0 mismatches.)
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { trecEval, type TrecEvalOptions, type TrecQueryMeasures } from '../../src/eval/ranking.js';
import { loadQrels, loadRun } from '../../src/tasks/msmarco.js';

const DIR = process.env.TREC_EVAL_TEST_DIR;
const CUTOFFS = [5, 10, 15, 20, 30, 100, 200, 500, 1000];

function printed(m: TrecQueryMeasures): Map<string, string> {
  const out = new Map<string, string>([
    ['num_ret', String(m.numRet)],
    ['num_rel', String(m.numRel)],
    ['num_rel_ret', String(m.numRelRet)],
    ['map', m.map.toFixed(4)],
    ['recip_rank', m.recipRank.toFixed(4)],
    ['ndcg', m.ndcg.toFixed(4)],
  ]);
  for (const k of CUTOFFS) {
    out.set(`P_${k}`, (m.precision.get(k) as number).toFixed(4));
    out.set(`recall_${k}`, (m.recall.get(k) as number).toFixed(4));
    out.set(`ndcg_cut_${k}`, (m.ndcgCut.get(k) as number).toFixed(4));
  }
  return out;
}

const CASES: [string, string, string, TrecEvalOptions][] = [
  ['out.test.aq', 'qrels.test', 'results.test', {}],
  ['out.test.aqc', 'qrels.test', 'results.trunc', { complete: true }],
  ['out.test.aqcM', 'qrels.test', 'results.trunc', { complete: true, maxDocs: 100 }],
  ['out.test.aql', 'qrels.rel_level', 'results.test', { relevanceLevel: 2 }],
];

describe('trec_eval regression suite (opt-in: TREC_EVAL_TEST_DIR)', { skip: DIR && existsSync(DIR) ? false : 'TREC_EVAL_TEST_DIR not set' }, () => {
  for (const [out, qrels, run, opts] of CASES) {
    it(`${out}: every map / recip_rank / P / recall / ndcg / ndcg_cut / num_* value matches`, async () => {
      const dir = DIR as string;
      const r = trecEval(await loadQrels(join(dir, qrels)), await loadRun(join(dir, run)), opts);
      const mine = new Map([...r.perQuery].map(([q, m]) => [q, printed(m)]));
      mine.set('all', printed(r.mean));
      let checked = 0;
      for (const line of readFileSync(join(dir, out), 'utf8').split('\n')) {
        const [name, qid, value] = line.split('\t').map((s) => s.trim());
        const got = mine.get(qid ?? '')?.get(name ?? '');
        if (got === undefined) continue; // a measure trecEval does not compute (bpref, gm_map, ...)
        assert.equal(got, value, `${out} ${name} ${qid}`);
        checked++;
      }
      assert.equal(checked, 132);
    });
  }
});
