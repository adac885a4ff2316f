/** Parity with the shared gemma2-tiny (BF16) goldens: every mode, hidden states, logits, pooling. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { initEngine } from '../../src/engine/index.js';
import { sharedDir } from '../../src/io/paths.js';
import { loadGemmaModel } from '../../src/models/load.js';
import { checkGolden, readGolden, report } from './golden.js';

const FIXTURE = join(sharedDir(), 'fixtures', 'gemma2-tiny');

test('gemma2-tiny (bf16): every mode and pooling within TOL.parityF32 of the float64 goldens', async () => {
  await initEngine();
  const golden = readGolden(FIXTURE);
  const model = await loadGemmaModel(FIXTURE);
  try {
    assert.equal(model.config.modelType, 'gemma2');
    const errs = checkGolden(model, golden);
    for (const mode of ['causal', 'bidirectional_global', 'bidirectional_sliding']) {
      assert.ok(errs.has(`${mode}.hidden_states`), `golden has no ${mode}`);
      for (const kind of ['mean', 'first', 'last']) assert.ok(errs.has(`${mode}.pooled.${kind}`));
    }
    assert.ok(errs.has('causal.logits'));
    report('gemma2-tiny', errs);
  } finally {
    model.dispose();
  }
});
