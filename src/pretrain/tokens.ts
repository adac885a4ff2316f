/**
 * Tokenization for pretraining.
 *
 * Vocabulary: the Gemma 3 tokenizer trimmed (src/tokenize/trim.ts) to the `topTokens` most frequent tokens
 * of the training split, plus specials, the 256 byte tokens and the BPE intermediates trim keeps for them.
 * The trim to *every* token used (data/tokenizers/gemma3-corpus) keeps ~87k tokens, which would make the
 * embedding and the softmax most of a "few million parameter" model; text that needs a dropped token is
 * encoded with smaller kept pieces or bytes (lossless).
 *
 * Speed: Gemma's pre-tokenizer does not split (spaces become ▁ first), so BPE would run on a whole
 * document as one word. No Gemma 3 token mixes "\n" with other characters, so encoding the text between
 * newline runs separately gives the same ids (checked by `assertNewlineSafe` and tested).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { throwIfAborted, type RunControl } from '../progress/index.js';
import { tokenizerFromJson, type Tokenizer } from '../tokenize/index.js';
import { trimTokenizer, type TokenizerFiles, type TrimResult } from '../tokenize/trim.js';
import { StreamBuilder } from './pack.js';

/** Throws unless no token contains a newline next to another character (what `encodeDocument` relies on). */
export function assertNewlineSafe(files: TokenizerFiles, source: string): void {
  const model = files.tokenizerJson['model'] as { vocab?: Record<string, number> } | undefined;
  const added = (files.tokenizerJson['added_tokens'] as { content: string }[] | undefined) ?? [];
  const texts = [...Object.keys(model?.vocab ?? {}), ...added.map((a) => a.content)];
  const bad = texts.find((t) => t.includes('\n') && /[^\n]/.test(t));
  if (bad !== undefined) throw new ConfigError(`token ${JSON.stringify(bad)} mixes a newline with other characters; per-line encoding would not be exact`, source, 'model.vocab');
}

/** Token ids of a document (no specials), encoding the pieces between newline runs separately. */
export function encodeDocument(tok: Tokenizer, text: string): number[] {
  const out: number[] = [];
  for (const piece of text.split(/(\n+)/)) if (piece !== '') for (const id of tok.encode(piece, { addBos: false })) out.push(id);
  return out;
}

export interface CorpusTokenizer {
  readonly trim: TrimResult;
  readonly tokenizer: Tokenizer;
  /** Base-tokenizer tokens counted, and how many distinct ones occurred. */
  readonly counted: { readonly tokens: number; readonly distinct: number; readonly keptByFrequency: number };
}

/**
 * Counts base-tokenizer tokens over `texts` and trims the base to the `topTokens` most frequent
 * (ties: lower id first) plus what trimming always keeps.
 */
export async function buildCorpusTokenizer(base: TokenizerFiles, texts: AsyncIterable<string> | Iterable<string>, o: { topTokens: number } & RunControl): Promise<CorpusTokenizer> {
  if (!Number.isInteger(o.topTokens) || o.topTokens < 1) throw new ConfigError(`must be a positive integer, got ${o.topTokens}`, undefined, 'topTokens');
  assertNewlineSafe(base, 'base tokenizer.json');
  const baseTok = tokenizerFromJson(base.tokenizerJson, base.config, { eos: ['<eos>'] }, 'base tokenizer.json');
  const counts = new Float64Array(baseTok.vocabSize);
  let tokens = 0;
  let n = 0;
  for await (const text of texts) {
    throwIfAborted(o.signal, n);
    for (const id of encodeDocument(baseTok, text)) counts[id] = (counts[id] as number) + 1;
    n += 1;
    o.onProgress?.({ phase: 'tokenizer:count', done: n });
  }
  const used: number[] = [];
  counts.forEach((c, id) => {
    if (c > 0) used.push(id);
    tokens += c;
  });
  used.sort((a, b) => (counts[b] as number) - (counts[a] as number) || a - b);
  const top = used.slice(0, o.topTokens);
  const keepTokens = top.map((id) => baseTok.idToToken(id) as string);
  const trim = trimTokenizer(base, [], { keepTokens });
  const tokenizer = tokenizerFromJson(trim.tokenizerJson, trim.config, undefined, 'trimmed corpus tokenizer');
  return { trim, tokenizer, counted: { tokens, distinct: used.length, keptByFrequency: top.length } };
}

export const sha256Hex = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** Bumped whenever document normalisation or stream layout changes, so old caches are rebuilt. */
export const STREAM_FORMAT = 1;

interface StreamMeta {
  readonly key: string;
  readonly docs: number;
  readonly tokens: number;
  readonly sha256: string;
}

/**
 * The `bos d eos ...` stream of `docs`, cached in `file` (+ `file.json` with the cache key). A cache whose
 * key differs (other tokenizer, corpus or format) or whose bytes do not hash to the recorded value is rebuilt.
 */
export async function cachedStream(
  file: string,
  key: string,
  docs: () => AsyncIterable<string>,
  tok: Tokenizer,
  o: RunControl & { phase?: string } = {},
): Promise<{ stream: Int32Array; docs: number; cached: boolean }> {
  const meta = await readFile(`${file}.json`, 'utf8').then((s) => JSON.parse(s) as StreamMeta).catch(() => null);
  if (meta && meta.key === key) {
    const bytes = await readFile(file).catch(() => null);
    if (bytes && sha256Hex(bytes) === meta.sha256 && bytes.byteLength === meta.tokens * 4) {
      return { stream: new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), docs: meta.docs, cached: true };
    }
  }
  const b = new StreamBuilder(tok);
  for await (const text of docs()) {
    throwIfAborted(o.signal, b.docs);
    b.push(encodeDocument(tok, text));
    o.onProgress?.({ phase: o.phase ?? 'tokenize', done: b.docs });
  }
  const stream = b.finish();
  const bytes = new Uint8Array(stream.buffer, stream.byteOffset, stream.byteLength);
  await writeFileAtomic(file, bytes);
  await writeJsonAtomic(`${file}.json`, { key, docs: b.docs, tokens: stream.length, sha256: sha256Hex(bytes) } satisfies StreamMeta);
  return { stream, docs: b.docs, cached: false };
}
