/**
 * Multimodal Gemma 3 (`model_type: "gemma3"`, Gemma3ForConditionalGeneration, the 4B/12B/27B releases):
 * only the text tower is used here. Its `text_config` is sparse in the published files (the 4B one
 * names six keys), so every absent key takes Gemma3TextConfig's constructor default (docs/model-families.md
 * lists them), `layer_types` is derived from `sliding_window_pattern`, and the result is validated by the
 * same parser as a flat `gemma3_text` config. Vision and projector settings are checked for shape only.
 */
import { ConfigError } from '../errors.js';
import { checkConfigSizes } from './bounds.js';
import { ConfigReader, KNOWN_IRRELEVANT_KEYS, parseGemmaConfig, type GemmaConfig, type ParseOptions } from './gemma.js';

/** Gemma3TextConfig's defaults (transformers 4.57), for keys a sparse text_config leaves out. */
export const GEMMA3_TEXT_DEFAULTS: Readonly<Record<string, unknown>> = Object.freeze({
  vocab_size: 262_208,
  hidden_size: 2304,
  intermediate_size: 9216,
  num_hidden_layers: 26,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  max_position_embeddings: 131_072,
  initializer_range: 0.02,
  rms_norm_eps: 1e-6,
  pad_token_id: 0,
  eos_token_id: 1,
  bos_token_id: 2,
  tie_word_embeddings: true,
  rope_theta: 1_000_000,
  attention_bias: false,
  attention_dropout: 0,
  query_pre_attn_scalar: 256,
  sliding_window: 4096,
  final_logit_softcapping: null,
  attn_logit_softcapping: null,
  rope_scaling: null,
  rope_local_base_freq: 10_000,
  use_bidirectional_attention: false,
});

/** Top-level Gemma3Config keys: the text tower reads `text_config`; the rest concern images. */
const GEMMA3_TOP_KEYS: Readonly<Record<string, string>> = Object.freeze({
  model_type: 'checked',
  text_config: 'the text tower: parsed',
  vision_config: 'vision tower (not used: text only); checked to be an object',
  mm_tokens_per_image: 'image tokens (not used: text only)',
  boi_token_index: 'image marker token (not used: text only)',
  eoi_token_index: 'image marker token (not used: text only)',
  image_token_index: 'image placeholder token (not used: text only)',
  initializer_range: 'init of new weights; the text_config value is used',
  tie_word_embeddings: 'checked equal to the text tower tie when both present',
  dtype: 'storage dtype, inherited by the text tower',
  torch_dtype: 'storage dtype, inherited by the text tower',
  eos_token_id: 'generation default',
  bos_token_id: 'generation default',
  pad_token_id: 'generation default',
});

/** Families this library recognises but does not implement: one line each, said at load time. */
export const UNSUPPORTED_FAMILIES: Readonly<Record<string, string>> = Object.freeze({
  gemma3n: 'Gemma 3n (per-layer embeddings, AltUp, LAuReL, MatFormer) is not supported',
  gemma3n_text: 'Gemma 3n (per-layer embeddings, AltUp, LAuReL, MatFormer) is not supported',
  recurrent_gemma: 'RecurrentGemma (Griffin recurrent blocks) is not supported',
  paligemma: 'PaliGemma (SigLIP + Gemma with prefix attention) is not supported; use a text checkpoint',
  siglip_vision_model: 'a vision tower alone is not a language model; no text tower to load',
  siglip: 'SigLIP (vision-language contrastive) is not supported; no Gemma text tower to load',
});

/** Throws the one-line "not supported" ConfigError when `model_type` names a known-unsupported family. */
export function rejectUnsupportedFamily(modelType: unknown, file: string): void {
  if (typeof modelType === 'string' && Object.hasOwn(UNSUPPORTED_FAMILIES, modelType))
    throw new ConfigError(`model_type '${modelType}': ${UNSUPPORTED_FAMILIES[modelType]}`, file, 'model_type');
}

/** `config.json` of model_type gemma3 -> the text tower's GemmaConfig (modelType 'gemma3_text'). */
export function parseGemma3MultimodalConfig(json: unknown, sourcePath: string, opts: ParseOptions = {}): GemmaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError('must be a JSON object', sourcePath);
  checkConfigSizes(json, sourcePath);
  const r = new ConfigReader(json as Record<string, unknown>, sourcePath);
  if (r.str('model_type') !== 'gemma3') r.fail('model_type', `expected 'gemma3', got ${JSON.stringify(r.json.model_type)}`);
  const ignore = new Set(opts.ignoreKeys ?? []);
  for (const key of Object.keys(r.json)) {
    if (!(key in GEMMA3_TOP_KEYS) && !(key in KNOWN_IRRELEVANT_KEYS) && !ignore.has(key))
      r.fail(key, 'unknown key: it might change the math, so it is not ignored (pass ignoreKeys to override)');
  }
  const vision = r.json.vision_config;
  if (vision !== undefined && vision !== null && (typeof vision !== 'object' || Array.isArray(vision))) r.fail('vision_config', 'must be an object');
  const text = r.json.text_config;
  // HF builds a default Gemma3TextConfig (a ~2B-parameter text tower) when text_config is absent; a
  // checkpoint without one is almost surely not the file the user meant, so say so instead.
  if (text === undefined || text === null) r.fail('text_config', 'is required (the text tower of a gemma3 checkpoint)');
  if (typeof text !== 'object' || Array.isArray(text)) r.fail('text_config', 'must be an object');
  const sparse = text as Record<string, unknown>;
  if (sparse.model_type !== undefined && sparse.model_type !== 'gemma3_text')
    r.fail('text_config.model_type', `expected 'gemma3_text', got ${JSON.stringify(sparse.model_type)}`);
  const full: Record<string, unknown> = { ...GEMMA3_TEXT_DEFAULTS };
  for (const [k, v] of Object.entries(sparse)) if (v !== undefined) full[k] = v;
  full.model_type = 'gemma3_text';
  // The storage dtype is declared at the top level in published files.
  if (full.dtype === undefined && full.torch_dtype === undefined) {
    const dtype = r.json.dtype ?? r.json.torch_dtype;
    if (dtype !== undefined && dtype !== null) full.torch_dtype = dtype;
  }
  const topTie = r.json.tie_word_embeddings;
  if (typeof topTie === 'boolean' && sparse.tie_word_embeddings !== undefined && sparse.tie_word_embeddings !== topTie)
    r.fail('tie_word_embeddings', `disagrees with text_config.tie_word_embeddings (${topTie} vs ${String(sparse.tie_word_embeddings)})`);
  if (typeof topTie === 'boolean' && sparse.tie_word_embeddings === undefined) full.tie_word_embeddings = topTie;
  try {
    return parseGemmaConfig(full, sourcePath, opts);
  } catch (err) {
    // Name the field where it lives in the file: text_config.<key>.
    if (err instanceof ConfigError && err.field !== undefined)
      throw new ConfigError(err.message.replace(`${sourcePath}: field '${err.field}': `, ''), sourcePath, `text_config.${err.field}`, { cause: err });
    throw err;
  }
}
