/**
 * `gemma-lab generate --model DIR (--input IN.json | --text TEXT ...) [--beams K] [--max-new-tokens N]
 * [--sample --seed S --temperature T --top-k K --top-p P] [--no-cache] [--tokenizer DIR] [--out OUT.json]`
 *
 * Runs an encoder-decoder checkpoint (t5gemma, t5gemma2). IN.json is {"input_ids": [[...]],
 * "attention_mask": [[...]]} (mask optional: ids != pad). --text (repeatable) is tokenized with the
 * model folder's tokenizer.json (or --tokenizer). Prints one line per row (the decoded text when a
 * tokenizer is at hand) and writes {rows: [{tokens, text?, log_prob, score}]} atomically with --out.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initEngine } from '../engine/index.js';
import { ConfigError, DataFileError, InputError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { loadModel } from '../models/load.js';
import { T5GemmaModel } from '../models/t5gemma.js';
import { T5Gemma2Model } from '../models/t5gemma2.js';
import { generate } from '../t5gemma/generate.js';
import { batchRows } from '../tokenize/batch.js';
import { type Tokenizer, encodeBatch, loadTokenizer } from '../tokenize/index.js';
import { defineCommand } from './args.js';
import { readForwardInput } from './forward.js';

function intFlag(v: string, flag: string, min: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min) throw new ConfigError(`must be an integer >= ${min}, got '${v}'`, undefined, flag);
  return Number(v);
}

function numFlag(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x)) throw new ConfigError(`must be a number, got '${v}'`, undefined, flag);
  return x;
}

export default defineCommand(
  'generate text with an encoder-decoder checkpoint (greedy, beam search or sampling; KV cache)',
  {
    name: 'generate',
    flags: {
      model: { type: 'string', required: true, value: 'DIR', help: 'T5Gemma / T5Gemma 2 checkpoint directory or hf://org/repo[@rev]' },
      input: { type: 'string', value: 'IN.json', help: 'JSON {"input_ids": [[...]], "attention_mask": [[...]]} (mask optional: ids != pad)' },
      text: { type: 'string', value: 'TEXT', help: 'input text (tokenized with the model folder tokenizer or --tokenizer); one row per line' },
      tokenizer: { type: 'string', value: 'DIR', help: 'folder with tokenizer.json (default: the model folder)' },
      beams: { type: 'string', default: '1', value: 'K', help: 'beam width (1 = greedy)' },
      'max-new-tokens': { type: 'string', default: '32', value: 'N', help: 'tokens to generate at most' },
      'length-penalty': { type: 'string', value: 'A', help: 'beam score logP / length^A (default 1)' },
      sample: { type: 'boolean', help: 'sample instead of taking the most likely token' },
      seed: { type: 'string', default: '0', value: 'S', help: 'seed of the sampling draws' },
      temperature: { type: 'string', value: 'T', help: 'sampling temperature (default 1)' },
      'top-k': { type: 'string', value: 'K', help: 'sample among the K most likely tokens' },
      'top-p': { type: 'string', value: 'P', help: 'sample among the smallest set of tokens with probability >= P' },
      'no-cache': { type: 'boolean', help: 'rerun the decoder on whole prefixes (no KV cache; slow, for checking)' },
      out: { type: 'string', value: 'OUT.json', help: 'write {rows: [{tokens, text, log_prob, score}]}' },
      'max-length': { type: 'string', default: '512', value: 'N', help: 'truncate --text inputs to N tokens' },
    },
  },
  async (values) => {
    if ((values.input === undefined) === (values.text === undefined)) throw new ConfigError('give exactly one of --input and --text', undefined, '--input');
    const beams = intFlag(values.beams, '--beams', 1);
    const maxNewTokens = intFlag(values['max-new-tokens'], '--max-new-tokens', 1);
    if (values.sample && beams !== 1) throw new ConfigError('--sample draws one continuation; use --beams 1', undefined, '--sample');
    await initEngine();
    const model = await loadModel(values.model);
    if (!(model instanceof T5GemmaModel || model instanceof T5Gemma2Model)) {
      model.dispose();
      throw new ConfigError(`generate needs an encoder-decoder (t5gemma, t5gemma2), got model_type '${model.config.modelType}'`, values.model, 'model_type');
    }
    try {
      const tokDir = values.tokenizer ?? (existsSync(join(values.model, 'tokenizer.json')) ? values.model : undefined);
      const tok: Tokenizer | undefined = tokDir !== undefined ? loadTokenizer(tokDir) : undefined;
      let inputIds: number[][];
      let attentionMask: number[][] | undefined;
      if (values.text !== undefined) {
        if (!tok) throw new ConfigError('--text needs a tokenizer: the model folder has no tokenizer.json; pass --tokenizer DIR', values.model, '--tokenizer');
        const enc = encodeBatch(tok, values.text.split('\n'), { maxLength: intFlag(values['max-length'], '--max-length', 2), addEos: true });
        ({ inputIds, attentionMask } = batchRows(enc));
      } else {
        const input = await readForwardInput(values.input as string);
        inputIds = input.inputIds;
        attentionMask = input.maskGiven ? input.attentionMask : undefined;
      }
      const temperature = numFlag(values.temperature, '--temperature');
      const topK = values['top-k'] === undefined ? undefined : intFlag(values['top-k'], '--top-k', 0);
      const topP = numFlag(values['top-p'], '--top-p');
      const lengthPenalty = numFlag(values['length-penalty'], '--length-penalty');
      let hyps;
      try {
        hyps = await generate(model, inputIds, attentionMask, {
          maxNewTokens,
          numBeams: beams,
          ...(lengthPenalty !== undefined ? { lengthPenalty } : {}),
          ...(values.sample
            ? { sample: { seed: intFlag(values.seed, '--seed', 0), ...(temperature !== undefined ? { temperature } : {}), ...(topK !== undefined ? { topK } : {}), ...(topP !== undefined ? { topP } : {}) } }
            : {}),
          cache: !values['no-cache'],
        });
      } catch (err) {
        if (err instanceof InputError && values.input !== undefined) throw new DataFileError(err.message, values.input, undefined, { cause: err });
        throw err;
      }
      const rows = hyps.map((h) => ({ tokens: h.tokens, ...(tok ? { text: tok.decode(h.tokens) } : {}), log_prob: h.logProb, score: h.score }));
      rows.forEach((r, i) => console.log(`${i}\t${r.text !== undefined ? JSON.stringify(r.text) : r.tokens.join(' ')}\tlogP ${r.log_prob.toFixed(4)}`));
      if (values.out !== undefined) await writeJsonAtomic(values.out, { model: values.model, model_type: model.config.modelType, rows });
      return 0;
    } finally {
      model.dispose();
    }
  },
);
