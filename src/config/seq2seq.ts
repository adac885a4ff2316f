/** What the T5Gemma and T5Gemma 2 configs share: top-level keys, JSON object checks, a module's stack keys on save. */
import { ConfigError } from '../errors.js';
import type { GemmaStackConfig } from './gemma.js';

/** Top-level config.json keys both encoder-decoder families read. */
export const SEQ2SEQ_TOP_KEYS: readonly string[] = [
  'model_type',
  'encoder',
  'decoder',
  'vocab_size',
  'is_encoder_decoder',
  'dropout_rate',
  'classifier_dropout_rate',
  'attention_dropout',
  'tie_word_embeddings',
  'pad_token_id',
  'bos_token_id',
  'eos_token_id',
  'initializer_range',
  'dtype',
  'torch_dtype',
];

/** `v` as a JSON object, or ConfigError(file, field). */
export function asObject(v: unknown, file: string, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError('must be a JSON object', file, field);
  return v as Record<string, unknown>;
}

/** `json` with its keys in code-unit order, as transformers writes config.json. */
export function sortKeys(json: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The keys of a saved module sub-config that describe its Gemma stack (unsorted); the top-level
 * dropout rates and vocabulary are what HF pushes into every module. RoPE keys differ per family.
 */
export function moduleStackJson(
  m: GemmaStackConfig,
  top: { readonly attentionDropout: number; readonly dropoutRate: number; readonly vocabSize: number },
  modelType: string,
): Record<string, unknown> {
  return {
    attention_bias: false,
    attention_dropout: top.attentionDropout,
    attn_logit_softcapping: m.attnLogitSoftcapping,
    bos_token_id: m.bosTokenId,
    dropout_rate: top.dropoutRate,
    eos_token_id: m.eosTokenId,
    final_logit_softcapping: m.finalLogitSoftcapping,
    head_dim: m.headDim,
    hidden_activation: m.hiddenActivation,
    hidden_size: m.hiddenSize,
    initializer_range: m.initializerRange,
    intermediate_size: m.intermediateSize,
    layer_types: [...m.layerTypes],
    max_position_embeddings: m.maxPositionEmbeddings,
    model_type: modelType,
    num_attention_heads: m.numAttentionHeads,
    num_hidden_layers: m.numHiddenLayers,
    num_key_value_heads: m.numKeyValueHeads,
    pad_token_id: m.padTokenId,
    query_pre_attn_scalar: m.queryPreAttnScalar,
    rms_norm_eps: m.rmsNormEps,
    sliding_window: m.slidingWindow ?? 4096,
    use_cache: true,
    vocab_size: top.vocabSize,
  };
}

/** The top-level config fields both families save the same way. */
type TopNumbers = 'attentionDropout' | 'bosTokenId' | 'classifierDropoutRate' | 'dropoutRate' | 'eosTokenId' | 'initializerRange' | 'padTokenId' | 'vocabSize';
/** The top-level config.json keys both families save the same way (unsorted). */
export function topJson(c: Readonly<Record<TopNumbers, number>>): Record<string, unknown> {
  return {
    attention_dropout: c.attentionDropout,
    bos_token_id: c.bosTokenId,
    classifier_dropout_rate: c.classifierDropoutRate,
    dropout_rate: c.dropoutRate,
    eos_token_id: c.eosTokenId,
    initializer_range: c.initializerRange,
    pad_token_id: c.padTokenId,
    use_cache: true,
    vocab_size: c.vocabSize,
  };
}
