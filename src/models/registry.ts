/**
 * `model_type` (config.json) -> loader. One line per family; `LoadedModel` is the union of what the
 * loaders return, so adding a family (e.g. `t5gemma: loadT5Gemma,`) extends it automatically.
 */
import type { Checkpoint } from '../checkpoint/index.js';
import { parseGemmaConfig } from '../config/gemma.js';
import { GemmaModel, GEMMA_TIED_WEIGHTS, gemmaParameterShapes } from './gemma.js';
import { loadStrictParams } from './strict.js';
import type { LoadOptions } from './base.js';

export type { LoadOptions };

/** What every registered loader returns at least. */
export interface RegisteredModel {
  readonly config: { readonly modelType: string };
  dispose(): void;
}

export type ModelLoader = (ckpt: Checkpoint, opts: LoadOptions) => Promise<RegisteredModel>;

async function loadGemma(ckpt: Checkpoint, opts: LoadOptions): Promise<GemmaModel> {
  const config = parseGemmaConfig(ckpt.config, ckpt.configPath, opts.ignoreKeys ? { ignoreKeys: opts.ignoreKeys } : {});
  const params = await loadStrictParams(ckpt, gemmaParameterShapes(config), config.tieWordEmbeddings ? GEMMA_TIED_WEIGHTS : {});
  return new GemmaModel(config, params);
}

export const MODEL_REGISTRY = {
  gemma: loadGemma,
  gemma2: loadGemma,
  gemma3_text: loadGemma,
  t5gemma: async (ckpt: Checkpoint, opts: LoadOptions) => (await import('./t5gemma.js')).loadT5Gemma(ckpt, opts),
} satisfies Record<string, ModelLoader>;

export type LoadedModel = Awaited<ReturnType<(typeof MODEL_REGISTRY)[keyof typeof MODEL_REGISTRY]>>;
