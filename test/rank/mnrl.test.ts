import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { multipleNegativesRanking } from '../../src/rank/losses.js';

// Golden: test/reference/mnrl_loss.py (python3-torch float64, sentence-transformers' MNRL semantics).
const g = JSON.parse(readFileSync(new URL('./mnrl_golden.json', import.meta.url), 'utf8')) as { q: number[][]; docs: number[][]; temperature: number; loss: number };

test('multipleNegativesRanking matches the float64 torch reference (in-batch + hard negatives, temperature)', async () => {
  // tfjs-core registers no backend by itself (the umbrella package did).
  await (await import('../../src/engine/index.js')).initEngine();
  const loss = tf.tidy(() => multipleNegativesRanking(tf.tensor2d(g.q), tf.tensor2d(g.docs), g.temperature).dataSync()[0] as number);
  assert.ok(Math.abs(loss - g.loss) < 1e-4 * Math.max(1, Math.abs(g.loss)), `got ${loss}, reference ${g.loss}`);
  // Scaling a vector does not change cosine similarities: same loss.
  const scaled = tf.tidy(() => multipleNegativesRanking(tf.tensor2d(g.q).mul(3) as tf.Tensor2D, tf.tensor2d(g.docs), g.temperature).dataSync()[0] as number);
  assert.ok(Math.abs(scaled - loss) < 1e-5);
  assert.throws(() => multipleNegativesRanking(tf.tensor2d(g.q), tf.tensor2d(g.docs.slice(0, 4)), 0.05), RangeError);
});

test('BiEncoderObjective trains the backbone + pooling (not the unused score head) and lowers the MNRL loss', async () => {
  const { initEngine } = await import('../../src/engine/index.js');
  const { tinyGemma2 } = await import('../helpers/tiny.js');
  const { GemmaModel } = await import('../../src/models/gemma.js');
  const { toEncoder } = await import('../../src/encoder/encoder.js');
  const { BiEncoderObjective, rankingData } = await import('../../src/rank/encoder.js');
  const { loadTokenizer } = await import('../../src/tokenize/index.js');
  const { train } = await import('../../src/train/trainer.js');
  const { REPO_ROOT } = await import('../../src/io/paths.js');
  await initEngine();
  const tok = loadTokenizer(`${REPO_ROOT}/data/tokenizers/gemma3-corpus`);
  const config = tinyGemma2({ vocab_size: tok.vocabSize, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, head_dim: 8, query_pre_attn_scalar: 8, sliding_window: 16, layer_types: ['full_attention'], pad_token_id: tok.padId, bos_token_id: tok.bosId, eos_token_id: tok.eosId, initializer_range: 0.02, max_position_embeddings: 64 }, 'test');
  const model = GemmaModel.random(config, 0);
  const enc = toEncoder(model, { attention: 'bidirectional_global', pooling: 'mean', head: { kind: 'ranking', loss: 'pairwise' } });
  const groups = ['cats purr', 'rain falls', 'ships sail', 'bread bakes'].map((q, i) => ({ query: q, positive: `${q} loudly ${i}`, negatives: [`unrelated text ${i}`] }));
  const obj = new BiEncoderObjective(enc, tok, { maxLength: 16 }, 0.05);
  assert.ok(![...obj.params.keys()].some((n) => n.startsWith('score.')));
  const r = await train(obj, rankingData(groups, 4), { seed: 0, maxSteps: 12, schedule: { lr: 1e-2, warmupSteps: 0, decay: 'constant' } });
  const first = r.logs[0]!.loss;
  const last = r.logs.at(-1)!.loss;
  assert.ok(last < first - 0.1, `MNRL loss should fall: ${first.toFixed(4)} -> ${last.toFixed(4)}`);
  enc.dispose();
  model.dispose();
});
