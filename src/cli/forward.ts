/**
 * `gemma-lab forward --model DIR|hf://org/repo[@rev] --input FILE.json --attention MODE --out OUT.json`
 * Input: {"input_ids": [[...]], "attention_mask": [[...]]} (mask optional: all ones).
 * Output (written atomically): hidden_states [B][T][D], logits [B][T][V] (causal mode), pooled {mean, first,
 * last} [B][D], as nested float arrays (float32 values printed exactly).
 * Encoder-decoder checkpoints (t5gemma, t5gemma2): the input may add "decoder_input_ids" [B][T']
 * (default: one bos per row); without "attention_mask" the encoder mask is ids != pad. The output
 * holds encoder_hidden_states, encoder_pooled {mean, first, last}, decoder_hidden_states and
 * logits; --attention does not apply.
 */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../engine/index.js';
import { DataFileError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import type { ForwardOutput } from '../models/gemma.js';
import { loadModel } from '../models/load.js';
import { defaultMask } from '../models/seq2seq_inputs.js';
import { T5GemmaModel } from '../models/t5gemma.js';
import { T5Gemma2Model } from '../models/t5gemma2.js';
import { InputError } from '../errors.js';
import { ATTENTION_MODES, type AttentionMode } from '../nn/masks.js';
import { TOKEN_POOLINGS } from '../nn/pooling.js';
import { type CommandSpec, type FlagSpec, defineCommand, formatUsage } from './args.js';

const FORWARD_ARGS = {
  name: 'forward',
  flags: {
    model: { type: 'string', required: true, value: 'DIR', help: 'checkpoint directory or hf://org/repo[@rev]' },
    input: { type: 'string', required: true, value: 'FILE.json', help: 'JSON {"input_ids": [[...]], "attention_mask": [[...]]} (attention_mask optional;\nencoder-decoders also take "decoder_input_ids")' },
    out: { type: 'string', required: true, value: 'OUT.json', help: `output JSON: hidden_states, logits (causal mode), pooled {${TOKEN_POOLINGS.join(', ')}}` },
    attention: { type: 'string', default: 'causal', value: 'MODE', help: ATTENTION_MODES.join(' | ') },
  },
} as const satisfies CommandSpec<Record<string, FlagSpec>>;

/** Reads and validates the input file; errors name the file and what is wrong. */
export async function readForwardInput(file: string): Promise<{ inputIds: number[][]; attentionMask: number[][]; maskGiven: boolean; decoderInputIds?: number[][] }> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new DataFileError(`cannot read input JSON: ${(err as Error).message}`, file, undefined, { cause: err });
  }
  const obj = (typeof json === 'object' && json !== null && !Array.isArray(json) ? json : {}) as Record<string, unknown>;
  const matrix = (key: string, required: boolean): number[][] | undefined => {
    const v = obj[key];
    if (v === undefined && !required) return undefined;
    if (!Array.isArray(v) || v.length === 0 || !v.every((r) => Array.isArray(r) && r.length > 0 && r.every((x) => Number.isInteger(x))))
      throw new DataFileError(`'${key}' must be a non-empty list of non-empty lists of integers`, file);
    const T = (v[0] as number[]).length;
    const bad = v.findIndex((r) => (r as number[]).length !== T);
    if (bad >= 0) throw new DataFileError(`'${key}' row ${bad} has length ${(v[bad] as number[]).length}, row 0 has ${T}`, file);
    return v as number[][];
  };
  const inputIds = matrix('input_ids', true) as number[][];
  const given = matrix('attention_mask', false);
  const attentionMask = given ?? inputIds.map((r) => r.map(() => 1));
  if (attentionMask.length !== inputIds.length || (attentionMask[0] as number[]).length !== (inputIds[0] as number[]).length)
    throw new DataFileError(`'attention_mask' is ${attentionMask.length}x${(attentionMask[0] as number[]).length}, 'input_ids' is ${inputIds.length}x${(inputIds[0] as number[]).length}`, file);
  const decoderInputIds = matrix('decoder_input_ids', false);
  if (decoderInputIds && decoderInputIds.length !== inputIds.length)
    throw new DataFileError(`'decoder_input_ids' has ${decoderInputIds.length} rows, 'input_ids' has ${inputIds.length}`, file);
  return { inputIds, attentionMask, maskGiven: given !== undefined, ...(decoderInputIds ? { decoderInputIds } : {}) };
}

/** Encoder-decoder forward: encoder states + pooled, decoder states, logits. */
async function forwardSeq2Seq(model: T5GemmaModel | T5Gemma2Model, input: Awaited<ReturnType<typeof readForwardInput>>, file: string, out: string, source: string): Promise<void> {
  let result: Record<string, unknown>;
  try {
    const mask = input.maskGiven ? input.attentionMask : defaultMask(input.inputIds, model.config.padTokenId, 'input_ids');
    const dec = input.decoderInputIds ?? input.inputIds.map(() => [model.config.bosTokenId]);
    const o = model.forward(input.inputIds, dec, { attentionMask: mask });
    const encoderPooled: Record<string, number[][]> = {};
    for (const k of TOKEN_POOLINGS) {
      const p = model.pool(o.encoderHiddenStates, mask, k);
      encoderPooled[k] = p.arraySync();
      p.dispose();
    }
    result = {
      model: source,
      model_type: model.config.modelType,
      encoder_hidden_states: o.encoderHiddenStates.arraySync(),
      encoder_pooled: encoderPooled,
      decoder_hidden_states: o.decoderHiddenStates.arraySync(),
      logits: o.logits.arraySync(),
    };
    tf.dispose([o.encoderHiddenStates, o.decoderHiddenStates, o.logits]);
  } catch (err) {
    // bad ids or masks: point at the input file
    if (err instanceof InputError || err instanceof RangeError) throw new DataFileError(err.message, file, undefined, { cause: err });
    throw err;
  }
  await writeJsonAtomic(out, result);
}

export default defineCommand('run a checkpoint on token ids; write hidden states, logits and pooled vectors as JSON', FORWARD_ARGS, async (values) => {
  const attention = values.attention as AttentionMode;
  if (!ATTENTION_MODES.includes(attention)) {
    console.error(`gemma-lab forward: unknown --attention '${values.attention}'\n${formatUsage(FORWARD_ARGS)}`);
    return 2;
  }
  const input = await readForwardInput(values.input);
  const { inputIds, attentionMask } = input;
  await initEngine();
  const loaded = await loadModel(values.model);
  if (loaded instanceof T5GemmaModel || loaded instanceof T5Gemma2Model) {
    try {
      await forwardSeq2Seq(loaded, input, values.input, values.out, values.model);
      const T2 = (input.decoderInputIds?.[0] ?? [0]).length;
      console.log(`wrote ${values.out}: ${loaded.config.modelType}, batch ${inputIds.length} x ${(inputIds[0] as number[]).length} encoder tokens, ${T2} decoder tokens`);
      return 0;
    } finally {
      loaded.dispose();
    }
  }
  // Every other registered family is a decoder (GemmaModel or Gemma4Model).
  if (input.decoderInputIds) {
    loaded.dispose();
    throw new DataFileError(`'decoder_input_ids' given but ${values.model} is a decoder-only model`, values.input);
  }
  const model = loaded;
  try {
    let out: ForwardOutput;
    try {
      out = model.forward(inputIds, { attentionMask, attention });
    } catch (err) {
      // out-of-range ids or masks: point at the input file
      if (err instanceof RangeError) throw new DataFileError(err.message, values.input, undefined, { cause: err });
      throw err;
    }
    const pooled: Record<string, number[][]> = {};
    for (const k of TOKEN_POOLINGS) {
      const p = model.pool(out.hiddenStates, attentionMask, k);
      pooled[k] = p.arraySync();
      p.dispose();
    }
    const result = {
      model: values.model,
      model_type: model.config.modelType,
      attention,
      hidden_states: out.hiddenStates.arraySync(),
      ...(out.logits ? { logits: out.logits.arraySync() } : {}),
      pooled,
    };
    tf.dispose(out);
    await writeJsonAtomic(values.out, result);
    const [B, T] = [inputIds.length, (inputIds[0] as number[]).length];
    console.log(`wrote ${values.out}: ${model.config.modelType}, attention ${attention}, batch ${B} x ${T} tokens`);
    return 0;
  } finally {
    model.dispose();
  }
});
