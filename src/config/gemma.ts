/**
 * Gemma 1 / 2 / 3 (text) `config.json` -> a typed, validated, frozen plain object.
 *
 * Policy (spec models.md §1, style "What to absorb" 3-4):
 * - Every key either feeds the math, is checked, or is listed in KNOWN_IRRELEVANT_KEYS with the
 *   reason it cannot change a number. Any other key is a ConfigError naming the file and field,
 *   so a new math-affecting option (a new rope type, a bias flag, quantisation) is never silently
 *   dropped. `opts.ignoreKeys` is the explicit escape hatch for a key the user has vetted.
 * - Per-layer behaviour is data: `layerTypes` is authoritative; it is derived (HF's rules) only
 *   when the file has none.
 * - Both HF spellings are accepted: `dtype`/`torch_dtype`; transformers v5 `rope_parameters`
 *   (flat or keyed by layer type) and v4 `rope_theta`/`rope_scaling`/`rope_local_base_freq`.
 */
import { ConfigError } from '../errors.js';
import { CONFIG_SIZE_LIMITS, checkConfigSizes, checkSize, checkSizeProduct, type SizeField } from './bounds.js';

export type GemmaModelType = 'gemma' | 'gemma2' | 'gemma3_text' | 'vaultgemma';
export const GEMMA_MODEL_TYPES: readonly GemmaModelType[] = ['gemma', 'gemma2', 'gemma3_text', 'vaultgemma'];

export type LayerType = 'full_attention' | 'sliding_attention';
export const LAYER_TYPES: readonly LayerType[] = ['full_attention', 'sliding_attention'];

/** RoPE for one layer type: `inv_freq[k] = 1 / theta^(2k/K) / linearFactor` (linearFactor 1 = no scaling). */
export interface RopeConfig {
  readonly theta: number;
  readonly linearFactor: number;
}

/** The decoder fields every Gemma-style stack needs (T5Gemma's module configs reuse this shape). */
export interface GemmaStackConfig {
  readonly vocabSize: number;
  /** D */
  readonly hiddenSize: number;
  /** F */
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  /** H */
  readonly numAttentionHeads: number;
  /** G (H % G == 0; query head h reads kv head floor(h / (H/G))) */
  readonly numKeyValueHeads: number;
  /** K (explicit; not necessarily D / H) */
  readonly headDim: number;
  readonly rmsNormEps: number;
  /** The only activation Gemma uses: GeGLU with tanh-approximated GELU. */
  readonly hiddenActivation: 'gelu_pytorch_tanh';
  /** Attention scale = queryPreAttnScalar^-0.5 (Gemma 1: head_dim). */
  readonly queryPreAttnScalar: number;
  /** cap * tanh(s / cap) on attention scores after the scale, before the mask; null = none. */
  readonly attnLogitSoftcapping: number | null;
  /** cap * tanh(logits / cap) on the output logits; null = none. */
  readonly finalLogitSoftcapping: number | null;
  /** W for sliding_attention layers; null when no layer slides. */
  readonly slidingWindow: number | null;
  /** One entry per layer (authoritative). */
  readonly layerTypes: readonly LayerType[];
  readonly rope: Readonly<Record<LayerType, RopeConfig>>;
  /** Gemma 3: RMSNorm (1+w) over head_dim on q and k before RoPE. */
  readonly qkNorm: boolean;
  /** Gemma 2/3: four norms per layer (post-attention and pre/post-feedforward); Gemma 1: two. */
  readonly sandwichNorms: boolean;
  /** VaultGemma: two norms per layer, `input_layernorm` and `pre_feedforward_layernorm` (no post norms). */
  readonly preNormsOnly: boolean;
  readonly attentionDropout: number;
  readonly initializerRange: number;
  readonly padTokenId: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly maxPositionEmbeddings: number;
}

export interface GemmaConfig extends GemmaStackConfig {
  readonly modelType: GemmaModelType;
  /** Tied output embedding: logits = h @ embed_tokens^T; otherwise `lm_head.weight` is a parameter. */
  readonly tieWordEmbeddings: boolean;
  /** Gemma 3 (EmbeddingGemma): HF runs bidirectional with a halved sliding window; sets the default mode. */
  readonly useBidirectionalAttention: boolean;
  /** Storage dtype declared by the checkpoint (`dtype` or `torch_dtype`); compute is always float32. */
  readonly dtype: string | null;
  /** Where the config came from (for error messages). */
  readonly sourcePath: string;
}

/**
 * Keys that cannot change a number this library computes, and why. Everything else must be read.
 * (HF `PretrainedConfig` bookkeeping, generation defaults and tokenizer hints are the bulk.)
 */
export const KNOWN_IRRELEVANT_KEYS: Readonly<Record<string, string>> = Object.freeze({
  architectures: 'class name for HF auto classes',
  transformers_version: 'provenance',
  _name_or_path: 'provenance',
  name_or_path: 'provenance',
  use_cache: 'KV cache for generation; no effect on a full-sequence forward',
  cache_implementation: 'KV cache layout for generation',
  attn_implementation: 'HF kernel choice (eager/sdpa); same math',
  _attn_implementation_autoset: 'HF kernel choice',
  output_attentions: 'HF return options',
  output_hidden_states: 'HF return options',
  return_dict: 'HF return options',
  torchscript: 'HF export option',
  pruned_heads: 'must be empty; checked',
  id2label: 'labels of a task head, not of the base model',
  label2id: 'labels of a task head, not of the base model',
  num_labels: 'labels of a task head, not of the base model',
  problem_type: 'task head loss choice',
  finetuning_task: 'provenance',
  task_specific_params: 'generation presets',
  tokenizer_class: 'tokenizer hint',
  prefix: 'tokenizer prompt hint',
  sep_token_id: 'tokenizer special id',
  decoder_start_token_id: 'generation start id',
  max_length: 'generation default',
  min_length: 'generation default',
  do_sample: 'generation default',
  early_stopping: 'generation default',
  num_beams: 'generation default',
  num_beam_groups: 'generation default',
  diversity_penalty: 'generation default',
  temperature: 'generation default',
  top_k: 'generation default',
  top_p: 'generation default',
  typical_p: 'generation default',
  repetition_penalty: 'generation default',
  length_penalty: 'generation default',
  no_repeat_ngram_size: 'generation default',
  encoder_no_repeat_ngram_size: 'generation default',
  bad_words_ids: 'generation default',
  num_return_sequences: 'generation default',
  output_scores: 'generation default',
  return_dict_in_generate: 'generation default',
  forced_bos_token_id: 'generation default',
  forced_eos_token_id: 'generation default',
  remove_invalid_values: 'generation default',
  exponential_decay_length_penalty: 'generation default',
  suppress_tokens: 'generation default',
  begin_suppress_tokens: 'generation default',
  chunk_size_feed_forward: 'HF memory trick; same math',
  is_decoder: 'must be false/absent for these decoder-only families; checked',
  is_encoder_decoder: 'must be false/absent for these decoder-only families; checked',
  add_cross_attention: 'must be false/absent; checked',
  cross_attention_hidden_size: 'must be null/absent; checked',
  tie_encoder_decoder: 'must be false/absent; checked',
  _sliding_window_pattern: 'leftover of layer_types (Gemma 3); used only when layer_types is absent',
  sliding_window_pattern: 'leftover of layer_types (Gemma 3); used only when layer_types is absent',
  sliding_window_size: 'legacy duplicate of sliding_window (Gemma 2); checked equal when both present',
});

const SPECIAL_CHECKED_KEYS = new Set([
  'pruned_heads',
  'is_decoder',
  'is_encoder_decoder',
  'add_cross_attention',
  'cross_attention_hidden_size',
  'tie_encoder_decoder',
  'sliding_window_size',
]);

/** Keys every Gemma text stack (Gemma 1/2/3 and Gemma 4) reads, whatever its family. */
export const STACK_READ_KEYS: readonly string[] = [
  'model_type',
  'vocab_size',
  'hidden_size',
  'intermediate_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'head_dim',
  'rms_norm_eps',
  'hidden_activation',
  'hidden_act',
  'rope_parameters',
  'attention_bias',
  'attention_dropout',
  'initializer_range',
  'pad_token_id',
  'bos_token_id',
  'eos_token_id',
  'max_position_embeddings',
  'tie_word_embeddings',
  'dtype',
  'torch_dtype',
  'layer_types',
];

/** Keys whose values are read into the config (per family); Gemma 1-3 also take the older RoPE keys. */
const READ_KEYS_COMMON = [...STACK_READ_KEYS, 'rope_theta', 'rope_scaling'];
export const GEMMA_READ_KEYS: Readonly<Record<GemmaModelType, readonly string[]>> = {
  gemma: READ_KEYS_COMMON,
  gemma2: [
    ...READ_KEYS_COMMON,
    'query_pre_attn_scalar',
    'attn_logit_softcapping',
    'final_logit_softcapping',
    'sliding_window',
  ],
  // VaultGemmaConfig: Gemma 2's keys and defaults (softcaps 50/30, alternating layers).
  vaultgemma: [
    ...READ_KEYS_COMMON,
    'query_pre_attn_scalar',
    'attn_logit_softcapping',
    'final_logit_softcapping',
    'sliding_window',
  ],
  gemma3_text: [
    ...READ_KEYS_COMMON,
    'query_pre_attn_scalar',
    'attn_logit_softcapping',
    'final_logit_softcapping',
    'sliding_window',
    'rope_local_base_freq',
    'use_bidirectional_attention',
  ],
};

/** Reads typed fields out of a JSON object, throwing ConfigError(file, field) on a wrong type. */
export class ConfigReader {
  constructor(
    readonly json: Readonly<Record<string, unknown>>,
    readonly file: string,
    /** Prefix for nested configs, e.g. 'encoder.' */
    readonly prefix = '',
  ) {}

  fail(field: string, message: string): never {
    throw new ConfigError(message, this.file, this.prefix + field);
  }

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  int(key: string, dflt?: number, min = 1): number {
    const v = this.json[key];
    if (v === undefined || v === null) {
      if (dflt === undefined) this.fail(key, 'is required');
      return dflt;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
      this.fail(key, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    // Size fields are bounded here too, so every parser built on ConfigReader refuses them before use.
    if (Object.hasOwn(CONFIG_SIZE_LIMITS, key)) checkSize(this.file, this.prefix + key, v, key as SizeField);
    return v;
  }

  num(key: string, dflt?: number, check: (x: number) => boolean = (x) => x > 0, what = 'a positive number'): number {
    const v = this.json[key];
    if (v === undefined || v === null) {
      if (dflt === undefined) this.fail(key, 'is required');
      return dflt;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) this.fail(key, `must be ${what}, got ${JSON.stringify(v)}`);
    return v;
  }

  /** null stays null (e.g. softcapping disabled); absent takes the default. */
  numOrNull(key: string, dflt: number | null): number | null {
    const v = this.json[key];
    if (v === undefined) return dflt;
    if (v === null) return null;
    return this.num(key);
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.json[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  str(key: string): string | null {
    const v = this.json[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') this.fail(key, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** Rejects keys that are neither read nor known to be irrelevant. */
  rejectUnknown(read: readonly string[], ignore: readonly string[] = []): void {
    const known = new Set([...read, ...ignore]);
    for (const key of Object.keys(this.json)) {
      if (!known.has(key) && !(key in KNOWN_IRRELEVANT_KEYS))
        this.fail(key, 'unknown key: it might change the math, so it is not ignored (pass ignoreKeys to override)');
    }
  }

  /** Checks the HF bookkeeping keys whose non-default values would mean a different architecture. */
  checkDecoderOnlyFlags(): void {
    for (const key of SPECIAL_CHECKED_KEYS) {
      const v = this.json[key];
      if (v === undefined || v === null || v === false) continue;
      if (key === 'pruned_heads' && typeof v === 'object' && Object.keys(v).length === 0) continue;
      if (key === 'sliding_window_size') continue; // checked with sliding_window
      this.fail(key, `unsupported value ${JSON.stringify(v)} for a decoder-only Gemma`);
    }
  }
}

export interface ParseOptions {
  /** Keys the caller has vetted as irrelevant to the math (escape hatch for new HF bookkeeping keys). */
  readonly ignoreKeys?: readonly string[];
}

/** Validates `config.json` content for model_type gemma | gemma2 | gemma3_text. */
export function parseGemmaConfig(json: unknown, sourcePath: string, opts: ParseOptions = {}): GemmaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new ConfigError('must be a JSON object', sourcePath);
  checkConfigSizes(json, sourcePath);
  const r: ConfigReader = new ConfigReader(json as Record<string, unknown>, sourcePath);
  const modelType = r.str('model_type');
  if (modelType === null) r.fail('model_type', 'is required');
  if (!(GEMMA_MODEL_TYPES as readonly string[]).includes(modelType))
    r.fail('model_type', `unknown model_type '${modelType}' (expected one of ${GEMMA_MODEL_TYPES.join(', ')})`);
  const family = modelType as GemmaModelType;
  r.rejectUnknown(GEMMA_READ_KEYS[family], opts.ignoreKeys);
  r.checkDecoderOnlyFlags();
  const stack = parseGemmaStack(r, family);
  const tie = r.bool('tie_word_embeddings', true);
  const useBidirectionalAttention = family === 'gemma3_text' ? r.bool('use_bidirectional_attention', false) : false;
  return Object.freeze({
    modelType: family,
    ...stack,
    tieWordEmbeddings: tie,
    useBidirectionalAttention,
    dtype: readDtype(r),
    sourcePath,
  });
}

/** `dtype` (transformers >= 4.56) or `torch_dtype` (older); both present must agree. */
export function readDtype(r: ConfigReader): string | null {
  const a = r.str('dtype');
  const b = r.str('torch_dtype');
  if (a !== null && b !== null && a !== b) r.fail('torch_dtype', `disagrees with dtype ('${b}' vs '${a}')`);
  return a ?? b;
}

/**
 * The stack fields, with HF's per-family defaults for optional keys (so a config HF loads the same
 * way loads the same here). Size fields have no default: a config without them is an error.
 */
export function parseGemmaStack(r: ConfigReader, family: GemmaModelType | 'gemma2_module'): GemmaStackConfig {
  const isG1 = family === 'gemma';
  const isG3 = family === 'gemma3_text';
  const hiddenSize = r.int('hidden_size');
  const numHiddenLayers = r.int('num_hidden_layers');
  const numAttentionHeads = r.int('num_attention_heads');
  const numKeyValueHeads = r.int('num_key_value_heads');
  const headDim = r.int('head_dim');
  if (numAttentionHeads % numKeyValueHeads !== 0)
    r.fail('num_key_value_heads', `num_attention_heads (${numAttentionHeads}) must be a multiple of num_key_value_heads (${numKeyValueHeads})`);
  if (headDim % 2 !== 0) r.fail('head_dim', `must be even for half-split RoPE, got ${headDim}`);
  if (r.bool('attention_bias', false)) r.fail('attention_bias', 'true is not supported (Gemma projections have no bias)');

  const slidingWindowRaw = isG1 ? null : r.int('sliding_window', 4096);
  if (r.has('sliding_window_size') && r.json.sliding_window_size !== slidingWindowRaw)
    r.fail('sliding_window_size', `disagrees with sliding_window (${JSON.stringify(r.json.sliding_window_size)} vs ${slidingWindowRaw})`);
  const layerTypes = readLayerTypes(r, family, numHiddenLayers);
  const slides = layerTypes.includes('sliding_attention');
  if (slides && slidingWindowRaw === null) r.fail('layer_types', 'has sliding_attention layers but the family has no sliding_window');

  const vocabSize = r.int('vocab_size');
  const intermediateSize = r.int('intermediate_size');
  // Effective sizes (a T5Gemma module takes the top-level vocab): one tensor each, bounded before any is built.
  const f = (a: string, b: string) => `${r.prefix}${a}*${b}`;
  checkSizeProduct(r.file, f('vocab_size', 'hidden_size'), [vocabSize, hiddenSize]);
  checkSizeProduct(r.file, f('hidden_size', 'intermediate_size'), [hiddenSize, intermediateSize]);
  checkSizeProduct(r.file, `${r.prefix}num_attention_heads*head_dim*hidden_size`, [numAttentionHeads, headDim, hiddenSize]);
  return {
    vocabSize,
    hiddenSize,
    intermediateSize,
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: r.num('rms_norm_eps', 1e-6),
    hiddenActivation: readActivation(r, family),
    queryPreAttnScalar: isG1 ? headDim : r.num('query_pre_attn_scalar', 256),
    attnLogitSoftcapping: isG1 ? null : r.numOrNull('attn_logit_softcapping', isG3 ? null : 50),
    finalLogitSoftcapping: isG1 ? null : r.numOrNull('final_logit_softcapping', isG3 ? null : 30),
    slidingWindow: slides ? slidingWindowRaw : null,
    layerTypes: Object.freeze(layerTypes),
    rope: readRope(r, family),
    qkNorm: isG3,
    sandwichNorms: !isG1 && family !== 'vaultgemma',
    preNormsOnly: family === 'vaultgemma',
    attentionDropout: r.num('attention_dropout', 0, (x) => x >= 0 && x < 1, 'in [0, 1)'),
    initializerRange: r.num('initializer_range', 0.02),
    padTokenId: r.int('pad_token_id', 0, 0),
    bosTokenId: r.int('bos_token_id', 2, 0),
    eosTokenId: readEos(r),
    maxPositionEmbeddings: r.int('max_position_embeddings', 8192),
  };
}

/** eos_token_id may be a list in instruction-tuned configs ([1, 107]); the first is the primary id. */
export function readEos(r: ConfigReader, dflt = 1): number {
  const v = r.json.eos_token_id;
  if (Array.isArray(v)) {
    if (v.length === 0 || !v.every((x) => Number.isInteger(x) && x >= 0)) r.fail('eos_token_id', 'must be a non-negative integer or a non-empty list of them');
    return v[0] as number;
  }
  return r.int('eos_token_id', dflt, 0);
}

/**
 * Gemma 1: transformers 4.57 reads `hidden_act` (`hidden_activation` is null in new saves). Original
 * Gemma 1 releases say `"hidden_act": "gelu"`; the Gemma authors and HF PR #29402 state Gemma must run
 * the tanh approximation, so 'gelu' maps to gelu_pytorch_tanh for model_type gemma only (transformers
 * 4.57 read literally would run exact GELU there; we deliberately do not). Anything else is an error.
 */
function readActivation(r: ConfigReader, family: string): 'gelu_pytorch_tanh' {
  const activation = r.str('hidden_activation');
  const act = r.str('hidden_act');
  const tanhNames = ['gelu_pytorch_tanh', 'gelu_tanh', 'gelu_new'];
  const ok = (v: string | null) => v === null || tanhNames.includes(v) || (family === 'gemma' && v === 'gelu');
  if (!ok(activation)) r.fail('hidden_activation', `unsupported activation '${activation}' (Gemma uses gelu_pytorch_tanh)`);
  if (!ok(act)) r.fail('hidden_act', `unsupported activation '${act}' (Gemma uses gelu_pytorch_tanh)`);
  return 'gelu_pytorch_tanh';
}

function readLayerTypes(r: ConfigReader, family: string, n: number): LayerType[] {
  const v = r.json.layer_types;
  if (v !== undefined && v !== null) {
    if (!Array.isArray(v)) r.fail('layer_types', 'must be a list');
    if (v.length !== n) r.fail('layer_types', `has ${v.length} entries but num_hidden_layers is ${n}`);
    v.forEach((t, i) => {
      if (!(LAYER_TYPES as readonly unknown[]).includes(t))
        r.fail(`layer_types[${i}]`, `unknown layer type ${JSON.stringify(t)} (expected ${LAYER_TYPES.join(' or ')})`);
    });
    return v as LayerType[];
  }
  // Derivations HF applies when layer_types is absent.
  if (family === 'gemma') return Array.from({ length: n }, () => 'full_attention');
  if (family === 'gemma3_text') {
    const key = r.has('sliding_window_pattern') ? 'sliding_window_pattern' : '_sliding_window_pattern';
    const pattern = r.int(key, 6);
    return Array.from({ length: n }, (_, i) => ((i + 1) % pattern !== 0 ? 'sliding_attention' : 'full_attention'));
  }
  // Gemma 2 / T5Gemma modules: alternate, starting with a sliding layer.
  return Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention'));
}

/** One rope dict (`rope_scaling` of v4 or one entry of v5 `rope_parameters`) -> linear factor. */
function readRopeDict(r: ConfigReader, field: string, v: unknown, theta: number | null): RopeConfig | { linearFactor: number } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) r.fail(field, 'must be an object');
  const d = v as Record<string, unknown>;
  const type = (d.rope_type ?? d.type ?? 'default') as unknown;
  for (const k of Object.keys(d)) {
    if (!['rope_type', 'type', 'factor', 'rope_theta'].includes(k))
      r.fail(`${field}.${k}`, `unsupported rope option (only default and linear RoPE are implemented)`);
  }
  let linearFactor = 1;
  if (type === 'linear') {
    const f = d.factor;
    if (typeof f !== 'number' || !(f > 0)) r.fail(`${field}.factor`, `linear scaling needs a positive factor, got ${JSON.stringify(f)}`);
    linearFactor = f;
  } else if (type !== 'default') {
    r.fail(`${field}.rope_type`, `unsupported rope_type ${JSON.stringify(type)} (only default and linear)`);
  } else if (d.factor !== undefined && d.factor !== 1) {
    r.fail(`${field}.factor`, `a factor with rope_type default is ambiguous`);
  }
  const t = d.rope_theta;
  if (t !== undefined) {
    if (typeof t !== 'number' || !(t > 0)) r.fail(`${field}.rope_theta`, `must be a positive number, got ${JSON.stringify(t)}`);
    return { theta: t, linearFactor };
  }
  return theta === null ? { linearFactor } : { theta, linearFactor };
}

function readRope(r: ConfigReader, family: string): Readonly<Record<LayerType, RopeConfig>> {
  const v4 = readRopeV4(r, family);
  const params = r.json.rope_parameters;
  if (params === undefined || params === null) return v4;
  // transformers v5: one dict for all layers, or one per layer type. v4 keys left beside it must agree.
  if (typeof params !== 'object' || Array.isArray(params)) r.fail('rope_parameters', 'must be an object');
  const p = params as Record<string, unknown>;
  const fallbackTheta = r.has('rope_theta') ? r.num('rope_theta') : null;
  const one = (field: string, v: unknown): RopeConfig => {
    const d = readRopeDict(r, field, v, fallbackTheta);
    if (!('theta' in d)) r.fail(`${field}.rope_theta`, 'is required');
    return Object.freeze(d);
  };
  let rope: Record<LayerType, RopeConfig>;
  if (LAYER_TYPES.some((t) => t in p)) {
    for (const k of Object.keys(p)) if (!(LAYER_TYPES as readonly string[]).includes(k)) r.fail(`rope_parameters.${k}`, 'unknown layer type');
    const full = p.full_attention !== undefined ? one('rope_parameters.full_attention', p.full_attention) : null;
    const sliding = p.sliding_attention !== undefined ? one('rope_parameters.sliding_attention', p.sliding_attention) : null;
    rope = { full_attention: (full ?? sliding) as RopeConfig, sliding_attention: (sliding ?? full) as RopeConfig };
  } else {
    const all = one('rope_parameters', p);
    rope = { full_attention: all, sliding_attention: all };
  }
  const agree = (key: string, a: number, b: number) => {
    if (a !== b) r.fail(key, `disagrees with rope_parameters (${a} vs ${b})`);
  };
  if (r.has('rope_theta')) agree('rope_theta', v4.full_attention.theta, rope.full_attention.theta);
  if (r.has('rope_scaling')) agree('rope_scaling', v4.full_attention.linearFactor, rope.full_attention.linearFactor);
  if (r.has('rope_local_base_freq')) agree('rope_local_base_freq', v4.sliding_attention.theta, rope.sliding_attention.theta);
  return Object.freeze(rope);
}

/** transformers v4 keys: rope_theta + rope_scaling (+ Gemma 3 rope_local_base_freq), with HF defaults. */
function readRopeV4(r: ConfigReader, family: string): Readonly<Record<LayerType, RopeConfig>> {
  const isG3 = family === 'gemma3_text';
  const theta = r.num('rope_theta', isG3 ? 1_000_000 : 10_000);
  const scaling = r.json.rope_scaling;
  const linearFactor = scaling === undefined || scaling === null ? 1 : readRopeDict(r, 'rope_scaling', scaling, null).linearFactor;
  const full = Object.freeze({ theta, linearFactor });
  if (isG3) {
    // Gemma 3: local layers use their own base and never the scaling (HF Gemma3 rotary_emb_local).
    const local = Object.freeze({ theta: r.num('rope_local_base_freq', 10_000), linearFactor: 1 });
    return Object.freeze({ full_attention: full, sliding_attention: local });
  }
  return Object.freeze({ full_attention: full, sliding_attention: full });
}

/** The config.json keys of a Gemma text stack's sizes, in the order transformers writes them. */
export function stackShapeJson(
  c: Pick<GemmaStackConfig, 'vocabSize' | 'hiddenSize' | 'intermediateSize' | 'numHiddenLayers' | 'numAttentionHeads' | 'numKeyValueHeads' | 'headDim'>,
): Record<string, number> {
  return {
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
  };
}

/**
 * The config as transformers 4.57 writes it (v4 rope keys, `dtype`), for saving checkpoints HF can load;
 * `parseGemmaConfig(gemmaConfigToJson(c))` gives back `c`.
 */
export function gemmaConfigToJson(c: GemmaConfig, dtype: string | null = c.dtype): Record<string, unknown> {
  const arch = { gemma: 'GemmaForCausalLM', gemma2: 'Gemma2ForCausalLM', gemma3_text: 'Gemma3ForCausalLM', vaultgemma: 'VaultGemmaForCausalLM' }[c.modelType];
  const full = c.rope.full_attention;
  const json: Record<string, unknown> = {
    architectures: [arch],
    model_type: c.modelType,
    ...stackShapeJson(c),
    rms_norm_eps: c.rmsNormEps,
    attention_bias: false,
    attention_dropout: c.attentionDropout,
    initializer_range: c.initializerRange,
    pad_token_id: c.padTokenId,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    layer_types: [...c.layerTypes],
    rope_theta: full.theta,
    rope_scaling: full.linearFactor === 1 ? null : { rope_type: 'linear', factor: full.linearFactor },
  };
  if (dtype !== null) json.dtype = dtype;
  if (c.modelType === 'gemma') {
    json.hidden_act = c.hiddenActivation;
    json.hidden_activation = null;
  } else {
    json.hidden_activation = c.hiddenActivation;
    json.query_pre_attn_scalar = c.queryPreAttnScalar;
    json.attn_logit_softcapping = c.attnLogitSoftcapping;
    json.final_logit_softcapping = c.finalLogitSoftcapping;
    json.sliding_window = c.slidingWindow ?? 4096;
  }
  if (c.modelType === 'gemma3_text') {
    const local = c.rope.sliding_attention;
    if (local.linearFactor !== 1) throw new ConfigError('Gemma 3 sliding layers cannot be saved with rope scaling in v4 keys', c.sourcePath, 'rope');
    json.rope_local_base_freq = local.theta;
    json.use_bidirectional_attention = c.useBidirectionalAttention;
  } else if (c.rope.sliding_attention.theta !== full.theta || c.rope.sliding_attention.linearFactor !== full.linearFactor) {
    throw new ConfigError('per-layer-type RoPE is only expressible for gemma3_text in v4 keys', c.sourcePath, 'rope');
  }
  return Object.fromEntries(Object.entries(json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
