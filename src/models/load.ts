/**
 * `loadModel(source)`: a checkpoint directory or `hf://org/repo[@rev]` (downloaded into / found in the
 * huggingface_hub-style cache by checkpoint/hub.ts) -> the model class registered for its config's
 * `model_type` (registry.ts), loaded strictly (strict.ts).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CONFIG_NAME, openCheckpoint } from '../checkpoint/index.js';
import { resolveModelSource } from '../checkpoint/hub.js';
import { rejectUnsupportedFamily } from '../config/gemma3.js';
import { estimateModelBytes, fitEngineTo } from '../engine/index.js';
import { ConfigError } from '../errors.js';
import { GemmaModel } from './gemma.js';
import { Gemma4Model } from './gemma4.js';
import { MODEL_REGISTRY, type LoadedModel, type LoadOptions } from './registry.js';

export type { LoadOptions, LoadedModel } from './registry.js';

/** A family we know we do not implement is refused from its config.json alone, before weights are looked for. */
async function rejectUnsupportedDir(dir: string): Promise<void> {
  const path = join(resolve(dir), CONFIG_NAME);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return; // openCheckpoint reports a missing or broken config.json
  }
  if (typeof json === 'object' && json !== null) rejectUnsupportedFamily((json as Record<string, unknown>).model_type, path);
}

/** Opens the checkpoint and builds the model its `model_type` names. */
export async function loadModel(source: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const dir = await resolveModelSource(source, opts.hub);
  await rejectUnsupportedDir(dir);
  const ckpt = await openCheckpoint(dir);
  // Before any weight is allocated: an 'auto' engine leaves the wasm32 heap for a model whose
  // training footprint (weights, grads, AdamW moments) would not fit there (engine/index.ts).
  const values = ckpt.tensorNames.reduce((a, n) => a + ckpt.info(n).shape.reduce((x, y) => x * y, 1), 0);
  await fitEngineTo(estimateModelBytes(values, { training: true }));
  const modelType = ckpt.config.model_type;
  if (typeof modelType !== 'string' || !Object.hasOwn(MODEL_REGISTRY, modelType)) {
    throw new ConfigError(
      `unsupported model_type ${JSON.stringify(modelType)} (supported: ${Object.keys(MODEL_REGISTRY).join(', ')})`,
      ckpt.configPath,
      'model_type',
    );
  }
  return MODEL_REGISTRY[modelType as keyof typeof MODEL_REGISTRY](ckpt, opts);
}

/** `loadModel` for callers that need a decoder-only Gemma (typed result). */
export async function loadGemmaModel(source: string, opts: LoadOptions = {}): Promise<GemmaModel> {
  const m: { readonly config: { readonly modelType: string }; dispose(): void } = await loadModel(source, opts);
  if (m instanceof GemmaModel) return m;
  m.dispose();
  throw new ConfigError(`expected a Gemma decoder checkpoint, got model_type '${m.config.modelType}'`, source, 'model_type');
}

/** A decoder-only Gemma of any generation: what encoders, GLUE/SuperGLUE/ranking fine-tuning and `forward` accept. */
export type DecoderModel = GemmaModel | Gemma4Model;

/** `loadModel` for callers that take any decoder-only Gemma (1, 2, 3 or 4). */
export async function loadDecoderModel(source: string, opts: LoadOptions = {}): Promise<DecoderModel> {
  const m: { readonly config: { readonly modelType: string }; dispose(): void } = await loadModel(source, opts);
  if (m instanceof GemmaModel || m instanceof Gemma4Model) return m;
  m.dispose();
  throw new ConfigError(`expected a decoder-only Gemma checkpoint, got model_type '${m.config.modelType}'`, source, 'model_type');
}

/** A freshly initialised model of the same family and config (random-init baselines). */
export function randomLike(model: DecoderModel, seed: number): DecoderModel {
  return model instanceof Gemma4Model ? Gemma4Model.random(model.config, seed) : GemmaModel.random(model.config, seed);
}
