/**
 * Line-level readers for benchmark text files. GLUE TSVs must be parsed with quoting OFF
 * (HF uses csv.QUOTE_NONE): a `"` is an ordinary character, every `\n` ends a row, every `\t`
 * splits a field. Quote-aware parsers silently merge MRPC/STS-B rows (docs/benchmarks.md §1.1).
 */
import { readFile } from 'node:fs/promises';
import { DataFileError } from '../errors.js';

export interface TextLine {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly text: string;
}

const BOM = '\ufeff';

/**
 * Decode a UTF-8 file strictly (invalid bytes throw, naming the line), drop a leading BOM,
 * accept CRLF and a missing final newline. Keeps trailing spaces (SST-2 sentences end with one).
 */
export async function readTextLines(file: string): Promise<TextLine[]> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new DataFileError(`cannot read: ${(err as Error).message}`, file, undefined, { cause: err });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (err) {
    const { line, byte } = locateBadUtf8(bytes);
    throw new DataFileError(`invalid UTF-8 at byte ${byte}`, file, line, { cause: err });
  }
  if (text.startsWith(BOM)) text = text.slice(1);
  const parts = text.split('\n');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.map((t, i) => ({ line: i + 1, text: t.endsWith('\r') ? t.slice(0, -1) : t }));
}

/** First line (1-based) and byte offset whose bytes are not valid UTF-8. */
function locateBadUtf8(bytes: Uint8Array): { line: number; byte: number } {
  const dec = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  let line = 1;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      try {
        dec.decode(bytes.subarray(start, i));
      } catch {
        return { line, byte: start };
      }
      start = i + 1;
      line++;
    }
  }
  return { line, byte: bytes.length };
}

export interface TsvRow {
  readonly line: number;
  readonly fields: readonly string[];
}

/** Split every line on `\t` with no quote handling. */
export async function readTsv(file: string): Promise<TsvRow[]> {
  return (await readTextLines(file)).map((l) => ({ line: l.line, fields: l.text.split('\t') }));
}
