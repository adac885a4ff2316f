/**
 * Parity with our own Gemma 1 and Gemma 3 goldens (test/fixtures/*, made by
 * test/reference/make_gemma_fixtures.py from the float64 reference, which reproduces the shared
 * gemma2-tiny goldens to 2e-7).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/index.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { loadGemmaModel } from '../../src/models/load.js';
import { checkGolden, readGolden, report } from './golden.js';

const fixture = (name: string) => join(REPO_ROOT, 'test', 'fixtures', name);

test('gemma1-tiny (MQA, hidden_act, 2 norms/layer): every mode and pooling within TOL.parityF32', async () => {
  await initEngine();
  const model = await loadGemmaModel(fixture('gemma1-tiny'));
  try {
    assert.equal(model.config.modelType, 'gemma');
    assert.equal(model.config.numKeyValueHeads, 1);
    const errs = checkGolden(model, readGolden(fixture('gemma1-tiny')));
    assert.ok(errs.has('causal.logits') && errs.has('bidirectional_sliding.pooled.last') && errs.has('causal.layer_states'));
    report('gemma1-tiny', errs);
  } finally {
    model.dispose();
  }
});

test('gemma3-tiny (q/k norm, local/global RoPE + linear scaling, GQA): every mode incl. the HF bidirectional window', async () => {
  await initEngine();
  const model = await loadGemmaModel(fixture('gemma3-tiny'));
  try {
    assert.equal(model.config.modelType, 'gemma3_text');
    assert.deepEqual(model.config.rope.full_attention, { theta: 1e6, linearFactor: 8 });
    const errs = checkGolden(model, readGolden(fixture('gemma3-tiny')));
    for (const mode of ['causal', 'bidirectional_global', 'bidirectional_sliding', 'bidirectional_sliding_gemma3_hf'])
      assert.ok(errs.has(`${mode}.hidden_states`) && errs.has(`${mode}.layer_states`), `golden has no ${mode}`);
    report('gemma3-tiny', errs);
  } finally {
    model.dispose();
  }
});
