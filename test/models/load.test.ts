/** loadModel: registry dispatch and strict loading (missing / unexpected / mis-shaped tensors, ties). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { openCheckpoint, saveCheckpoint, fromFloat32, type HostTensor } from '../../src/checkpoint/index.js';
import { initEngine } from '../../src/engine/index.js';
import { CheckpointError, ConfigError } from '../../src/errors.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { GemmaModel } from '../../src/models/gemma.js';
import { loadModel, loadGemmaModel } from '../../src/models/load.js';
import { MODEL_REGISTRY } from '../../src/models/registry.js';
import { assertNoTensorLeaks } from '../helpers/leaks.js';

const G1 = join(REPO_ROOT, 'test', 'fixtures', 'gemma1-tiny');

async function fixtureTensors(): Promise<{ config: Record<string, unknown>; tensors: Map<string, HostTensor> }> {
  const ck = await openCheckpoint(G1);
  const tensors = new Map<string, HostTensor>();
  for (const n of ck.tensorNames) tensors.set(n, await ck.loadTensor(n));
  return { config: { ...ck.config }, tensors };
}

/** Saves a modified copy of gemma1-tiny and returns the error loadModel throws on it. */
async function loadError(edit: (c: Record<string, unknown>, t: Map<string, HostTensor>) => void): Promise<unknown> {
  const { config, tensors } = await fixtureTensors();
  edit(config, tensors);
  const dir = await mkdtemp(join(tmpdir(), 'gemma-load-'));
  try {
    await saveCheckpoint(dir, { config, tensors });
    const m = await loadModel(dir);
    m.dispose();
    return undefined;
  } catch (e) {
    return e;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('registry: model_type dispatch covers gemma, gemma2, gemma3_text', async () => {
  await initEngine();
  for (const t of ['gemma', 'gemma2', 'gemma3_text']) assert.ok(Object.hasOwn(MODEL_REGISTRY, t));
  const m = await loadModel(G1);
  assert.ok(m instanceof GemmaModel);
  assert.equal(m.config.modelType, 'gemma');
  m.dispose();
  const e = await loadError((c) => (c.model_type = 'llama'));
  assert.ok(e instanceof ConfigError);
  assert.equal(e.field, 'model_type');
  assert.match(e.message, /config\.json: field 'model_type': unsupported model_type "llama"/);
});

test('missing, unexpected and mis-shaped tensors are CheckpointErrors naming file and tensor', async () => {
  await initEngine();
  const missing = await loadError((_c, t) => t.delete('model.layers.1.mlp.up_proj.weight'));
  assert.ok(missing instanceof CheckpointError);
  assert.equal(missing.tensor, 'model.layers.1.mlp.up_proj.weight');
  assert.match(missing.message, /missing tensor/);

  const unexpected = await loadError((_c, t) => t.set('model.layers.1.self_attn.q_norm.weight', fromFloat32(new Float32Array(16), [16], 'F32')));
  assert.ok(unexpected instanceof CheckpointError);
  assert.equal(unexpected.tensor, 'model.layers.1.self_attn.q_norm.weight');
  assert.match(unexpected.message, /model\.safetensors: tensor 'model\.layers\.1\.self_attn\.q_norm\.weight': unexpected tensor/);

  const shape = await loadError((_c, t) => {
    const w = t.get('model.layers.0.self_attn.k_proj.weight')!; // MQA: [1 * 16, 64]
    t.set('model.layers.0.self_attn.k_proj.weight', { ...w, shape: [64, 16] });
  });
  assert.ok(shape instanceof CheckpointError);
  assert.match(shape.message, /model\.safetensors: tensor 'model\.layers\.0\.self_attn\.k_proj\.weight': expected shape \[16, 64\], got \[64, 16\]/);
  assert.equal(shape.tensor, 'model.layers.0.self_attn.k_proj.weight');
});

test('tied lm_head.weight: optional, accepted when stored with the right shape, required when untied', async () => {
  await initEngine();
  const emb = (t: Map<string, HostTensor>) => t.get('model.embed_tokens.weight')!;
  assert.equal(await loadError((_c, t) => t.set('lm_head.weight', emb(t))), undefined);
  const badTie = await loadError((_c, t) => t.set('lm_head.weight', fromFloat32(new Float32Array(64 * 8), [8, 64], 'F32')));
  assert.ok(badTie instanceof CheckpointError);
  assert.match(badTie.message, /tied to 'model\.embed_tokens\.weight'/);
  const untied = await loadError((c) => (c.tie_word_embeddings = false));
  assert.ok(untied instanceof CheckpointError);
  assert.equal(untied.tensor, 'lm_head.weight');
});

test('untied checkpoints use lm_head.weight for the logits', async () => {
  await initEngine();
  const { config, tensors } = await fixtureTensors();
  const head = new Float32Array(256 * 64);
  head[5 * 64] = 1; // logit 5 = hidden[0]; all others 0
  tensors.set('lm_head.weight', fromFloat32(head, [256, 64], 'F32'));
  const dir = await mkdtemp(join(tmpdir(), 'gemma-untied-'));
  try {
    await saveCheckpoint(dir, { config: { ...config, tie_word_embeddings: false }, tensors });
    const m = await loadGemmaModel(dir);
    const out = m.forward([[2, 10, 11]]);
    const h = out.hiddenStates.arraySync()[0]!;
    const l = out.logits!.arraySync()[0]!;
    assert.deepEqual(l.map((r) => r[5]), h.map((r) => r[0]));
    assert.ok(l.every((r) => r.every((x, v) => v === 5 || x === 0)));
    tf.dispose(out);
    m.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('hf://org/repo[@rev] resolves through the huggingface_hub-style cache (offline, no network)', async () => {
  await initEngine();
  const cache = await mkdtemp(join(tmpdir(), 'gemma-hub-'));
  try {
    const commit = 'a'.repeat(40);
    const snap = join(cache, 'models--acme--tiny-gemma', 'snapshots', commit);
    await mkdir(snap, { recursive: true });
    for (const f of ['config.json', 'model.safetensors']) await copyFile(join(G1, f), join(snap, f));
    await mkdir(join(cache, 'models--acme--tiny-gemma', 'refs'), { recursive: true });
    await writeFile(join(cache, 'models--acme--tiny-gemma', 'refs', 'main'), commit);
    const local = await loadGemmaModel(G1);
    for (const src of ['hf://acme/tiny-gemma', `hf://acme/tiny-gemma@${commit}`]) {
      const hub = await loadGemmaModel(src, { hub: { cacheDir: cache, offline: true } });
      const [a, b] = [local.forward([[2, 5, 6]]), hub.forward([[2, 5, 6]])];
      assert.deepEqual(b.logits!.dataSync(), a.logits!.dataSync());
      tf.dispose([a, b]);
      hub.dispose();
    }
    local.dispose();
    await assert.rejects(loadModel('hf://acme/other', { hub: { cacheDir: cache, offline: true } }), /offline/);
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
});

test('a sharded save (model.safetensors.index.json) loads to the same model', async () => {
  await initEngine();
  const { config, tensors } = await fixtureTensors();
  const dir = await mkdtemp(join(tmpdir(), 'gemma-sharded-'));
  try {
    await saveCheckpoint(dir, { config, tensors, maxShardBytes: 100_000 });
    const ck = await openCheckpoint(dir);
    const shards = new Set(ck.tensorNames.map((n) => ck.info(n).file));
    assert.ok(shards.size > 1, `expected several shards, got ${shards.size}`);
    const [a, b] = [await loadGemmaModel(G1), await loadGemmaModel(dir)];
    const [x, y] = [a.forward([[2, 30, 31, 32]]), b.forward([[2, 30, 31, 32]])];
    assert.deepEqual(y.logits!.dataSync(), x.logits!.dataSync());
    tf.dispose([x, y]);
    a.dispose();
    b.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('no tensor leaks: loadModel, fromFloat32, random and a rejected parameter map return to the baseline', async () => {
  await initEngine();
  await assertNoTensorLeaks(() => loadGemmaModel(G1), (m, host) => GemmaModel.fromFloat32(m.config, host), (m) => GemmaModel.random(m.config, 1), 'model.norm.weight');
});
