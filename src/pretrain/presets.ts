/**
 * Tiny Gemma 2 / 3 decoder configs for pretraining here (a few million parameters, most of them in the
 * embedding). Written as HF config.json values and validated by `parseGemmaConfig`, so the saved model dir
 * is an ordinary Gemma checkpoint.
 */
import { parseGemmaConfig, type GemmaConfig } from '../config/gemma.js';
import { ConfigError } from '../errors.js';

/** The sizes both tiny presets share (they differ in layer pattern, rope and softcaps). */
const TINY_DIMS = {
  hidden_size: 128,
  intermediate_size: 512,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 32,
  query_pre_attn_scalar: 32,
  sliding_window: 64,
} as const;

export const PRESETS = {
  /** Gemma 3: q/k norm, local:global layers 3:1, local rope 1e4 / global 1e6, no softcaps. */
  'gemma3-tiny': {
    model_type: 'gemma3_text',
    ...TINY_DIMS,
    layer_types: ['sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention'],
    rope_theta: 1_000_000,
    rope_local_base_freq: 10_000,
    attn_logit_softcapping: null,
    final_logit_softcapping: null,
  },
  /** Gemma 2: alternating local/global layers, attention and final logit softcaps. */
  'gemma2-tiny': {
    model_type: 'gemma2',
    ...TINY_DIMS,
    layer_types: ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'],
    rope_theta: 10_000,
    attn_logit_softcapping: 50,
    final_logit_softcapping: 30,
  },
  /** A wider Gemma 3 (for longer runs than this machine allows in minutes). */
  'gemma3-small': {
    model_type: 'gemma3_text',
    hidden_size: 256,
    intermediate_size: 1024,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 64,
    query_pre_attn_scalar: 64,
    sliding_window: 128,
    layer_types: ['sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention'],
    rope_theta: 1_000_000,
    rope_local_base_freq: 10_000,
    attn_logit_softcapping: null,
    final_logit_softcapping: null,
  },
} as const satisfies Record<string, Record<string, unknown>>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export function isPresetName(s: string): s is PresetName {
  return Object.hasOwn(PRESETS, s);
}

/** The preset as a validated config for a tokenizer's vocabulary and special ids. */
export function presetConfig(
  name: string,
  tok: { readonly vocabSize: number; readonly padId: number; readonly bosId: number; readonly eosId: number },
  maxPositions: number,
): GemmaConfig {
  if (!isPresetName(name)) throw new ConfigError(`unknown preset '${name}' (known: ${PRESET_NAMES.join(', ')})`, undefined, 'config');
  return parseGemmaConfig(
    {
      ...PRESETS[name],
      layer_types: [...PRESETS[name].layer_types],
      vocab_size: tok.vocabSize,
      pad_token_id: tok.padId,
      bos_token_id: tok.bosId,
      eos_token_id: tok.eosId,
      rms_norm_eps: 1e-6,
      hidden_activation: 'gelu_pytorch_tanh',
      initializer_range: 0.02,
      attention_dropout: 0,
      tie_word_embeddings: true,
      max_position_embeddings: maxPositions,
      dtype: 'float32',
    },
    `preset ${name}`,
  );
}
