import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { initEngine } from '../../src/engine/index.js';
import { loadModel } from '../../src/models/load.js';
import { T5GemmaModel } from '../../src/models/t5gemma.js';
import { TOL, assertAllClose } from '../helpers/close.js';
import { type Case, checkGoldenNoLeaks, fixtureDir, goldenCases } from './golden.js';

before(async () => {
  await initEngine();
});

for (const fixture of ['t5gemma-tiny', 't5gemma-tiny-unbalanced']) {
  test(`${fixture}: loadModel + forward match the float64 goldens to ${TOL.parityF32}`, async () => {
    const model = await loadModel(fixtureDir(fixture));
    assert.ok(model instanceof T5GemmaModel);
    checkGoldenNoLeaks(model, fixture);
    model.dispose();
  });
}

test('the golden contract is sensitive: the wrong final softcap or unmasked encoder pads are caught; the default mask is ids != pad', async () => {
  const model = (await loadModel(fixtureDir('t5gemma-tiny-unbalanced'))) as T5GemmaModel;
  const [c] = goldenCases('t5gemma-tiny-unbalanced') as [Case];
  // Encoder softcap (5) instead of the decoder's (30): logits move far beyond tolerance.
  const wrong = new T5GemmaModel({ ...model.config, decoder: { ...model.config.decoder, finalLogitSoftcapping: 5 } }, model.params);
  const out = wrong.forward(c.input_ids, c.decoder_input_ids, { attentionMask: c.attention_mask });
  assert.throws(() => assertAllClose(out.logits.arraySync(), c.outputs.logits, TOL.parityF32, 'logits'));
  tf.dispose([out.encoderHiddenStates, out.decoderHiddenStates, out.logits]);
  // Attending to the pad keys of the encoder (an all-ones mask) changes the decoder of the padded row.
  const padded = goldenCases('t5gemma-tiny-unbalanced')[1] as Case;
  const ones = model.forward(padded.input_ids, padded.decoder_input_ids, { attentionMask: padded.input_ids.map((r) => r.map(() => 1)) });
  assert.throws(() => assertAllClose(ones.logits.arraySync(), padded.outputs.logits, TOL.parityF32, 'logits'));
  // Without a mask the pad ids (0) are the padding, as in HF, which is what the golden rows use.
  const dflt = model.forward(padded.input_ids, padded.decoder_input_ids);
  assertAllClose(dflt.logits.arraySync(), padded.outputs.logits, TOL.parityF32, 'logits with the default mask');
  tf.dispose([ones.encoderHiddenStates, ones.decoderHiddenStates, ones.logits, dflt.encoderHiddenStates, dflt.decoderHiddenStates, dflt.logits]);
  model.dispose();
});
