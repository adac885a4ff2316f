/**
 * `model_type` (config.json) -> loader. One line per family; `LoadedModel` is the union of what the
 * loaders return, so adding a family (e.g. `t5gemma: loadT5Gemma,`) extends it automatically.
 */
import type { Checkpoint } from '../checkpoint/index.js';
import { parseGemmaConfig, type GemmaConfig } from '../config/gemma.js';
import { parseGemma3MultimodalConfig } from '../config/gemma3.js';
import { GemmaModel, GEMMA_TIED_WEIGHTS, gemmaParameterShapes } from './gemma.js';
import { detectLayout, layoutView } from './layouts.js';
import { loadStrictParams } from './strict.js';
import type { LoadOptions } from './base.js';

export type { LoadOptions };

/** What every registered loader returns at least. */
export interface RegisteredModel {
  readonly config: { readonly modelType: string };
  dispose(): void;
}

export type ModelLoader = (ckpt: Checkpoint, opts: LoadOptions) => Promise<RegisteredModel>;

/** Strict load of a decoder stack stored in any of the layouts of layouts.ts (multimodal: text tower only). */
async function loadGemmaLayout(ckpt: Checkpoint, config: GemmaConfig, multimodal: boolean, opts: LoadOptions): Promise<GemmaModel> {
  const view = layoutView(ckpt, detectLayout(ckpt, multimodal));
  if (view.skipped.length > 0) {
    const mb = (view.skippedBytes / 2 ** 20).toFixed(1);
    (opts.onInfo ?? console.info)(`${ckpt.dir}: text tower only; skipped ${view.skipped.length} vision/projector tensors (${mb} MiB, not read)`);
  }
  const params = await loadStrictParams(view.checkpoint, gemmaParameterShapes(config), config.tieWordEmbeddings ? GEMMA_TIED_WEIGHTS : {});
  return new GemmaModel(config, params);
}

async function loadGemma(ckpt: Checkpoint, opts: LoadOptions): Promise<GemmaModel> {
  const config = parseGemmaConfig(ckpt.config, ckpt.configPath, opts.ignoreKeys ? { ignoreKeys: opts.ignoreKeys } : {});
  return loadGemmaLayout(ckpt, config, false, opts);
}

async function loadGemma3Multimodal(ckpt: Checkpoint, opts: LoadOptions): Promise<GemmaModel> {
  const config = parseGemma3MultimodalConfig(ckpt.config, ckpt.configPath, opts.ignoreKeys ? { ignoreKeys: opts.ignoreKeys } : {});
  return loadGemmaLayout(ckpt, config, true, opts);
}

export const MODEL_REGISTRY = {
  gemma: loadGemma,
  gemma2: loadGemma,
  gemma3_text: loadGemma,
  gemma3: loadGemma3Multimodal,
  vaultgemma: loadGemma,
  gemma4_text: async (ckpt: Checkpoint, opts: LoadOptions) => (await import('./gemma4.js')).loadGemma4(ckpt, opts),
  gemma4: async (ckpt: Checkpoint, opts: LoadOptions) => (await import('./gemma4.js')).loadGemma4(ckpt, opts),
  t5gemma: async (ckpt: Checkpoint, opts: LoadOptions) => (await import('./t5gemma.js')).loadT5Gemma(ckpt, opts),
} satisfies Record<string, ModelLoader>;

export type LoadedModel = Awaited<ReturnType<(typeof MODEL_REGISTRY)[keyof typeof MODEL_REGISTRY]>>;
