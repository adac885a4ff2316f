/**
 * `gemma-lab forward --model DIR|hf://org/repo[@rev] --input FILE.json --attention MODE --out OUT.json`
 * Input: {"input_ids": [[...]], "attention_mask": [[...]]} (mask optional: all ones).
 * Output (written atomically): hidden_states [B][T][D], logits [B][T][V] (causal mode), pooled {mean, first,
 * last} [B][D], as nested float arrays (float32 values printed exactly).
 */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../engine/index.js';
import { DataFileError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import type { ForwardOutput } from '../models/gemma.js';
import { loadDecoderModel } from '../models/load.js';
import { ATTENTION_MODES, type AttentionMode } from '../nn/masks.js';
import { TOKEN_POOLINGS } from '../nn/pooling.js';
import { type CommandSpec, type FlagSpec, defineCommand, formatUsage } from './args.js';

const FORWARD_ARGS = {
  name: 'forward',
  flags: {
    model: { type: 'string', required: true, value: 'DIR', help: 'checkpoint directory or hf://org/repo[@rev]' },
    input: { type: 'string', required: true, value: 'FILE.json', help: 'JSON {"input_ids": [[...]], "attention_mask": [[...]]} (attention_mask optional)' },
    out: { type: 'string', required: true, value: 'OUT.json', help: `output JSON: hidden_states, logits (causal mode), pooled {${TOKEN_POOLINGS.join(', ')}}` },
    attention: { type: 'string', default: 'causal', value: 'MODE', help: ATTENTION_MODES.join(' | ') },
  },
} as const satisfies CommandSpec<Record<string, FlagSpec>>;

/** Reads and validates the input file; errors name the file and what is wrong. */
export async function readForwardInput(file: string): Promise<{ inputIds: number[][]; attentionMask: number[][] }> {
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
  const attentionMask = matrix('attention_mask', false) ?? inputIds.map((r) => r.map(() => 1));
  if (attentionMask.length !== inputIds.length || (attentionMask[0] as number[]).length !== (inputIds[0] as number[]).length)
    throw new DataFileError(`'attention_mask' is ${attentionMask.length}x${(attentionMask[0] as number[]).length}, 'input_ids' is ${inputIds.length}x${(inputIds[0] as number[]).length}`, file);
  return { inputIds, attentionMask };
}

export default defineCommand('run a checkpoint on token ids; write hidden states, logits and pooled vectors as JSON', FORWARD_ARGS, async (values) => {
  const attention = values.attention as AttentionMode;
  if (!ATTENTION_MODES.includes(attention)) {
    console.error(`gemma-lab forward: unknown --attention '${values.attention}'\n${formatUsage(FORWARD_ARGS)}`);
    return 2;
  }
  const { inputIds, attentionMask } = await readForwardInput(values.input);
  await initEngine();
  const model = await loadDecoderModel(values.model);
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
