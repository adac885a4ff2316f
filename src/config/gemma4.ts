/**
 * Gemma 4 `config.json` (model_type `gemma4_text`, or the multimodal `gemma4` whose `text_config` is read
 * and whose vision/audio configs are skipped unread) -> a typed, validated, frozen plain object.
 *
 * Same policy as config/gemma.ts: every key is read, or known to be irrelevant, or a ConfigError. All
 * of HF's derivations are done here once, into per-layer data (`layers`), so the model never re-derives
 * them: the layer pattern (every 6th full, last layer forced full), per-layer head dim and KV heads
 * (full layers use `global_head_dim`, and `num_global_key_value_heads` when `attention_k_eq_v`), RoPE
 * per layer type (sliding: default; full: "proportional" partial rotation), KV sharing (the last
 * `num_kv_shared_layers` layers reuse the K/V of the last earlier layer of the same type) and the
 * double-wide MLP of the shared layers. See docs/gemma4.md.
 */
import { ConfigError } from '../errors.js';
import { checkConfigSizes } from './bounds.js';
import { ConfigReader, LAYER_TYPES, readDtype, readEos, STACK_READ_KEYS, stackShapeJson, type GemmaStackConfig, type LayerType, type ParseOptions, type RopeConfig } from './gemma.js';

export type Gemma4ModelType = 'gemma4_text' | 'gemma4';
export const GEMMA4_MODEL_TYPES: readonly Gemma4ModelType[] = ['gemma4_text', 'gemma4'];

/** RoPE of one layer type. `rotatedPairs` of the K/2 frequency pairs rotate; the rest have frequency 0. */
export interface Gemma4Rope extends RopeConfig {
  readonly ropeType: 'default' | 'proportional';
  readonly partialRotaryFactor: number;
  /** default: K/2; proportional: floor(partialRotaryFactor * K / 2) (frequency exponent still over K). */
  readonly rotatedPairs: number;
}

/** Everything one decoder layer needs, derived once. */
export interface Gemma4Layer {
  readonly type: LayerType;
  readonly headDim: number;
  readonly numKvHeads: number;
  /** Dense (or, with MoE, shared) MLP width: doubled on KV-shared layers with use_double_wide_mlp. */
  readonly intermediateSize: number;
  /** No k/v projections: K/V come from layer `kvSource`. */
  readonly kvShared: boolean;
  /** For shared layers, the layer whose (normed, rotated) K/V this one reuses; else null. */
  readonly kvSource: number | null;
  /** Full layers with attention_k_eq_v: no v_proj, V is the raw K projection. */
  readonly kEqV: boolean;
}

export interface Gemma4Config extends GemmaStackConfig {
  readonly modelType: Gemma4ModelType;
  /** Tensor name prefix of the text decoder: 'model.language_model.' (gemma4) or 'model.' (gemma4_text). */
  readonly prefix: string;
  readonly tieWordEmbeddings: boolean;
  /** null | 'vision' (text is causal) | 'all' (HF runs the whole decoder bidirectionally). */
  readonly useBidirectionalAttention: null | 'vision' | 'all';
  /** HF's sliding window under "all": W // 2 + 1, used inclusively (|q - k| <= it); null when no layer slides. */
  readonly bidirectionalWindow: number | null;
  readonly rope: Readonly<Record<LayerType, Gemma4Rope>>;
  /** Head dim of full_attention layers. */
  readonly globalHeadDim: number;
  readonly numGlobalKeyValueHeads: number | null;
  readonly attentionKEqV: boolean;
  readonly numKvSharedLayers: number;
  /** P; 0 disables per-layer embeddings. */
  readonly hiddenSizePerLayerInput: number;
  readonly vocabSizePerLayerInput: number;
  readonly useDoubleWideMlp: boolean;
  readonly enableMoeBlock: boolean;
  readonly numExperts: number | null;
  readonly topKExperts: number | null;
  readonly moeIntermediateSize: number | null;
  readonly layers: readonly Gemma4Layer[];
  /** Multimodal wrapper only: the special token ids it declares (images/audio never reach this library). */
  readonly multimodalTokens: Readonly<Record<string, number>> | null;
  readonly dtype: string | null;
  readonly sourcePath: string;
}

const TEXT_READ_KEYS = [
  ...STACK_READ_KEYS,
  'sliding_window',
  'final_logit_softcapping',
  'use_bidirectional_attention',
  'vocab_size_per_layer_input',
  'hidden_size_per_layer_input',
  'attention_k_eq_v',
  'num_kv_shared_layers',
  'enable_moe_block',
  'use_double_wide_mlp',
  'num_experts',
  'top_k_experts',
  'moe_intermediate_size',
  'global_head_dim',
  'num_global_key_value_heads',
  'per_layer_config',
];

/** Keys of the multimodal wrapper: towers skipped unread (they never touch text), token ids recorded. */
const WRAPPER_TOKEN_KEYS = ['boi_token_id', 'eoi_token_id', 'image_token_id', 'video_token_id', 'boa_token_id', 'eoa_token_index', 'eoa_token_id', 'audio_token_id'];
const WRAPPER_SKIPPED = [
  'vision_config',
  'audio_config',
  'vision_soft_tokens_per_image',
  'processor_class',
  'initializer_range',
  'image_token_index',
  'audio_token_index',
  // generation ids of the wrapper (published E2B: eos [1, 106]); the text config's own ids are read
  'eos_token_id',
  'bos_token_id',
  'pad_token_id',
];

/** Parses a `gemma4` or `gemma4_text` config.json. */
export function parseGemma4Config(json: unknown, sourcePath: string, opts: ParseOptions = {}): Gemma4Config {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError('must be a JSON object', sourcePath);
  checkConfigSizes(json, sourcePath);
  const top: ConfigReader = new ConfigReader(json as Record<string, unknown>, sourcePath);
  const modelType = top.str('model_type') as Gemma4ModelType | null;
  if (modelType !== 'gemma4' && modelType !== 'gemma4_text') top.fail('model_type', `expected gemma4 or gemma4_text, got ${JSON.stringify(modelType)}`);
  let r: ConfigReader = top;
  let multimodalTokens: Record<string, number> | null = null;
  let tie: boolean;
  if (modelType === 'gemma4') {
    top.rejectUnknown(['model_type', 'text_config', 'tie_word_embeddings', 'dtype', 'torch_dtype', ...WRAPPER_TOKEN_KEYS, ...WRAPPER_SKIPPED], opts.ignoreKeys);
    const text = (json as Record<string, unknown>).text_config ?? {};
    if (typeof text !== 'object' || text === null || Array.isArray(text)) top.fail('text_config', 'must be an object');
    r = new ConfigReader(text as Record<string, unknown>, sourcePath, 'text_config.');
    const mt = r.str('model_type');
    if (mt !== null && mt !== 'gemma4_text') r.fail('model_type', `expected gemma4_text, got '${mt}'`);
    multimodalTokens = {};
    for (const k of WRAPPER_TOKEN_KEYS) if (top.has(k)) multimodalTokens[k] = top.int(k, undefined, 0);
    // Gemma4Config ties the output embedding at the top level (default true); the text config's own flag must agree.
    tie = top.bool('tie_word_embeddings', true);
    if (r.has('tie_word_embeddings') && r.bool('tie_word_embeddings', true) !== tie) r.fail('tie_word_embeddings', 'disagrees with the top-level tie_word_embeddings');
  } else {
    tie = r.bool('tie_word_embeddings', true);
  }
  r.rejectUnknown(TEXT_READ_KEYS, opts.ignoreKeys);
  return Object.freeze(parseText(r, modelType, tie, multimodalTokens, readDtype(modelType === 'gemma4' ? top : r) ?? readDtype(r), sourcePath));
}

function readActivation(r: ConfigReader): 'gelu_pytorch_tanh' {
  for (const key of ['hidden_activation', 'hidden_act']) {
    const v = r.str(key);
    if (v !== null && !['gelu_pytorch_tanh', 'gelu_tanh', 'gelu_new'].includes(v)) r.fail(key, `unsupported activation '${v}' (Gemma 4 uses gelu_pytorch_tanh)`);
  }
  return 'gelu_pytorch_tanh';
}

function intOrNull(r: ConfigReader, key: string): number | null {
  return r.has(key) ? r.int(key) : null;
}

function parseText(
  r: ConfigReader,
  modelType: Gemma4ModelType,
  tieWordEmbeddings: boolean,
  multimodalTokens: Record<string, number> | null,
  dtype: string | null,
  sourcePath: string,
): Gemma4Config {
  const hiddenSize = r.int('hidden_size', 2304);
  const L = r.int('num_hidden_layers', 30);
  const H = r.int('num_attention_heads', 8);
  const G = r.int('num_key_value_heads', 4);
  const headDim = r.int('head_dim', 256);
  const globalHeadDim = r.int('global_head_dim', 512);
  const numGlobalKeyValueHeads = intOrNull(r, 'num_global_key_value_heads');
  const attentionKEqV = r.bool('attention_k_eq_v', false);
  if (r.bool('attention_bias', false)) r.fail('attention_bias', 'true is not supported (Gemma projections have no bias)');
  const numKvSharedLayers = r.int('num_kv_shared_layers', 0, 0);
  if (numKvSharedLayers >= L) r.fail('num_kv_shared_layers', `must be < num_hidden_layers (${L}), got ${numKvSharedLayers}`);
  const P = r.int('hidden_size_per_layer_input', 256, 0);
  const enableMoeBlock = r.bool('enable_moe_block', false);
  const numExperts = intOrNull(r, 'num_experts');
  const topKExperts = intOrNull(r, 'top_k_experts');
  const moeIntermediateSize = intOrNull(r, 'moe_intermediate_size');
  if (enableMoeBlock) {
    if (numExperts === null) r.fail('num_experts', 'is required with enable_moe_block');
    if (topKExperts === null) r.fail('top_k_experts', 'is required with enable_moe_block');
    if (moeIntermediateSize === null) r.fail('moe_intermediate_size', 'is required with enable_moe_block');
    if (topKExperts > numExperts) r.fail('top_k_experts', `must be <= num_experts (${numExperts})`);
  }
  const useBidirectionalAttention = ((): null | 'vision' | 'all' => {
    const v = r.json.use_bidirectional_attention;
    if (v === undefined || v === null) return null;
    if (v !== 'vision' && v !== 'all') r.fail('use_bidirectional_attention', `must be null, "vision" or "all", got ${JSON.stringify(v)}`);
    return v;
  })();
  const slidingWindowStored = r.int('sliding_window', 512);

  // layer_types: HF default (i+1) % 6 == 0 -> full; the last layer is always forced to full_attention.
  let layerTypes: LayerType[];
  const lt = r.json.layer_types;
  if (lt !== undefined && lt !== null) {
    if (!Array.isArray(lt)) r.fail('layer_types', 'must be a list');
    if (lt.length !== L) r.fail('layer_types', `has ${lt.length} entries but num_hidden_layers is ${L}`);
    lt.forEach((t, i) => {
      if (!(LAYER_TYPES as readonly unknown[]).includes(t)) r.fail(`layer_types[${i}]`, `unknown layer type ${JSON.stringify(t)}`);
    });
    layerTypes = [...(lt as LayerType[])];
  } else {
    layerTypes = Array.from({ length: L }, (_, i) => ((i + 1) % 6 === 0 ? 'full_attention' : 'sliding_attention'));
  }
  layerTypes[L - 1] = 'full_attention';

  // Per-layer overrides: transformers >= the per_layer_config refactor saves them explicitly.
  const overrides = readPerLayerConfig(r, L);
  const first = L - numKvSharedLayers;
  const layers: Gemma4Layer[] = layerTypes.map((type, i) => {
    const full = type === 'full_attention';
    const kEqV = attentionKEqV && full;
    let hd = full && globalHeadDim ? globalHeadDim : headDim;
    let kv = G;
    if (kEqV) {
      if (numGlobalKeyValueHeads === null) r.fail('num_global_key_value_heads', 'is required with attention_k_eq_v (full layers read it)');
      kv = numGlobalKeyValueHeads;
    }
    const o = overrides.get(i);
    if (o?.headDim !== undefined) hd = o.headDim;
    if (o?.numKvHeads !== undefined) kv = o.numKvHeads;
    if (H % kv !== 0) r.fail('num_key_value_heads', `layer ${i}: num_attention_heads (${H}) must be a multiple of its KV heads (${kv})`);
    if (hd % 2 !== 0) r.fail('head_dim', `layer ${i}: head dim ${hd} must be even`);
    const kvShared = i >= first && numKvSharedLayers > 0;
    let kvSource: number | null = null;
    if (kvShared) {
      kvSource = layerTypes.slice(0, first).lastIndexOf(type);
      if (kvSource < 0) r.fail('num_kv_shared_layers', `layer ${i} (${type}) shares K/V but no earlier non-shared ${type} layer exists`);
    }
    const dw = r.bool('use_double_wide_mlp', false) && kvShared;
    return Object.freeze({ type, headDim: hd, numKvHeads: kv, intermediateSize: r.int('intermediate_size', 9216) * (dw ? 2 : 1), kvShared, kvSource, kEqV });
  });
  for (const l of layers) {
    if (l.kvSource !== null) {
      const s = layers[l.kvSource] as Gemma4Layer;
      if (s.headDim !== l.headDim || s.numKvHeads !== l.numKvHeads) r.fail('num_kv_shared_layers', 'a KV-shared layer must have its source layer\'s head dim and KV heads');
    }
  }

  const rope = readRope(r, layers, headDim);
  const slides = layerTypes.includes('sliding_attention');
  return {
    modelType,
    preNormsOnly: false,
    prefix: modelType === 'gemma4' ? 'model.language_model.' : 'model.',
    vocabSize: r.int('vocab_size', 262144),
    hiddenSize,
    intermediateSize: r.int('intermediate_size', 9216),
    numHiddenLayers: L,
    numAttentionHeads: H,
    numKeyValueHeads: G,
    headDim,
    rmsNormEps: r.num('rms_norm_eps', 1e-6),
    hiddenActivation: readActivation(r),
    // Gemma 4 scales attention scores by 1.0 (q/k norms stand in for 1/sqrt(d)).
    queryPreAttnScalar: 1,
    attnLogitSoftcapping: null,
    finalLogitSoftcapping: r.numOrNull('final_logit_softcapping', null),
    slidingWindow: slides ? slidingWindowStored : null,
    bidirectionalWindow: slides ? Math.floor(slidingWindowStored / 2) + 1 : null,
    layerTypes: Object.freeze(layerTypes),
    rope,
    qkNorm: true,
    sandwichNorms: true,
    attentionDropout: r.num('attention_dropout', 0, (x) => x >= 0 && x < 1, 'in [0, 1)'),
    initializerRange: r.num('initializer_range', 0.02),
    padTokenId: r.int('pad_token_id', 0, 0),
    bosTokenId: r.int('bos_token_id', 2, 0),
    eosTokenId: readEos(r),
    maxPositionEmbeddings: r.int('max_position_embeddings', 131072),
    tieWordEmbeddings,
    useBidirectionalAttention,
    globalHeadDim,
    numGlobalKeyValueHeads,
    attentionKEqV,
    numKvSharedLayers,
    hiddenSizePerLayerInput: P,
    vocabSizePerLayerInput: r.int('vocab_size_per_layer_input', 262144),
    useDoubleWideMlp: r.bool('use_double_wide_mlp', false),
    enableMoeBlock,
    numExperts,
    topKExperts,
    moeIntermediateSize,
    layers: Object.freeze(layers),
    multimodalTokens: multimodalTokens && Object.freeze(multimodalTokens),
    dtype,
    sourcePath,
  };
}

/** `per_layer_config`: {layer index: {head_dim?, num_key_value_heads?}} as newer transformers save it. */
function readPerLayerConfig(r: ConfigReader, L: number): Map<number, { headDim?: number; numKvHeads?: number }> {
  const out = new Map<number, { headDim?: number; numKvHeads?: number }>();
  const v = r.json.per_layer_config;
  if (v === undefined || v === null) return out;
  if (typeof v !== 'object' || Array.isArray(v)) r.fail('per_layer_config', 'must be an object keyed by layer index');
  for (const [k, o] of Object.entries(v as Record<string, unknown>)) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0 || i >= L) r.fail(`per_layer_config.${k}`, `is not a layer index in [0, ${L})`);
    if (typeof o !== 'object' || o === null || Array.isArray(o)) r.fail(`per_layer_config.${k}`, 'must be an object');
    const sub = new ConfigReader(o as Record<string, unknown>, r.file, `${r.prefix}per_layer_config.${k}.`);
    sub.rejectUnknown(['head_dim', 'num_key_value_heads']);
    out.set(i, { ...(sub.has('head_dim') ? { headDim: sub.int('head_dim') } : {}), ...(sub.has('num_key_value_heads') ? { numKvHeads: sub.int('num_key_value_heads') } : {}) });
  }
  return out;
}

const DEFAULT_ROPE: Readonly<Record<LayerType, Record<string, unknown>>> = {
  sliding_attention: { rope_type: 'default', rope_theta: 10_000 },
  full_attention: { rope_type: 'proportional', partial_rotary_factor: 0.25, rope_theta: 1_000_000 },
};

function readRope(r: ConfigReader, layers: readonly Gemma4Layer[], headDim: number): Readonly<Record<LayerType, Gemma4Rope>> {
  const v = r.json.rope_parameters ?? DEFAULT_ROPE;
  if (typeof v !== 'object' || Array.isArray(v)) r.fail('rope_parameters', 'must be an object keyed by layer type');
  const p = v as Record<string, unknown>;
  for (const k of Object.keys(p)) if (!(LAYER_TYPES as readonly string[]).includes(k)) r.fail(`rope_parameters.${k}`, 'unknown layer type (Gemma 4 keys RoPE by layer type)');
  const out = {} as Record<LayerType, Gemma4Rope>;
  for (const t of LAYER_TYPES) {
    const used = layers.filter((l) => l.type === t);
    const dims = new Set(used.map((l) => l.headDim));
    const K = used.length > 0 ? (used[0] as Gemma4Layer).headDim : 2;
    const field = `rope_parameters.${t}`;
    const d = p[t];
    if (d === undefined || d === null) {
      if (used.length > 0) r.fail(field, 'is required (a layer of this type exists)');
      out[t] = Object.freeze({ theta: 1e4, linearFactor: 1, ropeType: 'default', partialRotaryFactor: 1, rotatedPairs: 1 });
      continue;
    }
    if (typeof d !== 'object' || Array.isArray(d)) r.fail(field, 'must be an object');
    const sub = new ConfigReader(d as Record<string, unknown>, r.file, `${r.prefix}${field}.`);
    sub.rejectUnknown(['rope_type', 'rope_theta', 'partial_rotary_factor', 'factor']);
    const type = (sub.str('rope_type') ?? 'default') as string;
    if (type !== 'default' && type !== 'proportional') sub.fail('rope_type', `unsupported rope_type '${type}' (Gemma 4 uses default and proportional)`);
    const theta = sub.num('rope_theta');
    const factor = sub.num('factor', 1);
    const prf = sub.num('partial_rotary_factor', 1, (x) => x > 0 && x <= 1, 'in (0, 1]');
    if (dims.size > 1) r.fail(field, `layers of type ${t} have different head dims (${[...dims].join(', ')})`);
    if (type === 'default') {
      // HF's default init builds inv_freq from the *sliding* head_dim; on a wider full layer it would not broadcast.
      if (factor !== 1) sub.fail('factor', 'a factor with rope_type default is not supported');
      if (prf !== 1) sub.fail('partial_rotary_factor', 'is ignored by HF for rope_type default; refusing an ambiguous config');
      if (used.length > 0 && K !== headDim) sub.fail('rope_type', `default RoPE builds head_dim (${headDim}) frequencies; these layers have head dim ${K} (use proportional)`);
      out[t] = Object.freeze({ theta, linearFactor: 1, ropeType: 'default', partialRotaryFactor: 1, rotatedPairs: K / 2 });
    } else {
      // int(f * K // 2) in Python: floor(f * K / 2) for these magnitudes.
      out[t] = Object.freeze({ theta, linearFactor: factor, ropeType: 'proportional', partialRotaryFactor: prf, rotatedPairs: Math.floor(Math.floor(prf * K) / 2) });
    }
  }
  return Object.freeze(out);
}

/** Frequencies of one layer type: inv_freq[j] = theta^(-2j/K) / factor for j < rotatedPairs, else 0 (length K/2). */
export function gemma4InvFreq(rope: Gemma4Rope, headDim: number): Float64Array {
  const inv = new Float64Array(headDim / 2);
  for (let j = 0; j < rope.rotatedPairs && j < headDim / 2; j++) inv[j] = 1 / Math.pow(rope.theta, (2 * j) / headDim) / rope.linearFactor;
  return inv;
}

/** The text config as transformers writes a `gemma4_text` config.json (Gemma4ForCausalLM). */
export function gemma4TextConfigJson(c: Gemma4Config, dtype: string | null = c.dtype): Record<string, unknown> {
  const ropeJson = (t: LayerType): Record<string, unknown> => {
    const x = c.rope[t];
    return x.ropeType === 'default'
      ? { rope_type: 'default', rope_theta: x.theta }
      : { rope_type: 'proportional', partial_rotary_factor: x.partialRotaryFactor, rope_theta: x.theta, ...(x.linearFactor !== 1 ? { factor: x.linearFactor } : {}) };
  };
  const json: Record<string, unknown> = {
    model_type: 'gemma4_text',
    ...stackShapeJson(c),
    global_head_dim: c.globalHeadDim,
    num_global_key_value_heads: c.numGlobalKeyValueHeads,
    hidden_activation: c.hiddenActivation,
    max_position_embeddings: c.maxPositionEmbeddings,
    initializer_range: c.initializerRange,
    rms_norm_eps: c.rmsNormEps,
    pad_token_id: c.padTokenId,
    eos_token_id: c.eosTokenId,
    bos_token_id: c.bosTokenId,
    tie_word_embeddings: c.tieWordEmbeddings,
    rope_parameters: Object.fromEntries(LAYER_TYPES.filter((t) => c.layerTypes.includes(t)).map((t) => [t, ropeJson(t)])),
    attention_bias: false,
    attention_dropout: c.attentionDropout,
    // The stored window is the original W even under "all" (HF halves it on load).
    sliding_window: c.slidingWindow ?? 512,
    layer_types: [...c.layerTypes],
    final_logit_softcapping: c.finalLogitSoftcapping,
    use_bidirectional_attention: c.useBidirectionalAttention,
    vocab_size_per_layer_input: c.vocabSizePerLayerInput,
    hidden_size_per_layer_input: c.hiddenSizePerLayerInput,
    attention_k_eq_v: c.attentionKEqV,
    num_kv_shared_layers: c.numKvSharedLayers,
    enable_moe_block: c.enableMoeBlock,
    use_double_wide_mlp: c.useDoubleWideMlp,
    num_experts: c.numExperts,
    top_k_experts: c.topKExperts,
    moe_intermediate_size: c.moeIntermediateSize,
  };
  if (dtype !== null) json.dtype = dtype;
  return json;
}

/** config.json for saving: the wrapper form for `gemma4` sources (towers absent), the text form otherwise. */
export function gemma4ConfigToJson(c: Gemma4Config, dtype: string | null = c.dtype): Record<string, unknown> {
  const text = gemma4TextConfigJson(c, dtype);
  if (c.modelType === 'gemma4_text') return { architectures: ['Gemma4ForCausalLM'], ...text };
  return {
    architectures: ['Gemma4ForConditionalGeneration'],
    model_type: 'gemma4',
    text_config: text,
    vision_config: null,
    audio_config: null,
    tie_word_embeddings: c.tieWordEmbeddings,
    ...(c.multimodalTokens ?? {}),
    ...(dtype !== null ? { dtype } : {}),
  };
}
