/** `gemma-lab glue|superglue|rank|results` argument handling: grids, usage errors, merge (no training here). */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { budgetGrid, glueCommand, superglueCommand, testFiles, variantGrid } from '../../src/cli/workflow.js';
import results from '../../src/cli/results.js';
import rank from '../../src/cli/rank.js';

async function quiet<T>(fn: () => Promise<T>): Promise<{ value: T; out: string; err: string }> {
  const [log, error] = [console.log, console.error];
  let out = '';
  let err = '';
  console.log = (...a: unknown[]) => void (out += a.join(' ') + '\n');
  console.error = (...a: unknown[]) => void (err += a.join(' ') + '\n');
  try {
    return { value: await fn(), out, err };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

test('budget and variant flags: comma lists make the grid; each budget is checked', () => {
  const grid = budgetGrid({ steps: '10', lr: '1e-4,3e-4', batch: '8,16', 'max-length': '64' }, 'gemma-lab glue');
  assert.equal(grid.length, 4);
  assert.deepEqual(new Set(grid.map((b) => `${b.lr}/${b.batch}`)), new Set(['0.0001/8', '0.0001/16', '0.0003/8', '0.0003/16']));
  assert.deepEqual(budgetGrid({ epochs: '2' }, 'x'), [{ epochs: 2 }]);
  assert.throws(() => budgetGrid({ lr: '-1' }, 'x'), /lr must be > 0/);
  assert.throws(() => budgetGrid({ steps: '3', epochs: '1' }, 'x'), /steps or epochs, not both/);
  assert.throws(() => budgetGrid({ batch: '32', 'train-limit': '8' }, 'x'), /batch 32 is larger than the 8 training examples/);
  assert.deepEqual(variantGrid({ pooling: 'mean,last', bias: 'false' }), [{ pooling: 'mean', bias: false }, { pooling: 'last', bias: false }]);
  assert.throws(() => variantGrid({ dropout: '1.5' }), ConfigError);
});

test('--test-file: one file for one task, TASK=FILE for several', () => {
  assert.deepEqual(testFiles('t.tsv', ['rte']), { rte: 't.tsv' });
  assert.deepEqual(testFiles('rte=a.tsv,cb=b.jsonl', ['rte', 'superglue:cb']), { rte: 'a.tsv', 'superglue:cb': 'b.jsonl' });
  assert.throws(() => testFiles('t.tsv', ['rte', 'sst2']), /TASK=FILE/);
  assert.throws(() => testFiles('qqp=x', ['rte']), /not one of the tasks/);
});

test('usage errors before any loading: unknown task, missing data, encoder-decoder objective, bad shard', async () => {
  const out = mkdtempSync(join(tmpdir(), 'cli-wf-'));
  const model = join(process.cwd(), 'data', 'models', 'tiny-gemma-pretrained');
  await assert.rejects(glueCommand.run(['--model', model, '--task', 'rtee', '--out', out]), /unknown task 'rtee'/);
  await assert.rejects(glueCommand.run(['--model', model, '--task', 'qqp', '--out', out]), /missing data files[^]*qqp: /);
  await assert.rejects(superglueCommand.run(['--model', model, '--task', 'cb', '--out', out, '--objective', 'prefixlm']), /encoder-decoder route/);
  await assert.rejects(glueCommand.run(['--model', model, '--task', 'rte', '--out', out, '--shard', '0/2']), /not k\/N/);
  const missing = await quiet(() => glueCommand.run(['--task', 'rte']));
  assert.equal(missing.value, 2);
  assert.match(missing.err, /missing required --model/);
  const help = await quiet(() => rank.run(['--help']));
  assert.match(help.out, /train\s+fine-tune a reranker or bi-encoder/);
});

test('gemma-lab results merge: shard stores -> one store, results.csv with mean/std/95% interval', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-merge-'));
  const rec = (key: string, seed: number, value: number) => JSON.stringify({ key, variant: { pooling: 'mean' }, seed, task: 'rte', budget: { steps: 2 }, metric: 'score', value, metrics: { accuracy: value }, steps: 2, seconds: 1, finished: '2026-01-01T00:00:00.000Z' });
  writeFileSync(join(dir, 'a.jsonl'), rec('00000000000000a1', 0, 0.5) + '\n' + rec('00000000000000a3', 2, 0.7) + '\n');
  writeFileSync(join(dir, 'b.jsonl'), rec('00000000000000a2', 1, 0.6) + '\n');
  const r = await quiet(() => results.run(['merge', '--out', join(dir, 'm'), join(dir, 'a.jsonl'), join(dir, 'b.jsonl')]));
  assert.equal(r.value, 0);
  assert.equal(readFileSync(join(dir, 'm', 'results.jsonl'), 'utf8').trim().split('\n').length, 3);
  const csv = readFileSync(join(dir, 'm', 'results.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'task,variant,metric,n,mean,std,ci95_lo,ci95_hi');
  // mean 0.6, std 0.1, t(0.975, 2) = 4.303: 0.6 ± 0.2484
  assert.equal(csv[1], 'rte,pooling=mean,accuracy,3,0.6,0.1,0.3516,0.8484');
  assert.equal((await quiet(() => results.run(['merge']))).value, 2);
});
