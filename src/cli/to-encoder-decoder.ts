/**
 * `gemma-lab to-encoder-decoder --encoder DIR [--decoder DIR] --out DIR [--cross-init copy|random]
 * [--seed N] [--dtype F32|BF16]`: builds a T5Gemma checkpoint from Gemma 2 decoder checkpoints
 * (balanced from one, unbalanced from two) and writes it where `loadModel` and transformers read it.
 */
import { defineCommand } from './args.js';
import { initEngine } from '../engine/index.js';
import { ConfigError } from '../errors.js';
import { type CrossAttentionInit, toEncoderDecoder } from '../t5gemma/build.js';

export default defineCommand(
  'build a T5Gemma encoder-decoder checkpoint from Gemma 2 decoder checkpoints',
  {
    name: 'to-encoder-decoder',
    flags: {
      encoder: { type: 'string', required: true, value: 'DIR', help: 'Gemma 2 checkpoint for the encoder (and the decoder when --decoder is absent)' },
      decoder: { type: 'string', value: 'DIR', help: 'Gemma 2 checkpoint for the decoder (unbalanced builds, e.g. 9B encoder + 2B decoder)' },
      out: { type: 'string', required: true, value: 'DIR', help: 'where the T5Gemma checkpoint is written' },
      'cross-init': {
        type: 'string',
        value: 'copy|random',
        help: "copy: cross-attention from each layer's self-attention (needs equal widths);\nrandom: fresh init (train it alone first: pretrain's crossAttentionWarmupSteps).\nDefault: copy when the widths match, else random",
      },
      seed: { type: 'string', default: '0', value: 'N', help: 'seed of the random cross-attention init' },
      dtype: { type: 'string', default: 'F32', value: 'F32|BF16', help: 'stored dtype' },
    },
  },
  async (values) => {
    const init = values['cross-init'];
    if (init !== undefined && init !== 'copy' && init !== 'random') throw new ConfigError(`must be copy or random, got '${init}'`, undefined, '--cross-init');
    const dtype = values.dtype;
    if (dtype !== 'F32' && dtype !== 'BF16') throw new ConfigError(`must be F32 or BF16, got '${dtype}'`, undefined, '--dtype');
    if (!/^\d+$/.test(values.seed)) throw new ConfigError(`must be a non-negative integer, got '${values.seed}'`, undefined, '--seed');
    await initEngine();
    const model = await toEncoderDecoder(values.encoder, values.decoder, {
      ...(init ? { crossAttentionInit: init as CrossAttentionInit } : {}),
      seed: Number(values.seed),
    });
    try {
      await model.save(values.out, dtype);
      const c = model.config;
      console.log(
        `wrote ${values.out}: encoder ${c.encoder.numHiddenLayers}x${c.encoder.hiddenSize}, decoder ${c.decoder.numHiddenLayers}x${c.decoder.hiddenSize}, ${model.parameterCount} parameters`,
      );
    } finally {
      model.dispose();
    }
    return 0;
  },
);
