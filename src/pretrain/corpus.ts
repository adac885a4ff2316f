/**
 * The pretraining corpus (../shared/data/corpus): MANIFEST.tsv says which file belongs to which split
 * (`train` / `heldout` / `readme`) and which source (`wikipedia` / `bbc` / `books`) it is; this module turns
 * the files of a split into plain-text documents, one at a time, in manifest path order.
 *
 * Normalisation (SOURCES.md "Format notes"): every document is its paragraphs joined by "\n".
 * - wikipedia: one document per `<doc ...>` ... `</doc>` article, wrapper lines dropped, title line kept.
 * - bbc: one document per file (headline, then the paragraphs); blank lines dropped.
 * - books: one document per file; CRLF normalised, hard-wrapped lines re-joined into paragraphs.
 * Memory: one file is read at a time (all are < 4 MiB); documents are yielded as they are cut.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DataFileError } from '../errors.js';
import { throwIfAborted, type RunControl } from '../progress/index.js';

export type CorpusSplit = 'train' | 'heldout' | 'readme';
export type CorpusSource = 'wikipedia' | 'bbc' | 'books';
export const CORPUS_SOURCES: readonly CorpusSource[] = ['wikipedia', 'bbc', 'books'];

export interface ManifestEntry {
  /** Path relative to the corpus folder. */
  readonly file: string;
  readonly split: CorpusSplit;
  readonly source: CorpusSource;
  readonly bytes: number;
  readonly sha256: string;
  /** 1-based line in MANIFEST.tsv (for error messages). */
  readonly line: number;
}

export interface CorpusDocument {
  readonly file: string;
  readonly source: CorpusSource;
  /** 0-based index of the document inside its file. */
  readonly index: number;
  readonly text: string;
}

const COLUMNS = ['file', 'split', 'source', 'bytes', 'sha256'] as const;
const SPLITS: readonly CorpusSplit[] = ['train', 'heldout', 'readme'];

/** Parses MANIFEST.tsv (header row names the columns; extra columns are ignored). Sorted by file path. */
export function parseManifest(tsv: string, path: string): ManifestEntry[] {
  const lines = tsv.split('\n');
  const head = (lines[0] ?? '').replace(/\r$/, '').split('\t');
  const col = Object.fromEntries(
    COLUMNS.map((c) => {
      const i = head.indexOf(c);
      if (i < 0) throw new DataFileError(`header lacks column '${c}' (has ${head.join(', ')})`, path, 1);
      return [c, i];
    }),
  ) as Record<(typeof COLUMNS)[number], number>;
  const out: ManifestEntry[] = [];
  const seen = new Set<string>();
  lines.slice(1).forEach((raw, i) => {
    const line = i + 2;
    const row = raw.replace(/\r$/, '');
    if (row === '') return;
    const cells = row.split('\t');
    if (cells.length !== head.length) throw new DataFileError(`${cells.length} fields, header has ${head.length}`, path, line);
    const get = (c: (typeof COLUMNS)[number]) => cells[col[c]] as string;
    const split = get('split');
    const source = get('source');
    const bytes = Number(get('bytes'));
    const file = get('file');
    if (!(SPLITS as readonly string[]).includes(split)) throw new DataFileError(`split '${split}' is not one of ${SPLITS.join(', ')}`, path, line);
    if (!(CORPUS_SOURCES as readonly string[]).includes(source)) throw new DataFileError(`source '${source}' is not one of ${CORPUS_SOURCES.join(', ')}`, path, line);
    if (!Number.isInteger(bytes) || bytes < 0) throw new DataFileError(`bytes '${get('bytes')}' is not a size`, path, line);
    if (!/^[0-9a-f]{64}$/.test(get('sha256'))) throw new DataFileError(`sha256 '${get('sha256')}' is not 64 hex digits`, path, line);
    if (file === '' || file.startsWith('/') || file.split('/').includes('..')) throw new DataFileError(`file '${file}' is not a relative path inside the corpus`, path, line);
    if (seen.has(file)) throw new DataFileError(`file '${file}' listed twice`, path, line);
    seen.add(file);
    out.push({ file, split: split as CorpusSplit, source: source as CorpusSource, bytes, sha256: get('sha256'), line });
  });
  return out.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

export async function readManifest(corpusDir: string): Promise<ManifestEntry[]> {
  const path = join(corpusDir, 'MANIFEST.tsv');
  const text = await readFile(path, 'utf8').catch((err: unknown) => {
    throw new DataFileError(`cannot read: ${(err as Error).message}`, path, undefined, { cause: err });
  });
  return parseManifest(text, path);
}

export interface ReadOptions extends RunControl {
  /** 'size' (default) checks each file's byte count against the manifest; 'sha256' also hashes it. */
  readonly verify?: 'none' | 'size' | 'sha256';
  /** Only these sources (default all). */
  readonly sources?: readonly CorpusSource[];
}

/** The manifest entries of a split, in path order. */
export async function splitEntries(corpusDir: string, split: CorpusSplit, sources?: readonly CorpusSource[]): Promise<ManifestEntry[]> {
  return (await readManifest(corpusDir)).filter((e) => e.split === split && (!sources || sources.includes(e.source)));
}

/** Reads one listed file, checked against the manifest. */
export async function readEntry(corpusDir: string, e: ManifestEntry, verify: ReadOptions['verify'] = 'size'): Promise<Uint8Array> {
  const path = join(corpusDir, e.file);
  if (verify !== 'none') {
    const st = await stat(path).catch((err: unknown) => {
      throw new DataFileError(`listed in MANIFEST.tsv (line ${e.line}) but cannot be read: ${(err as Error).message}`, path, undefined, { cause: err });
    });
    if (st.size !== e.bytes) throw new DataFileError(`${st.size} bytes, MANIFEST.tsv line ${e.line} says ${e.bytes}`, path);
  }
  const bytes = await readFile(path);
  if (verify === 'sha256') {
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== e.sha256) throw new DataFileError(`sha256 ${got} differs from MANIFEST.tsv line ${e.line} (${e.sha256})`, path);
  }
  return bytes;
}

/**
 * UTF-8, except that a byte that does not start a valid UTF-8 sequence is read as Latin-1
 * (bbc/sport/199.txt has one 0xA3 `£`); plain replacement would lose the character.
 */
export function decodeUtf8Lenient(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const strict = new TextDecoder('utf-8', { fatal: true });
    let out = '';
    let i = 0;
    while (i < bytes.length) {
      const b = bytes[i] as number;
      const n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
      if (n > 0 && i + n <= bytes.length) {
        try {
          out += strict.decode(bytes.subarray(i, i + n));
          i += n;
          continue;
        } catch {
          // not a valid sequence: fall through to Latin-1
        }
      }
      out += String.fromCharCode(b);
      i += 1;
    }
    return out;
  }
}

const paragraphs = (lines: readonly string[]): string[] => lines.map((l) => l.trim()).filter((l) => l !== '');

/** Wikipedia (WikiExtractor) shard -> one document per article; a malformed wrapper is a DataFileError. */
export function wikipediaDocuments(text: string, file: string): string[] {
  const docs: string[] = [];
  let body: string[] | null = null;
  let openLine = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith('<doc ') || line === '<doc>') {
      if (body) throw new DataFileError(`<doc> opened at line ${openLine} is not closed before a new one`, file, i + 1);
      body = [];
      openLine = i + 1;
    } else if (line === '</doc>') {
      if (!body) throw new DataFileError('</doc> without an open <doc>', file, i + 1);
      const doc = paragraphs(body).join('\n');
      if (doc !== '') docs.push(doc);
      body = null;
    } else if (body) body.push(line);
    else if (line.trim() !== '') throw new DataFileError('text outside a <doc> ... </doc> article', file, i + 1);
  });
  if (body) throw new DataFileError(`<doc> opened at line ${openLine} is never closed`, file);
  return docs;
}

/** BBC article -> its headline and paragraphs. */
export function bbcDocument(text: string): string {
  return paragraphs(text.split('\n')).join('\n');
}

/** Gutenberg book -> paragraphs (blank-line separated blocks, wrapped lines joined with a space). */
export function bookDocument(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .split(/\n[ \t]*\n/)
    .map((block) => paragraphs(block.split('\n')).join(' '))
    .filter((p) => p !== '')
    .join('\n');
}

/** The documents of one file's decoded text, by source. */
export function documentsOf(source: CorpusSource, text: string, file: string): string[] {
  if (source === 'wikipedia') return wikipediaDocuments(text, file);
  const doc = source === 'bbc' ? bbcDocument(text) : bookDocument(text);
  return doc === '' ? [] : [doc];
}

/** Documents of a split, file by file in manifest path order (deterministic). */
export async function* corpusDocuments(corpusDir: string, split: CorpusSplit, o: ReadOptions = {}): AsyncGenerator<CorpusDocument> {
  if (split === 'readme') throw new DataFileError("the 'readme' split is documentation, not prose", join(corpusDir, 'MANIFEST.tsv'));
  const entries = await splitEntries(corpusDir, split, o.sources);
  for (const [n, e] of entries.entries()) {
    throwIfAborted(o.signal, n);
    const text = decodeUtf8Lenient(await readEntry(corpusDir, e, o.verify ?? 'size'));
    const docs = documentsOf(e.source, text, join(corpusDir, e.file));
    for (const [index, t] of docs.entries()) yield { file: e.file, source: e.source, index, text: t };
    o.onProgress?.({ phase: `read:${split}`, done: n + 1, total: entries.length });
  }
}
