/**
 * `gemma-lab embed --model DIR|hf://org/repo --input IN.json --out OUT.json [--prompt NAME] [--dim N] [--normalize]`
 * Input: the `forward` input ({"input_ids": [[...]], "attention_mask": [[...]]}) or {"texts": [...]} when the
 * checkpoint has a tokenizer. Output (atomic): {"embeddings": [B][D], ...} computed as the checkpoint's
 * sentence-transformers pipeline does (plain checkpoints: bidirectional + mean pooling).
 */
import { readFile } from 'node:fs/promises';
import { initEngine } from '../engine/index.js';
import { loadEmbedder, type EmbedOptions } from '../embed/embed.js';
import { ConfigError, DataFileError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { type CommandSpec, type FlagSpec, defineCommand, formatUsage } from './args.js';
import { readForwardInput } from './forward.js';

const EMBED_ARGS = {
  name: 'embed',
  flags: {
    model: { type: 'string', required: true, value: 'DIR', help: 'sentence-transformers folder, checkpoint directory or hf://org/repo[@rev]' },
    input: { type: 'string', required: true, value: 'IN.json', help: '{"input_ids": [[...]], "attention_mask": [[...]]} or {"texts": ["...", ...]}' },
    out: { type: 'string', required: true, value: 'OUT.json', help: 'output JSON: {"embeddings": [B][D], ...}' },
    prompt: { type: 'string', value: 'NAME', help: "a prompt of the checkpoint by name (config_sentence_transformers.json), e.g. 'query'; texts only" },
    dim: { type: 'string', value: 'N', help: 'Matryoshka: keep the first N components' },
    normalize: { type: 'boolean', help: 'L2-normalise after --dim truncation (sentence-transformers normalize_embeddings)' },
  },
} as const satisfies CommandSpec<Record<string, FlagSpec>>;

async function readInput(file: string): Promise<string[] | { inputIds: number[][]; attentionMask: number[][] }> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new DataFileError(`cannot read input JSON: ${(err as Error).message}`, file, undefined, { cause: err });
  }
  if (typeof json === 'object' && json !== null && 'texts' in json) {
    const texts = (json as { texts: unknown }).texts;
    if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string'))
      throw new DataFileError("'texts' must be a non-empty list of strings", file);
    return texts as string[];
  }
  return readForwardInput(file);
}

export default defineCommand('sentence embeddings of texts or token ids, as the checkpoint\'s sentence-transformers pipeline computes them', EMBED_ARGS, async (values) => {
  let dim: number | undefined;
  if (values.dim !== undefined) {
    dim = Number(values.dim);
    if (!Number.isInteger(dim) || dim < 1) {
      console.error(`gemma-lab embed: --dim must be a positive integer, got '${values.dim}'\n${formatUsage(EMBED_ARGS)}`);
      return 2;
    }
  }
  const input = await readInput(values.input);
  await initEngine();
  const embedder = await loadEmbedder(values.model);
  try {
    const opts: EmbedOptions = { ...(values.prompt !== undefined ? { promptName: values.prompt } : {}), ...(dim !== undefined ? { dim } : {}), normalize: values.normalize };
    let embeddings: number[][];
    try {
      embeddings = embedder.embed(input, opts);
    } catch (err) {
      // bad ids / masks / prompt use: point at the input file
      if (err instanceof RangeError || (err instanceof ConfigError && err.file === undefined))
        throw new DataFileError(err.message, values.input, undefined, { cause: err });
      throw err;
    }
    await writeJsonAtomic(values.out, {
      model: values.model,
      model_type: embedder.model.config.modelType,
      attention: embedder.mode,
      pipeline: embedder.pipeline.modules.map((m) => (m.kind === 'pooling' ? `Pooling(${m.modes.join('+')})` : m.kind === 'dense' ? `Dense(${m.inFeatures}->${m.outFeatures}, ${m.activation}${m.bias ? ', bias' : ''})` : 'Normalize')),
      prompt_name: values.prompt ?? embedder.pipeline.defaultPromptName,
      dim: embeddings[0]?.length ?? 0,
      normalized_after_truncation: values.normalize,
      similarity_fn_name: embedder.pipeline.similarityFnName,
      embeddings,
    });
    console.log(`wrote ${values.out}: ${embeddings.length} x ${embeddings[0]?.length ?? 0} embeddings (${embedder.model.config.modelType}, ${embedder.mode})`);
    return 0;
  } finally {
    embedder.dispose();
  }
});
