/**
 * Gemma 4 parity with goldens from the independent float64 reference (test/reference/gemma4_reference.py,
 * fixtures made by make_gemma4_fixtures.py): every attention mode, logits after the final softcap,
 * every pooling, and the residual stream after each layer, within TOL.parityF32 (1e-4).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/index.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { loadModel } from '../../src/models/load.js';
import { Gemma4Model } from '../../src/models/gemma4.js';
import { ATTENTION_MODES } from '../../src/nn/masks.js';
import { checkGolden, readGolden, report } from './golden.js';

const fixture = (name: string) => join(REPO_ROOT, 'test', 'fixtures', name);
const GEMMA4_MODES = ['causal', 'bidirectional_global', 'bidirectional_sliding', 'bidirectional_sliding_gemma4_hf'];

async function load(name: string): Promise<Gemma4Model> {
  const m = await loadModel(fixture(name));
  assert.ok(m instanceof Gemma4Model);
  return m;
}

test('gemma4-e2b-tiny (wrapper, PLE, KV sharing, k_eq_v, double-wide MLP, partial RoPE): every mode, logits, pooling', async () => {
  await initEngine();
  const model = await load('gemma4-e2b-tiny');
  try {
    const c = model.config;
    assert.equal(c.modelType, 'gemma4');
    assert.equal(c.prefix, 'model.language_model.');
    assert.deepEqual(c.layers.map((l) => l.kvSource), [null, null, null, null, 3, 3, 2]);
    assert.deepEqual(c.layers.map((l) => l.intermediateSize), [64, 64, 64, 64, 128, 128, 128]);
    assert.equal(c.rope.full_attention.rotatedPairs, 4);
    // The vision tower weight and the stale k_proj of shared layer 5 were skipped, not loaded.
    assert.ok(![...model.params.keys()].some((k) => k.includes('vision_tower') || k === 'model.language_model.layers.5.self_attn.k_proj.weight'));
    const errs = checkGolden(model, readGolden(fixture('gemma4-e2b-tiny')));
    for (const mode of GEMMA4_MODES) {
      assert.ok(ATTENTION_MODES.includes(mode as never));
      assert.ok(errs.has(`${mode}.logits`) && errs.has(`${mode}.layer_states`) && errs.has(`${mode}.pooled.mean`), `golden has no ${mode}`);
    }
    report('gemma4-e2b-tiny', errs);
  } finally {
    model.dispose();
  }
});

test('gemma4-moe-tiny (gemma4_text, MoE top-2 of 6 + shared MLP, k_eq_v): every mode, logits, pooling', async () => {
  await initEngine();
  const model = await load('gemma4-moe-tiny');
  try {
    assert.equal(model.config.modelType, 'gemma4_text');
    assert.equal(model.config.enableMoeBlock, true);
    const errs = checkGolden(model, readGolden(fixture('gemma4-moe-tiny')));
    for (const mode of GEMMA4_MODES) assert.ok(errs.has(`${mode}.logits`) && errs.has(`${mode}.layer_states`), `golden has no ${mode}`);
    report('gemma4-moe-tiny', errs);
  } finally {
    model.dispose();
  }
});
