/**
 * T5Gemma 2 `config.json` (model_type "t5gemma2") -> typed, validated, frozen plain object.
 *
 * Layout (transformers' T5Gemma2Config, docs/t5gemma2.md):
 * - `encoder` (model_type "t5gemma2_encoder") holds a Gemma 3-style `text_config` ("t5gemma2_text")
 *   plus the vision side (`vision_config`, `mm_tokens_per_image`, `boi/eoi/image_token_index`); we run
 *   text only, so the vision config is kept verbatim (to write it back) and never interpreted.
 * - `decoder` (model_type "t5gemma2_decoder") is a flat Gemma 3-style text config.
 * - Defaults that differ from Gemma 3 text: sliding_window 4096, no softcaps, vocab 262208 in the
 *   module configs (the top-level `vocab_size` defaults to the decoder's), thetas 1e6 global / 1e4 local.
 * - The top-level `dropout_rate` / `attention_dropout` override both modules (HF pushes them down).
 * - Encoder and decoder must have equal widths and vocabularies (HF refuses unbalanced T5Gemma 2).
 * - Embeddings are tied everywhere (encoder input, decoder input, LM head); `eoi_token_index` ids
 *   embed to a learned vector `embed_tokens.eoi_embedding` instead of their table row.
 */
import { checkConfigSizes } from './bounds.js';
import { ConfigError } from '../errors.js';
import { ConfigReader, GEMMA_READ_KEYS, type GemmaStackConfig, type ParseOptions, parseGemmaStack, readDtype } from './gemma.js';
import { asObject, moduleStackJson, SEQ2SEQ_TOP_KEYS, sortKeys, topJson } from './seq2seq.js';

export interface T5Gemma2Config {
  readonly modelType: 't5gemma2';
  /** The encoder's text stack (Gemma 3 blocks; bidirectional at run time). */
  readonly encoder: GemmaStackConfig;
  /** The decoder stack (Gemma 3 blocks; merged self+cross attention). */
  readonly decoder: GemmaStackConfig;
  readonly vocabSize: number;
  /** Token id whose embedding is `embed_tokens.eoi_embedding` (HF default 256000). */
  readonly eoiTokenIndex: number;
  readonly dropoutRate: number;
  readonly attentionDropout: number;
  readonly classifierDropoutRate: number;
  readonly padTokenId: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly initializerRange: number;
  readonly dtype: string | null;
  /** Vision-side encoder keys, kept verbatim so a saved config still describes the checkpoint's vision tower. */
  readonly encoderVision: Readonly<Record<string, unknown>>;
  /** Top-level `image_token_index`, kept verbatim. */
  readonly imageTokenIndex: number;
  readonly sourcePath: string;
}

const TOP_KEYS = [...SEQ2SEQ_TOP_KEYS, 'image_token_index', 'eoi_token_index'];

/** Encoder keys about images: they change nothing a text-only forward computes. */
const ENCODER_VISION_KEYS = ['vision_config', 'mm_tokens_per_image', 'boi_token_index', 'image_token_index'];
const ENCODER_KEYS = ['model_type', 'text_config', 'eoi_token_index', 'initializer_range', 'tie_word_embeddings', 'dtype', 'torch_dtype', ...ENCODER_VISION_KEYS];

/** Gemma 3 text keys, plus what HF writes into T5Gemma 2 module configs. */
const MODULE_KEYS = [
  ...GEMMA_READ_KEYS.gemma3_text,
  'dropout_rate',
  'is_decoder',
  'classifier_dropout_rate',
  'sliding_window_pattern',
  '_sliding_window_pattern',
];

/** The T5Gemma 2 text-module defaults that differ from what parseGemmaStack assumes. */
const MODULE_DEFAULTS: Readonly<Record<string, unknown>> = { vocab_size: 262_208, max_position_embeddings: 131_072, query_pre_attn_scalar: 256 };

function parseModule(raw: Record<string, unknown>, field: string, expectType: string, top: Record<string, unknown>, file: string, opts: ParseOptions): GemmaStackConfig {
  const r = new ConfigReader(raw, file, `${field}.`);
  r.rejectUnknown(MODULE_KEYS, opts.ignoreKeys);
  const mt = r.str('model_type');
  if (mt !== null && mt !== expectType) r.fail('model_type', `expected '${expectType}', got '${mt}'`);
  if (r.bool('use_bidirectional_attention', false)) r.fail('use_bidirectional_attention', 'T5Gemma 2 modules set their attention direction themselves; true is not supported');
  const merged = new ConfigReader({ ...MODULE_DEFAULTS, ...raw, model_type: 'gemma3_text', ...top }, file, `${field}.`);
  // Gemma 3 blocks: q/k norm, per-layer-type RoPE, no softcaps by default.
  return parseGemmaStack(merged, 'gemma3_text');
}

/** Validates a T5Gemma 2 config.json (already JSON-parsed). */
export function parseT5Gemma2Config(json: unknown, sourcePath: string, opts: ParseOptions = {}): T5Gemma2Config {
  checkConfigSizes(json, sourcePath);
  const obj = asObject(json, sourcePath, '');
  const r = new ConfigReader(obj, sourcePath);
  if (r.str('model_type') !== 't5gemma2') r.fail('model_type', `expected 't5gemma2', got ${JSON.stringify(obj.model_type)}`);
  r.rejectUnknown(TOP_KEYS, opts.ignoreKeys);
  if (!r.bool('is_encoder_decoder', true)) r.fail('is_encoder_decoder', 'T5Gemma 2 is always an encoder-decoder');
  if (!r.bool('tie_word_embeddings', true)) r.fail('tie_word_embeddings', 'T5Gemma 2 ties every embedding; false is not supported');
  const rate = (key: string): number => r.num(key, 0, (x) => x >= 0 && x < 1, 'in [0, 1)');
  const dropoutRate = rate('dropout_rate');
  const attentionDropout = rate('attention_dropout');

  const encRaw = asObject(obj.encoder ?? {}, sourcePath, 'encoder');
  const er = new ConfigReader(encRaw, sourcePath, 'encoder.');
  er.rejectUnknown(ENCODER_KEYS, opts.ignoreKeys);
  const emt = er.str('model_type');
  if (emt !== null && emt !== 't5gemma2_encoder') er.fail('model_type', `expected 't5gemma2_encoder', got '${emt}'`);
  if (!er.bool('tie_word_embeddings', true)) er.fail('tie_word_embeddings', 'T5Gemma 2 ties every embedding; false is not supported');
  const textRaw = asObject(encRaw.text_config ?? {}, sourcePath, 'encoder.text_config');
  const decRaw = asObject(obj.decoder ?? {}, sourcePath, 'decoder');
  const push = { dropout_rate: dropoutRate, attention_dropout: attentionDropout };
  const encoder = parseModule(textRaw, 'encoder.text_config', 't5gemma2_text', push, sourcePath, opts);
  const decoder = parseModule(decRaw, 'decoder', 't5gemma2_decoder', push, sourcePath, opts);
  if (encoder.hiddenSize !== decoder.hiddenSize)
    r.fail('decoder.hidden_size', `must equal encoder.text_config.hidden_size (${encoder.hiddenSize}); T5Gemma 2 has no unbalanced form, got ${decoder.hiddenSize}`);
  if (encoder.vocabSize !== decoder.vocabSize)
    r.fail('decoder.vocab_size', `must equal encoder.text_config.vocab_size (${encoder.vocabSize}), got ${decoder.vocabSize}`);
  const vocabSize = r.int('vocab_size', decoder.vocabSize);
  if (vocabSize !== decoder.vocabSize) r.fail('vocab_size', `disagrees with decoder.vocab_size (${vocabSize} vs ${decoder.vocabSize})`);
  const eoi = er.int('eoi_token_index', 256_000, 0);
  if (r.has('eoi_token_index') && r.int('eoi_token_index', eoi, 0) !== eoi) r.fail('eoi_token_index', `disagrees with encoder.eoi_token_index (${eoi})`);
  const vision = Object.fromEntries(ENCODER_VISION_KEYS.filter((k) => encRaw[k] !== undefined).map((k) => [k, encRaw[k]]));
  const eos = Array.isArray(obj.eos_token_id) ? ((obj.eos_token_id as unknown[])[0] as unknown) : obj.eos_token_id;
  if (eos !== undefined && !(Number.isInteger(eos) && (eos as number) >= 0)) r.fail('eos_token_id', 'must be a non-negative integer or a non-empty list of them');
  return Object.freeze({
    modelType: 't5gemma2',
    encoder: Object.freeze(encoder),
    decoder: Object.freeze(decoder),
    vocabSize,
    eoiTokenIndex: eoi,
    dropoutRate,
    attentionDropout,
    classifierDropoutRate: rate('classifier_dropout_rate'),
    padTokenId: r.int('pad_token_id', decoder.padTokenId, 0),
    bosTokenId: r.int('bos_token_id', decoder.bosTokenId, 0),
    eosTokenId: (eos as number | undefined) ?? decoder.eosTokenId,
    initializerRange: r.num('initializer_range', 0.02),
    dtype: readDtype(r),
    encoderVision: Object.freeze(vision),
    imageTokenIndex: r.int('image_token_index', 256_001, 0),
    sourcePath,
  });
}

function moduleToJson(m: GemmaStackConfig, c: T5Gemma2Config, modelType: string): Record<string, unknown> {
  const json: Record<string, unknown> = {
    ...moduleStackJson(m, c, modelType),
    rope_parameters: {
      full_attention: ropeJson(m, 'full_attention', c),
      sliding_attention: ropeJson(m, 'sliding_attention', c),
    },
    tie_word_embeddings: true,
  };

  return sortKeys(json);
}

function ropeJson(m: GemmaStackConfig, lt: 'full_attention' | 'sliding_attention', c: T5Gemma2Config): Record<string, unknown> {
  const r = m.rope[lt];
  if (r.linearFactor === 1) return { rope_theta: r.theta, rope_type: 'default' };
  if (lt === 'sliding_attention') throw new ConfigError('sliding layers cannot use scaled RoPE', c.sourcePath, 'rope');
  return { factor: r.linearFactor, rope_theta: r.theta, rope_type: 'linear' };
}

/** The config in transformers' T5Gemma 2 layout; `parseT5Gemma2Config(t5gemma2ConfigToJson(c))` gives back `c`. */
export function t5gemma2ConfigToJson(c: T5Gemma2Config, dtype: string | null = c.dtype): Record<string, unknown> {
  const json: Record<string, unknown> = {
    ...topJson(c),
    architectures: ['T5Gemma2ForConditionalGeneration'],
    decoder: moduleToJson(c.decoder, c, 't5gemma2_decoder'),
    encoder: sortKeys({
      ...c.encoderVision,
      eoi_token_index: c.eoiTokenIndex,
      initializer_range: c.initializerRange,
      model_type: 't5gemma2_encoder',
      text_config: moduleToJson(c.encoder, c, 't5gemma2_text'),
      tie_word_embeddings: true,
    }),
    eoi_token_index: c.eoiTokenIndex,
    image_token_index: c.imageTokenIndex,
    is_encoder_decoder: true,
    model_type: 't5gemma2',
    tie_word_embeddings: true,
  };
  if (dtype !== null) json.dtype = dtype;
  return sortKeys(json);
}
