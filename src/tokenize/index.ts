/**
 * Tokenizers: a checkpoint's `tokenizer.json` run by `@huggingface/tokenizers`, or by default the Gemma 3
 * tokenizer kept brotli-compressed in `data/tokenizers/gemma3/` (run by the same library, so there is one
 * code path). Batches are padded on the RIGHT with the pad id (docs/conventions.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ConfigError } from '../errors.js';
import { REPO_ROOT } from '../io/paths.js';
import { padRight, type PaddedBatch } from './batch.js';

export interface EncodeOptions {
  /** Prepend the BOS token (default true, as Gemma's post-processor does). */
  readonly addBos?: boolean;
  /** Append the EOS token (default false). */
  readonly addEos?: boolean;
}

export interface Tokenizer {
  encode(text: string, opts?: EncodeOptions): number[];
  /** Decodes ids to text; special tokens (pad, bos, eos, ...) are skipped. */
  decode(ids: readonly number[]): string;
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  tokenToId(tok: string): number | undefined;
  idToToken(id: number): string | undefined;
}

/**
 * Folder holding the default Gemma 3 tokenizer: Google's `tokenizer.json` + `tokenizer_config.json`,
 * brotli-compressed (3.5 MB instead of 34 MB; see its README for provenance and terms).
 */
export function defaultGemma3TokenizerDir(): string {
  return join(REPO_ROOT, 'data', 'tokenizers', 'gemma3');
}

/**
 * Reads the JSON object `dir/name`, or else its brotli-compressed copy `dir/name.br`;
 * undefined when neither exists.
 */
export function readTokenizerJson(dir: string, name: string): Record<string, unknown> | undefined {
  const plain = join(dir, name);
  const file = existsSync(plain) ? plain : existsSync(`${plain}.br`) ? `${plain}.br` : undefined;
  if (file === undefined) return undefined;
  let parsed: unknown;
  try {
    const bytes = readFileSync(file);
    parsed = JSON.parse((file === plain ? bytes : brotliDecompressSync(bytes)).toString('utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read tokenizer file: ${(err as Error).message}`, file, undefined, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError('expected a JSON object', file);
  return parsed as Record<string, unknown>;
}

/** A special token's text from tokenizer_config.json: either a string or an AddedToken object. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

export interface SpecialNames {
  readonly pad: readonly string[];
  readonly bos: readonly string[];
  readonly eos: readonly string[];
}

/**
 * Wraps an `@huggingface/tokenizers` tokenizer built from parsed JSON. `specials` lists candidate token texts,
 * first found wins.
 */
export function tokenizerFromJson(tokenizerJson: Record<string, unknown>, config: Record<string, unknown>, specials?: Partial<SpecialNames>, source = '<tokenizer.json>'): Tokenizer {
  const tok = new HfTokenizer(tokenizerJson, config);
  const pick = (field: 'pad' | 'bos' | 'eos', fallbacks: string[]): number => {
    const names = [...(specials?.[field] ?? []), tokenText(config[`${field}_token`]), ...fallbacks].filter((s): s is string => s !== undefined);
    for (const n of names) {
      const id = tok.token_to_id(n);
      if (id !== undefined) return id;
    }
    throw new ConfigError(`no ${field} token found (tried ${names.join(', ')})`, source, `${field}_token`);
  };
  const padId = pick('pad', ['<pad>']);
  const bosId = pick('bos', ['<bos>', '<s>']);
  const eosId = pick('eos', ['<eos>', '</s>']);
  const vocab = tok.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const vocabSize = maxId + 1;
  return {
    vocabSize,
    padId,
    bosId,
    eosId,
    encode(text, opts) {
      // Specials are added here rather than by the post-processor, so addBos/addEos mean the same for every tokenizer.
      const ids = tok.encode(text, { add_special_tokens: false }).ids;
      if (opts?.addBos ?? true) ids.unshift(bosId);
      if (opts?.addEos) ids.push(eosId);
      return ids;
    },
    decode(ids) {
      return tok.decode([...ids], { skip_special_tokens: true });
    },
    tokenToId: (t) => tok.token_to_id(t),
    idToToken: (id) => tok.id_to_token(id),
  };
}

const cache = new Map<string, Tokenizer>();

/**
 * Loads `dir/tokenizer.json` (+ `tokenizer_config.json` when present; either may be `.br`-compressed);
 * without `dir`, the Gemma 3 tokenizer.
 * For the default, EOS is `<eos>` (id 1, the pretrained models' `eos_token_id`), not the chat model's
 * `<end_of_turn>` that the packaged tokenizer_config names. Loaded tokenizers are cached per folder.
 */
export function loadTokenizer(dir?: string): Tokenizer {
  const folder = resolve(dir ?? defaultGemma3TokenizerDir());
  const hit = cache.get(folder);
  if (hit) return hit;
  const json = readTokenizerJson(folder, 'tokenizer.json');
  if (!json) throw new ConfigError('no tokenizer.json in this folder', folder);
  const config = readTokenizerJson(folder, 'tokenizer_config.json') ?? {};
  const specials = dir === undefined ? { eos: ['<eos>'] } : undefined;
  const t = tokenizerFromJson(json, config, specials, join(folder, 'tokenizer.json'));
  cache.set(folder, t);
  return t;
}

export interface BatchOptions {
  /** Rows are cut (truncation) or rejected to this many ids, specials included. */
  readonly maxLength: number;
  readonly addBos?: boolean;
  readonly addEos?: boolean;
  /** Cut over-long rows (default true); false throws instead. Pairs lose tokens from the longer side first. */
  readonly truncation?: boolean;
  /** Pad every row to maxLength rather than to the longest row (default false). */
  readonly padToMax?: boolean;
}

export { batchFromRows, batchRows, padRight, rowIds, selectRows, type Labelled, type PaddedBatch } from './batch.js';

/**
 * Encodes texts or text pairs into a right-padded batch. A pair is `bos a eos b [eos]`: the two segments are
 * separated by EOS (Gemma has no SEP token; the encoder recipe joins segments the same way).
 */
export function encodeBatch(tok: Tokenizer, texts: readonly string[] | readonly (readonly [string, string])[], opts: BatchOptions): PaddedBatch {
  const addBos = opts.addBos ?? true;
  const truncation = opts.truncation ?? true;
  if (!Number.isInteger(opts.maxLength) || opts.maxLength < 1) throw new ConfigError(`maxLength must be a positive integer, got ${opts.maxLength}`, undefined, 'maxLength');
  const rows = texts.map((item, row) => {
    const head = addBos ? [tok.bosId] : [];
    const tail = opts.addEos ? [tok.eosId] : [];
    if (typeof item === 'string') {
      let body = tok.encode(item, { addBos: false });
      const room = opts.maxLength - head.length - tail.length;
      if (body.length > room) {
        if (!truncation) throw new ConfigError(`row ${row} has ${body.length + head.length + tail.length} tokens > maxLength ${opts.maxLength}`, undefined, 'maxLength');
        body = body.slice(0, Math.max(0, room));
      }
      return [...head, ...body, ...tail].slice(0, opts.maxLength);
    }
    let a = tok.encode(item[0], { addBos: false });
    let b = tok.encode(item[1], { addBos: false });
    const room = opts.maxLength - head.length - 1 - tail.length;
    if (a.length + b.length > room) {
      if (!truncation) throw new ConfigError(`row ${row} has ${a.length + b.length + head.length + 1 + tail.length} tokens > maxLength ${opts.maxLength}`, undefined, 'maxLength');
      // "longest_first": drop one token at a time from the longer segment.
      let la = a.length;
      let lb = b.length;
      while (la + lb > Math.max(0, room)) {
        if (la >= lb) la--;
        else lb--;
      }
      a = a.slice(0, la);
      b = b.slice(0, lb);
    }
    return [...head, ...a, tok.eosId, ...b, ...tail].slice(0, opts.maxLength);
  });
  return padRight(rows, tok.padId, opts.maxLength, opts.padToMax ? opts.maxLength : 1);
}
