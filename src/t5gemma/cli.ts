/**
 * `gemma-lab to-encoder-decoder --encoder DIR [--decoder DIR] --out DIR [--cross-init copy|random]
 * [--seed N] [--dtype F32|BF16]`: builds a T5Gemma checkpoint from Gemma 2 decoder checkpoints
 * (balanced from one, unbalanced from two) and writes it where `loadModel` and transformers read it.
 */
import { parseArgs } from 'node:util';
import type { Command } from '../cli/main.js';
import { initEngine } from '../engine/index.js';
import { ConfigError } from '../errors.js';
import { type CrossAttentionInit, toEncoderDecoder } from './build.js';

const USAGE = `usage: gemma-lab to-encoder-decoder --encoder DIR [--decoder DIR] --out DIR [--cross-init copy|random] [--seed N] [--dtype F32|BF16]
  --encoder     Gemma 2 checkpoint for the encoder (and the decoder when --decoder is absent)
  --decoder     Gemma 2 checkpoint for the decoder (unbalanced builds, e.g. 9B encoder + 2B decoder)
  --cross-init  copy: cross-attention from each layer's self-attention (needs equal widths);
                random: fresh init (train it alone first: pretrain's crossAttentionWarmupSteps).
                Default: copy when the widths match, else random
  --seed        seed of the random cross-attention init (default 0)
  --dtype       stored dtype (default F32)`;

const command: Command = {
  summary: 'build a T5Gemma encoder-decoder checkpoint from Gemma 2 decoder checkpoints',
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        encoder: { type: 'string' },
        decoder: { type: 'string' },
        out: { type: 'string' },
        'cross-init': { type: 'string' },
        seed: { type: 'string' },
        dtype: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help || !values.encoder || !values.out) {
      console.log(USAGE);
      return values.help ? 0 : 2;
    }
    const init = values['cross-init'];
    if (init !== undefined && init !== 'copy' && init !== 'random') throw new ConfigError(`must be copy or random, got '${init}'`, undefined, '--cross-init');
    const dtype = values.dtype ?? 'F32';
    if (dtype !== 'F32' && dtype !== 'BF16') throw new ConfigError(`must be F32 or BF16, got '${dtype}'`, undefined, '--dtype');
    if (values.seed !== undefined && !/^\d+$/.test(values.seed)) throw new ConfigError(`must be a non-negative integer, got '${values.seed}'`, undefined, '--seed');
    await initEngine();
    const model = await toEncoderDecoder(values.encoder, values.decoder, {
      ...(init ? { crossAttentionInit: init as CrossAttentionInit } : {}),
      seed: Number(values.seed ?? 0),
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
};

export default command;
