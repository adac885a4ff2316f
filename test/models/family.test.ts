/**
 * Published layouts of the Gemma family (fixtures from test/reference/make_family_fixtures.py, float64 goldens):
 * multimodal gemma3 (sparse text_config, both key layouts, vision skipped unread), vaultgemma, and the
 * one-line refusals for families that are not implemented.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint, saveCheckpoint, type Checkpoint, type HostTensor } from '../../src/checkpoint/index.js';
import { parseGemma3MultimodalConfig } from '../../src/config/gemma3.js';
import { initEngine } from '../../src/engine/index.js';
import { CheckpointError, ConfigError } from '../../src/errors.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { GemmaModel } from '../../src/models/gemma.js';
import { loadGemmaModel, loadModel } from '../../src/models/load.js';
import { MODEL_REGISTRY } from '../../src/models/registry.js';
import { checkGolden, readGolden, report } from './golden.js';

const fixture = (name: string) => join(REPO_ROOT, 'test', 'fixtures', name);
const MM = fixture('gemma3-mm-tiny');

async function renamedCopy(src: string, rename: (n: string) => string | null, config?: Record<string, unknown>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'family-'));
  const ckpt = await openCheckpoint(src);
  const tensors = new Map<string, HostTensor>();
  for (const n of ckpt.tensorNames) {
    const to = rename(n);
    if (to !== null) tensors.set(to, await ckpt.loadTensor(n));
  }
  await saveCheckpoint(dir, { config: config ?? (ckpt.config as Record<string, unknown>), tensors });
  return dir;
}

test('gemma3 multimodal: a sparse text_config takes exactly Gemma3TextConfig defaults; layer_types from sliding_window_pattern', () => {
  const json = JSON.parse(readFileSync(join(MM, 'config.json'), 'utf8')) as Record<string, unknown>;
  const c = parseGemma3MultimodalConfig(json, 'config.json');
  const want = readGolden(MM) as unknown as { text_config_resolved: Record<string, unknown> };
  const r = want.text_config_resolved;
  assert.equal(c.modelType, 'gemma3_text');
  assert.equal(c.headDim, r.head_dim);
  assert.equal(c.queryPreAttnScalar, r.query_pre_attn_scalar);
  assert.equal(c.rope.full_attention.theta, r.rope_theta);
  assert.equal(c.rope.full_attention.linearFactor, 8);
  assert.equal(c.rope.sliding_attention.theta, r.rope_local_base_freq);
  assert.equal(c.rope.sliding_attention.linearFactor, 1);
  assert.equal(c.maxPositionEmbeddings, r.max_position_embeddings);
  assert.deepEqual([...c.layerTypes], r.layer_types);
  assert.equal(c.slidingWindow, 8);
  assert.equal(c.dtype, 'bfloat16', 'storage dtype inherited from the top level');
  assert.equal(c.useBidirectionalAttention, false);
  // The published 4B text_config (six keys): defaults fill heads, head_dim, vocab, thetas.
  const c4b = parseGemma3MultimodalConfig(
    { model_type: 'gemma3', text_config: { hidden_size: 2560, intermediate_size: 10240, model_type: 'gemma3_text', num_hidden_layers: 34, rope_scaling: { factor: 8.0, rope_type: 'linear' }, sliding_window: 1024 } },
    '4b/config.json',
  );
  assert.deepEqual(
    [c4b.vocabSize, c4b.numAttentionHeads, c4b.numKeyValueHeads, c4b.headDim, c4b.queryPreAttnScalar, c4b.maxPositionEmbeddings],
    [262208, 8, 4, 256, 256, 131072],
  );
  assert.deepEqual(c4b.layerTypes.slice(0, 6), ['sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention']);
  // Bad values are named where they live.
  assert.throws(
    () => parseGemma3MultimodalConfig({ ...json, text_config: { ...(json.text_config as object), hidden_size: 'big' } }, 'x/config.json'),
    (e: unknown) => e instanceof ConfigError && e.field === 'text_config.hidden_size' && e.message.includes('x/config.json'),
  );
  assert.throws(() => parseGemma3MultimodalConfig({ model_type: 'gemma3' }, 'y/config.json'), (e: unknown) => e instanceof ConfigError && e.field === 'text_config');
});

test('gemma3 multimodal (transformers < 5 keys): text tower matches the float64 golden; vision tensors skipped unread, one info line', async () => {
  await initEngine();
  const read: string[] = [];
  const ckpt = await openCheckpoint(MM);
  const spy: Checkpoint = {
    ...ckpt,
    loadTensor: (n) => (read.push(n), ckpt.loadTensor(n)),
    loadFloat32: (n) => (read.push(n), ckpt.loadFloat32(n)),
  };
  const info: string[] = [];
  const model = (await MODEL_REGISTRY.gemma3(spy, { onInfo: (l) => info.push(l) })) as GemmaModel;
  try {
    assert.equal(read.filter((n) => /vision_tower|multi_modal_projector/.test(n)).length, 0, 'no vision tensor read');
    assert.equal(read.length, model.params.size);
    assert.equal(info.length, 1);
    assert.match(info[0] as string, /skipped 5 vision\/projector tensors/);
    report('gemma3-mm-tiny (v4 keys)', checkGolden(model, readGolden(MM)));
  } finally {
    model.dispose();
  }
});

test('gemma3 multimodal (transformers >= 5 keys: model.language_model.*, lm_head): same golden', async () => {
  await initEngine();
  const dir = await renamedCopy(MM, (n) =>
    n.startsWith('language_model.model.') ? `model.language_model.${n.slice('language_model.model.'.length)}` : `model.${n}`,
  );
  try {
    const model = await loadGemmaModel(dir, { onInfo: () => {} });
    try {
      report('gemma3-mm-tiny (v5 keys)', checkGolden(model, readGolden(MM)));
    } finally {
      model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gemma3 multimodal with a vision tower only: one CheckpointError naming the file and a tensor', async () => {
  const dir = await renamedCopy(MM, (n) => (n.startsWith('language_model.') ? null : n));
  try {
    await assert.rejects(loadModel(dir), (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.match(e.message, /vision tower only/);
      assert.ok(e.file?.endsWith('model.safetensors') && e.tensor?.startsWith('multi_modal_projector.'), e.message);
      assert.equal(e.message.split('\n').length, 1);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vaultgemma-tiny (input + pre-feedforward norms, Gemma 2 defaults): causal and bidirectional within TOL.parityF32', async () => {
  await initEngine();
  const model = await loadGemmaModel(fixture('vaultgemma-tiny'));
  try {
    assert.equal(model.config.modelType, 'vaultgemma');
    assert.equal(model.config.attnLogitSoftcapping, 50, 'VaultGemmaConfig default');
    assert.deepEqual([...model.config.layerTypes], ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention']);
    assert.ok(!model.params.has('model.layers.0.post_attention_layernorm.weight') && model.params.has('model.layers.0.pre_feedforward_layernorm.weight'));
    report('vaultgemma-tiny', checkGolden(model, readGolden(fixture('vaultgemma-tiny'))));
  } finally {
    model.dispose();
  }
});

test('Gemma 3n, RecurrentGemma, PaliGemma: a one-line "not supported" ConfigError naming config.json and model_type', async () => {
  for (const modelType of ['gemma3n', 'recurrent_gemma', 'paligemma']) {
    const dir = mkdtempSync(join(tmpdir(), 'family-'));
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: modelType }));
      mkdirSync(join(dir, 'x'));
      await assert.rejects(loadModel(dir), (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.equal(e.field, 'model_type');
        assert.ok(e.file?.endsWith('config.json'));
        assert.match(e.message, /not supported/);
        assert.equal(e.message.split('\n').length, 1);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
