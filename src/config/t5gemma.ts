/**
 * T5Gemma `config.json` (model_type "t5gemma", sub-configs "t5_gemma_module") -> typed, validated,
 * frozen plain object (models.md §1.4).
 *
 * HF semantics kept on purpose (a config HF loads one way loads the same way here):
 * - The top-level `vocab_size` (HF default 256000) overrides both sub-configs, as do the top-level
 *   `dropout_rate` and `attention_dropout` (HF `T5GemmaConfig.__setattr__` pushes them down).
 * - `decoder.cross_attention_hidden_size` is the encoder's hidden size (HF sets it); a file that says
 *   otherwise is inconsistent and rejected.
 * - The output softcap is the decoder sub-config's `final_logit_softcapping`.
 * - Top-level special ids default to the decoder's.
 * Each module is a Gemma 2-style stack parsed by the shared `parseGemmaStack`.
 */
import { ConfigError } from '../errors.js';
import { checkConfigSizes } from './bounds.js';
import { ConfigReader, GEMMA_READ_KEYS, type GemmaStackConfig, type ParseOptions, parseGemmaStack, readDtype, readEos } from './gemma.js';
import { asObject, moduleStackJson, SEQ2SEQ_TOP_KEYS, sortKeys, topJson } from './seq2seq.js';

export interface T5GemmaModuleConfig extends GemmaStackConfig {
  /** Dropout on embeddings, sub-block outputs, MLP hidden and final output (HF `dropout_rate`). */
  readonly dropoutRate: number;
}

export interface T5GemmaDecoderConfig extends T5GemmaModuleConfig {
  /** Input width of cross-attention k/v projections = encoder hidden size. */
  readonly crossAttentionHiddenSize: number;
}

export interface T5GemmaConfig {
  readonly modelType: 't5gemma';
  readonly encoder: T5GemmaModuleConfig;
  readonly decoder: T5GemmaDecoderConfig;
  /** V (shared by both embedding tables and the LM head). */
  readonly vocabSize: number;
  readonly isEncoderDecoder: boolean;
  readonly dropoutRate: number;
  readonly attentionDropout: number;
  /** Dropout before the classification head (HF `classifier_dropout_rate`). */
  readonly classifierDropoutRate: number;
  /** LM head = decoder embedding table (`lm_head.out_proj.weight` absent or equal). */
  readonly tieWordEmbeddings: boolean;
  readonly padTokenId: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly initializerRange: number;
  readonly dtype: string | null;
  readonly sourcePath: string;
}


/** Keys of a t5_gemma_module sub-config that parseGemmaStack reads (a Gemma 2 stack) or this parser checks. */
const MODULE_KEYS = [
  ...GEMMA_READ_KEYS.gemma2,
  'sliding_window_size',
  'is_decoder',
  'dropout_rate',
  'cross_attention_hidden_size',
  // HF copies the top-level head dropout into saved sub-configs; only the top-level value is used.
  'classifier_dropout_rate',
  // gemma-lab's T5Gemma built from Gemma 3 (docs/t5gemma2.md): q/k norms and a local RoPE base.
  'qk_norm',
  'rope_local_base_freq',
];

function parseModule(
  raw: Record<string, unknown>,
  side: 'encoder' | 'decoder',
  top: { vocabSize: number; dropoutRate: number; attentionDropout: number },
  file: string,
  opts: ParseOptions,
): GemmaStackConfig {
  const r = new ConfigReader(raw, file, `${side}.`);
  r.rejectUnknown(MODULE_KEYS, opts.ignoreKeys);
  const mt = r.str('model_type');
  if (mt !== null && mt !== 't5_gemma_module') r.fail('model_type', `expected 't5_gemma_module', got '${mt}'`);
  if (r.has('is_decoder') && r.bool('is_decoder', side === 'decoder') !== (side === 'decoder'))
    r.fail('is_decoder', `must be ${side === 'decoder'} for the ${side}`);
  if (side === 'encoder' && r.has('cross_attention_hidden_size')) r.fail('cross_attention_hidden_size', 'the encoder has no cross-attention');
  // HF pushes the top-level values into both modules before anything reads them.
  const merged = new ConfigReader(
    { ...raw, vocab_size: top.vocabSize, attention_dropout: top.attentionDropout, dropout_rate: top.dropoutRate },
    file,
    `${side}.`,
  );
  // `qk_norm: true` marks Gemma 3 blocks (q/k norm, local/global RoPE, no softcap defaults).
  return parseGemmaStack(merged, r.bool('qk_norm', false) ? 'gemma3_text' : 'gemma2_module');
}

/** Validates a T5Gemma config.json (already JSON-parsed). */
export function parseT5GemmaConfig(json: unknown, sourcePath: string, opts: ParseOptions = {}): T5GemmaConfig {
  const obj = asObject(json, sourcePath, '');
  checkConfigSizes(obj, sourcePath);
  const r = new ConfigReader(obj, sourcePath);
  if (r.str('model_type') !== 't5gemma') r.fail('model_type', `expected 't5gemma', got ${JSON.stringify(obj.model_type)}`);
  r.rejectUnknown(SEQ2SEQ_TOP_KEYS, opts.ignoreKeys);
  const rate = (key: string): number => r.num(key, 0, (x) => x >= 0 && x < 1, 'in [0, 1)');
  const top = { vocabSize: r.int('vocab_size', 256000), dropoutRate: rate('dropout_rate'), attentionDropout: rate('attention_dropout') };
  if (!r.has('encoder')) r.fail('encoder', 'is required');
  const encRaw = asObject(obj.encoder, sourcePath, 'encoder');
  // HF: a missing decoder is a copy of the encoder config.
  const decRaw = r.has('decoder') ? asObject(obj.decoder, sourcePath, 'decoder') : { ...encRaw, is_decoder: true };
  const encoder = parseModule(encRaw, 'encoder', top, sourcePath, opts);
  const decoderStack = parseModule(decRaw, 'decoder', top, sourcePath, opts);
  const dr = new ConfigReader(decRaw, sourcePath, 'decoder.');
  const cross = dr.int('cross_attention_hidden_size', encoder.hiddenSize);
  if (cross !== encoder.hiddenSize)
    dr.fail('cross_attention_hidden_size', `must equal encoder.hidden_size (${encoder.hiddenSize}), got ${cross}`);
  const decoder: T5GemmaDecoderConfig = Object.freeze({ ...decoderStack, dropoutRate: top.dropoutRate, crossAttentionHiddenSize: cross });
  return Object.freeze({
    modelType: 't5gemma',
    encoder: Object.freeze({ ...encoder, dropoutRate: top.dropoutRate }),
    decoder,
    vocabSize: top.vocabSize,
    isEncoderDecoder: r.bool('is_encoder_decoder', true),
    dropoutRate: top.dropoutRate,
    attentionDropout: top.attentionDropout,
    classifierDropoutRate: rate('classifier_dropout_rate'),
    tieWordEmbeddings: r.bool('tie_word_embeddings', true),
    padTokenId: r.int('pad_token_id', decoder.padTokenId, 0),
    bosTokenId: r.int('bos_token_id', decoder.bosTokenId, 0),
    eosTokenId: readEos(r, decoder.eosTokenId),
    initializerRange: r.num('initializer_range', decoder.initializerRange),
    dtype: readDtype(r),
    sourcePath,
  });
}

function moduleToJson(m: GemmaStackConfig, c: T5GemmaConfig, isDecoder: boolean): Record<string, unknown> {
  const rope = m.rope.full_attention;
  const local = m.rope.sliding_attention;
  // Gemma 2 modules: one RoPE for every layer; Gemma 3 modules (qk_norm): a local base, never scaled.
  const ok = m.qkNorm ? local.linearFactor === 1 : local.theta === rope.theta && local.linearFactor === rope.linearFactor;
  if (!ok) throw new ConfigError('RoPE per layer type is not expressible in a T5Gemma module config', c.sourcePath, isDecoder ? 'decoder.rope' : 'encoder.rope');
  const json: Record<string, unknown> = { ...moduleStackJson(m, c, 't5_gemma_module'), is_decoder: isDecoder, rope_theta: rope.theta };

  if (isDecoder) json.cross_attention_hidden_size = c.decoder.crossAttentionHiddenSize;
  if (rope.linearFactor !== 1) json.rope_scaling = { factor: rope.linearFactor, rope_type: 'linear' };
  if (m.qkNorm) {
    json.qk_norm = true;
    json.rope_local_base_freq = m.rope.sliding_attention.theta;
  }
  return sortKeys(json);
}

/** The config as transformers 4.57 writes it; `parseT5GemmaConfig(t5gemmaConfigToJson(c))` gives back `c`. */
export function t5gemmaConfigToJson(c: T5GemmaConfig, dtype: string | null = c.dtype): Record<string, unknown> {
  const json: Record<string, unknown> = {
    ...topJson(c),
    architectures: ['T5GemmaForConditionalGeneration'],
    decoder: moduleToJson(c.decoder, c, true),
    encoder: moduleToJson(c.encoder, c, false),
    is_encoder_decoder: c.isEncoderDecoder,
    model_type: 't5gemma',
    tie_word_embeddings: c.tieWordEmbeddings,
  };
  if (dtype !== null) json.dtype = dtype;
  return sortKeys(json);
}
