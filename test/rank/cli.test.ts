import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { sharedDataPath } from '../../src/io/paths.js';
import { rankEvalReport } from '../../src/cli/rank-eval.js';
import { loadQrels, loadRun } from '../../src/tasks/msmarco.js';

const M = (...p: string[]): string => sharedDataPath('msmarco', ...p);

describe('rank-eval report', () => {
  it('--msmarco prints exactly what the official script + pygaggle wrote into ans-small/scores', async () => {
    const lines = rankEvalReport(await loadQrels(M('ans-small', 'qrels.dev.small.tsv')), await loadRun(M('ans-small', 'run.dev.small.tsv')), { msmarco: true });
    assert.equal(lines.join('\n') + '\n', await readFile(M('ans-small', 'scores'), 'utf8'));
  });

  it('trec_eval mode with -c -l 2 on DL19 prints map 0.2476, recall_100 0.4910, ndcg_cut_10 0.5058', async () => {
    const lines = rankEvalReport(await loadQrels(M('trec-dl-2019', 'qrels.dl19-passage.txt')), await loadRun(M('trec-dl-2019', 'trec_results_dl19_top100.txt')), {
      msmarco: false,
      complete: true,
      relevanceLevel: 2,
    });
    const get = (name: string): string | undefined => lines.find((l) => l.split('\t')[0]?.trim() === name)?.split('\t')[2];
    assert.deepEqual([get('num_q'), get('map'), get('recall_100'), get('ndcg_cut_10')], ['43', '0.2476', '0.4910', '0.5058']);
  });
});
