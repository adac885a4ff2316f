/**
 * The real GLUE run function on a tiny random checkpoint (2 steps, 8 examples): deterministic given the
 * job (what resume-by-key relies on), and refusing a checkpoint whose weights changed.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { tinyGemma2 } from '../helpers/tiny.js';
import { initEngine } from '../../src/engine/index.js';
import { ConfigError } from '../../src/errors.js';
import { glueEncoderRun, modelIdentity } from '../../src/experiments/glue.js';
import { readRecords, runAblation } from '../../src/experiments/index.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { GemmaModel } from '../../src/models/gemma.js';
import { loadTokenizer } from '../../src/tokenize/index.js';

const TOKENIZER = join(REPO_ROOT, 'data', 'tokenizers', 'gemma3-corpus');

async function tinyCheckpoint(): Promise<{ dir: string; model: string; modelSha: string }> {
  await initEngine();
  const tok = loadTokenizer(TOKENIZER);
  const config = tinyGemma2({ vocab_size: tok.vocabSize, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, head_dim: 8, query_pre_attn_scalar: 8, sliding_window: 16, layer_types: ['full_attention'], pad_token_id: tok.padId, bos_token_id: tok.bosId, eos_token_id: tok.eosId, initializer_range: 0.02, max_position_embeddings: 128 }, 'test');
  const dir = mkdtempSync(join(tmpdir(), 'glue-run-'));
  const m = GemmaModel.random(config, 0);
  await m.save(dir);
  m.dispose();
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(TOKENIZER, f), join(dir, f));
  return { dir, ...(await modelIdentity(dir)) };
}

test('glueEncoderRun: same job, same result; a changed checkpoint is refused', async () => {
  const ck = await tinyCheckpoint();
  assert.equal(ck.model, relative(REPO_ROOT, ck.dir));
  const job = {
    variant: { attention: 'bidirectional_global', pooling: 'attention', dropout: 0.1, init: 'random' },
    seed: 3,
    task: 'rte',
    budget: { steps: 2, batch: 4, lr: 1e-3, trainLimit: 8, devLimit: 8, maxLength: 32, model: ck.model, modelSha: ck.modelSha },
  };
  const file = join(ck.dir, 'results.jsonl');
  const first = await runAblation({ name: 't', variants: [job.variant], seeds: [3], tasks: ['rte'], budget: job.budget }, glueEncoderRun, { file });
  const rec = first.records[0]!;
  assert.equal(rec.metric, 'accuracy');
  assert.equal(rec.steps, 2);
  assert.equal(rec.value, rec.metrics.accuracy);
  assert.equal(rec.extra?.devExamples, 8);
  // accuracy on 8 examples is a multiple of 1/8
  assert.equal(Math.round(rec.value * 8), rec.value * 8);
  const again = await glueEncoderRun(job, {});
  assert.equal(again.value, rec.value, 'seeded: identical dev score');
  assert.equal(again.extra?.trainLossLast10, rec.extra?.trainLossLast10, 'seeded: identical training losses');
  assert.equal(readRecords(file).length, 1);
  await assert.rejects(glueEncoderRun({ ...job, budget: { ...job.budget, modelSha: '000000000000' } }, {}), (e: unknown) => e instanceof ConfigError && /weights hash/.test(e.message));
});
