/**
 * Upper bounds on the sizes a `config.json` declares, checked before anything is sized from them.
 *
 * Why: a crafted config with `num_hidden_layers: 1e9` made the parser build a billion-entry array (out of
 * memory after 17 s); `2**32` threw an untyped RangeError. Every parser runs `checkConfigSizes` on the raw
 * JSON first (it walks nested sub-configs such as `encoder`, `text_config`, `vision_config`), and checks the
 * products that size a single tensor (`vocab_size * hidden_size`, ...) with `checkSizeProduct` once the
 * effective values are known.
 *
 * The limits are far above any released model (largest Gemma 2/3: 62 layers, hidden 5376, intermediate
 * 36864, vocab 262208, 128k positions) and far below what breaks a JS array or typed array.
 */
import { ConfigError } from '../errors.js';

export const CONFIG_SIZE_LIMITS = Object.freeze({
  num_hidden_layers: 1024,
  num_layers: 1024,
  num_decoder_layers: 1024,
  num_encoder_layers: 1024,
  num_attention_heads: 4096,
  num_key_value_heads: 4096,
  head_dim: 8192,
  global_head_dim: 8192,
  hidden_size: 65_536,
  intermediate_size: 1_048_576,
  moe_intermediate_size: 1_048_576,
  vocab_size: 4_194_304,
  max_position_embeddings: 16_777_216,
  sliding_window: 16_777_216,
  num_experts: 65_536,
  num_local_experts: 65_536,
  image_size: 65_536,
  patch_size: 65_536,
  mm_tokens_per_image: 1_048_576,
  sliding_window_pattern: 1024,
  _sliding_window_pattern: 1024,
  cross_attention_hidden_size: 65_536,
  hidden_size_per_layer_input: 65_536,
  vocab_size_per_layer_input: 4_194_304,
  num_kv_shared_layers: 1024,
  num_global_key_value_heads: 4096,
} satisfies Record<string, number>);

export type SizeField = keyof typeof CONFIG_SIZE_LIMITS;

/** Most elements one weight tensor may have (2^33: 16 GiB in bf16; Gemma 3 27B's embedding has 1.4e9). */
export const MAX_TENSOR_ELEMENTS = 2 ** 33;

/** Per-layer lists whose length must not exceed the layer bound (checked before their entries are read). */
const PER_LAYER_LISTS = ['layer_types'];

/** Products of sizes in one config object that give one tensor's element count, with the tensor they size. */
const PRODUCTS: readonly (readonly SizeField[])[] = [
  ['vocab_size', 'hidden_size'], // embedding / LM head
  ['hidden_size', 'intermediate_size'], // MLP projections
  ['num_attention_heads', 'head_dim'], // per-layer q width (then times hidden_size, checked in the parser)
  ['vocab_size_per_layer_input', 'num_hidden_layers', 'hidden_size_per_layer_input'], // Gemma 3n/4 per-layer embeddings
];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks one size: a non-negative safe integer no larger than `limit` (a SizeField names a default limit).
 * Returns the value. `field` is the dotted path reported in the error.
 */
export function checkSize(file: string, field: string, value: unknown, limit: number | SizeField): number {
  const max = typeof limit === 'number' ? limit : CONFIG_SIZE_LIMITS[limit];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ConfigError(`must be a non-negative integer (at most ${max}), got ${JSON.stringify(value) ?? String(value)}`, file, field);
  }
  if (value > max) throw new ConfigError(`${value} is too large: at most ${max} is accepted`, file, field);
  return value;
}

/**
 * The product of `factors` (sizes already checked one by one), refused above `max` elements. `field` names the
 * product, e.g. 'vocab_size*hidden_size'. Returns the product.
 */
export function checkSizeProduct(file: string, field: string, factors: readonly number[], max = MAX_TENSOR_ELEMENTS): number {
  let p = 1;
  for (const f of factors) p *= f;
  if (!(p <= max)) throw new ConfigError(`${factors.join(' x ')} = ${p} elements in one tensor; at most ${max} is accepted`, file, field);
  return p;
}

/**
 * Bounds every known size field in a raw config object and its nested objects (sub-configs), and the
 * single-tensor products within each object (a nested object inherits sizes it does not set from its parent,
 * e.g. T5Gemma's top-level vocab_size). Only sizes are checked; each parser still checks types and
 * consistency. Call it first, before any value is used.
 */
export function checkConfigSizes(json: unknown, file: string, prefix = '', inherited: Readonly<Record<string, number>> = {}, depth = 0): void {
  if (!isObject(json) || depth > 8) return;
  const own: Record<string, number> = {};
  for (const [key, v] of Object.entries(json)) {
    if (Object.hasOwn(CONFIG_SIZE_LIMITS, key)) {
      if (v === null || v === undefined) continue;
      // Non-numbers are left to the parser's type check, which names the expected type.
      if (typeof v !== 'number') continue;
      own[key] = checkSize(file, prefix + key, v, key as SizeField);
    } else if (PER_LAYER_LISTS.includes(key) && Array.isArray(v) && v.length > CONFIG_SIZE_LIMITS.num_hidden_layers) {
      throw new ConfigError(`has ${v.length} entries; at most ${CONFIG_SIZE_LIMITS.num_hidden_layers} layers are accepted`, file, prefix + key);
    }
  }
  const sizes = { ...inherited, ...own };
  for (const fields of PRODUCTS) {
    const values = fields.map((f) => sizes[f]);
    // Report a product only where one of its factors is set (so a parent's error is not repeated per child).
    if (values.every((v) => v !== undefined) && fields.some((f) => f in own)) checkSizeProduct(file, prefix + fields.join('*'), values as number[]);
  }
  for (const [key, v] of Object.entries(json)) {
    if (isObject(v)) checkConfigSizes(v, file, `${prefix}${key}.`, sizes, depth + 1);
  }
}
