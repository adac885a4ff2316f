import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { openCheckpoint, saveCheckpoint, type HostTensor } from '../../src/checkpoint/index.js';
import { initEngine } from '../../src/engine/index.js';
import { CheckpointError, ConfigError } from '../../src/errors.js';
import { loadModel } from '../../src/models/load.js';
import { T5GemmaModel } from '../../src/models/t5gemma.js';
import { checkGolden, fixtureDir } from './golden.js';

import { assertNoTensorLeaks } from '../helpers/leaks.js';
const tmp = mkdtempSync(join(tmpdir(), 't5gemma-load-'));
before(async () => {
  await initEngine();
});
after(() => rmSync(tmp, { recursive: true, force: true }));

async function rewrite(name: string, edit: (t: Map<string, HostTensor>) => Map<string, HostTensor>, config?: Record<string, unknown>): Promise<string> {
  const src = await openCheckpoint(fixtureDir('t5gemma-tiny-unbalanced'));
  const tensors = new Map<string, HostTensor>();
  for (const n of src.tensorNames) tensors.set(n, await src.loadTensor(n));
  const dir = join(tmp, name);
  await saveCheckpoint(dir, { config: config ?? JSON.parse(readFileSync(src.configPath, 'utf8')), tensors: edit(tensors) });
  return dir;
}

test('keras-hub style names (no model. prefix) and a stored lm_head.out_proj.weight load and match the goldens', async () => {
  const dir = await rewrite('keras', (t) => {
    const out = new Map([...t].map(([n, v]) => [n.replace(/^model\./, ''), v]));
    out.set('lm_head.out_proj.weight', t.get('model.decoder.embed_tokens.weight') as HostTensor);
    return out;
  });
  const model = await loadModel(dir);
  assert.ok(model instanceof T5GemmaModel);
  const err = checkGolden(model, 't5gemma-tiny-unbalanced');
  assert.ok(err.logits < 1e-4);
  model.dispose();
});

test('broken checkpoints fail with typed errors naming the tensor or field', async () => {
  const missing = await rewrite('missing', (t) => {
    t.delete('model.decoder.layers.1.cross_attn.k_proj.weight');
    return t;
  });
  await assert.rejects(loadModel(missing), (e: unknown) => e instanceof CheckpointError && e.tensor === 'model.decoder.layers.1.cross_attn.k_proj.weight');
  const extra = await rewrite('extra', (t) => t.set('model.decoder.layers.0.cross_attn.q_norm.weight', { dtype: 'F32', shape: [16], data: new Uint8Array(64) } as HostTensor));
  await assert.rejects(loadModel(extra), (e: unknown) => e instanceof CheckpointError && e.tensor === 'model.decoder.layers.0.cross_attn.q_norm.weight');
  const cfg = JSON.parse(readFileSync(join(fixtureDir('t5gemma-tiny-unbalanced'), 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  // A config claiming a 32-wide cross-attention input contradicts encoder.hidden_size.
  const wrongCfg = await rewrite('wrongcfg', (t) => t, { ...cfg, decoder: { ...cfg.decoder, cross_attention_hidden_size: 32 } });
  await assert.rejects(loadModel(wrongCfg), (e: unknown) => e instanceof ConfigError && e.field === 'decoder.cross_attention_hidden_size');
  // Wrong shape: a decoder config that says 2 kv heads while the weights are MQA.
  const mha = await rewrite('mha', (t) => t, { ...cfg, decoder: { ...cfg.decoder, num_key_value_heads: 2 } });
  await assert.rejects(loadModel(mha), (e: unknown) => e instanceof CheckpointError && /k_proj/.test(e.tensor ?? ''));
});

test('T5GemmaModel.random: every parameter, seeded, HF-like init (norm offsets 0, pad embedding row 0)', async () => {
  const loaded = (await loadModel(fixtureDir('t5gemma-tiny-unbalanced'))) as T5GemmaModel;
  const cfg = loaded.config;
  loaded.dispose();
  const a = T5GemmaModel.random(cfg, 3);
  const b = T5GemmaModel.random(cfg, 3);
  assert.equal(a.params.size, 2 + 2 * 11 + 2 + 2 * 17); // embed+norm per side; 11 tensors per encoder layer, 17 per decoder layer
  for (const [n, v] of a.params) assert.deepEqual(v.dataSync(), b.params.get(n)?.dataSync(), n);
  assert.ok((a.params.get('model.decoder.layers.1.post_cross_attn_layernorm.weight')?.dataSync() as Float32Array).every((x) => x === 0));
  assert.ok((a.params.get('model.decoder.embed_tokens.weight')?.dataSync() as Float32Array).slice(0, 32).every((x) => x === 0));
  a.dispose();
  b.dispose();
});

test('dropout: active only in training, seeded; bad inputs are RangeErrors', async () => {
  const m = (await loadModel(fixtureDir('t5gemma-tiny'))) as T5GemmaModel;
  const drop = new T5GemmaModel({ ...m.config, dropoutRate: 0.1 }, m.params);
  const ids = [[2, 50, 60, 70]];
  const dec = [[2, 80, 90]];
  const run = (o: { training?: boolean; seed?: number }) => {
    const out = drop.forward(ids, dec, o);
    const v = out.logits.arraySync();
    out.encoderHiddenStates.dispose();
    out.decoderHiddenStates.dispose();
    out.logits.dispose();
    return v;
  };
  const evalOut = m.forward(ids, dec);
  assert.deepEqual(run({}), evalOut.logits.arraySync(), 'no dropout outside training');
  assert.notDeepEqual(run({ training: true, seed: 1 }), run({}));
  assert.deepEqual(run({ training: true, seed: 1 }), run({ training: true, seed: 1 }));
  assert.notDeepEqual(run({ training: true, seed: 1 }), run({ training: true, seed: 2 }));
  evalOut.encoderHiddenStates.dispose();
  evalOut.decoderHiddenStates.dispose();
  evalOut.logits.dispose();
  assert.throws(() => m.encode([[2, 300]]), RangeError);
  assert.throws(() => m.encode([[2, 3]], [[1, 2]]), RangeError);
  assert.throws(() => m.forward([[2, 3]], [[2, 3]], { attentionMask: [[1, 1, 1]] }), RangeError);
  m.dispose();
});

test('no tensor leaks: loadModel, fromFloat32, random and a rejected parameter map return to the baseline', async () => {
  await assertNoTensorLeaks(
    async () => (await loadModel(fixtureDir('t5gemma-tiny-unbalanced'))) as T5GemmaModel,
    (m, host) => T5GemmaModel.fromFloat32(m.config, host),
    (m) => T5GemmaModel.random(m.config, 1),
    'model.encoder.norm.weight',
  );
});
