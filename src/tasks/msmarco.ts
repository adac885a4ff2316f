/**
 * MS MARCO passage ranking and TREC Deep Learning 2019/2020 files (docs/benchmarks.md §3).
 *
 * All readers stream the file line by line (memory bounded by the longest line; collection.tsv is
 * 2.9 GB), decode UTF-8 strictly, strip a BOM, accept CRLF and a missing final newline, and split on
 * tabs (or whitespace where the format is whitespace-separated) with no quoting.
 *
 * Bad lines: the reference tools (ms_marco_eval.py, trec_eval) stop on a malformed line, so every
 * reader throws `DataFileError(file, line)` by default. Passing `onBadLine` switches to "report and
 * skip": the callback gets each error and the reader continues (the caller counts them).
 *
 * Text is kept raw: MS MARCO's double-encoded UTF-8 ("donâ€™t") and leading spaces in queries (qid 2)
 * stay as in the file, as the leaderboard numbers were computed that way. `repair: true` opts into
 * `repairMojibake`.
 */
import { createReadStream } from 'node:fs';
import { DataFileError } from '../errors.js';
import type { RunEntry } from './types.js';
import { throwIfAborted } from '../progress/index.js';

export interface LineOptions {
  /** Report-and-skip mode: called for each malformed line instead of throwing. */
  readonly onBadLine?: (err: DataFileError) => void;
  readonly signal?: AbortSignal;
  /**
   * Rows (lines, or records for jsonl) the file must yield, e.g. from `MSMARCO_SIZES`; a truncated or
   * padded file is then a DataFileError "expected N rows, got M" (as HF datasets' verify_splits).
   */
  readonly expectedRows?: number;
}

/** Official row counts (benchmarks.md §3.1, SOURCES.md): lines of each file. */
export const MSMARCO_SIZES = {
  collection: 8_841_823,
  'queries.train': 808_731,
  'queries.dev': 101_093,
  'queries.eval': 101_092,
  'queries.dev.small': 6_980,
  'qrels.dev.small': 7_437,
  'qrels.dev': 59_273,
  'qrels.train': 532_761,
  'top1000.dev': 6_668_967,
  'qrels.dl19-passage': 9_260,
  'topics.dl19-passage': 43,
  'qrels.dl20-passage': 11_386,
  'topics.dl20': 200,
} as const;

export interface TextOptions extends LineOptions {
  /** Opt-in mojibake repair of text fields (default: raw text, leaderboard parity). */
  readonly repair?: boolean;
}

export interface TextLine {
  /** 1-based line number. */
  readonly line: number;
  readonly text: string;
}

const MAX_LINE_BYTES = 64 * 1024 * 1024;
const LF = 0x0a;

/**
 * Streams the lines of a UTF-8 file without holding it in memory. Invalid UTF-8 is a
 * DataFileError naming file, line and byte offset within the line. The final line may lack `\n`.
 * Each read chunk is decoded at once up to its last `\n` (a UTF-8 sequence never contains 0x0A, so
 * the cut is always between characters); only a chunk with bad bytes is decoded line by line, to
 * name the line.
 */
export async function* readLines(file: string, signal?: AbortSignal): AsyncGenerator<TextLine> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let line = 0;
  const strip = (text: string): string => {
    const t = text.endsWith('\r') ? text.slice(0, -1) : text;
    return line === 1 && t.startsWith('\uFEFF') ? t.slice(1) : t;
  };
  /** Lines of `block` (complete lines without the final `\n`). */
  function* emitBlock(block: Buffer): Generator<TextLine> {
    let text: string;
    try {
      text = decoder.decode(block);
    } catch {
      yield* emitLinesOneByOne(block);
      return;
    }
    for (const t of text.split('\n')) {
      line++;
      yield { line, text: strip(t) };
    }
  }
  function* emitLinesOneByOne(block: Buffer): Generator<TextLine> {
    let from = 0;
    for (;;) {
      const nl = block.indexOf(LF, from);
      const bytes = block.subarray(from, nl < 0 ? block.length : nl);
      line++;
      let text: string;
      try {
        text = decoder.decode(bytes);
      } catch {
        throw new DataFileError(`invalid UTF-8 at byte ${invalidUtf8Offset(bytes)} of the line`, file, line);
      }
      yield { line, text: strip(text) };
      if (nl < 0) return;
      from = nl + 1;
    }
  }
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      throwIfAborted(signal, line);
      const last = chunk.lastIndexOf(LF);
      if (last < 0) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes > MAX_LINE_BYTES) throw new DataFileError(`line longer than ${MAX_LINE_BYTES} bytes`, file, line + 1);
        continue;
      }
      const head = chunk.subarray(0, last);
      const block = pendingBytes ? Buffer.concat([...pending, head]) : head;
      pending = last + 1 < chunk.length ? [chunk.subarray(last + 1)] : [];
      pendingBytes = chunk.length - last - 1;
      yield* emitBlock(block);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DataFileError('file not found', file, undefined, { cause: err });
    throw err;
  } finally {
    stream.destroy();
  }
  if (pendingBytes) yield* emitBlock(Buffer.concat(pending));
}

/** Byte offset of the first invalid sequence: where lossy decoding emits a U+FFFD the bytes do not hold. */
function invalidUtf8Offset(bytes: Uint8Array): number {
  const lossy = new TextDecoder('utf-8').decode(bytes);
  for (let j = lossy.indexOf('\uFFFD'); j >= 0; j = lossy.indexOf('\uFFFD', j + 1)) {
    const at = Buffer.byteLength(lossy.slice(0, j), 'utf8');
    if (!(bytes[at] === 0xef && bytes[at + 1] === 0xbf && bytes[at + 2] === 0xbd)) return at;
  }
  return 0;
}

/**
 * Undo MS MARCO's double encoding (UTF-8 bytes read as Latin-1/cp1252 and re-encoded): when every
 * character maps to one cp1252 byte and those bytes are valid UTF-8 with a multi-byte sequence,
 * return the decoded text; otherwise the input unchanged. Pure ASCII is returned as is.
 */
export function repairMojibake(text: string): string {
  if (/^[\x00-\x7f]*$/.test(text)) return text;
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const b = toCp1252Byte(text.charCodeAt(i));
    if (b < 0) return text;
    bytes[i] = b;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return text;
  }
}

/** cp1252 characters 0x80-0x9f that are not Latin-1 (e.g. '€' = 0x80, '’' = 0x92). */
const CP1252_HIGH: ReadonlyMap<number, number> = new Map(
  [0x20ac, -1, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, -1, 0x017d, -1,
    -1, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, -1, 0x017e, 0x0178]
    .map((cp, i) => [cp, 0x80 + i] as [number, number])
    .filter(([cp]) => cp >= 0),
);

function toCp1252Byte(cp: number): number {
  if (cp <= 0xff) return cp;
  return CP1252_HIGH.get(cp) ?? -1;
}

// ---------------------------------------------------------------------------------------------
// Line parsing helpers

const ID = /^\d+$/;

/** Runs `parse` on each line; bad lines throw or go to `onBadLine`. */
async function* parseLines<T>(
  file: string,
  opts: LineOptions,
  parse: (text: string, line: number) => T,
): AsyncGenerator<T> {
  let rows = 0;
  let last = 0;
  for await (const { line, text } of readLines(file, opts.signal)) {
    last = line;
    let row: T;
    try {
      row = parse(text, line);
    } catch (err) {
      if (!(err instanceof DataFileError) || !opts.onBadLine) throw err;
      opts.onBadLine(err);
      continue;
    }
    rows++;
    yield row;
  }
  if (opts.expectedRows !== undefined && rows !== opts.expectedRows) {
    throw new DataFileError(`expected ${opts.expectedRows} rows, got ${rows} (${last} lines read)`, file);
  }
}

function tabFields(file: string, line: number, text: string, n: number, what: string): string[] {
  const f = text.split('\t');
  if (f.length !== n) throw new DataFileError(`expected ${n} tab-separated fields (${what}), got ${f.length}`, file, line);
  return f;
}

function numericId(file: string, line: number, value: string, what: string): string {
  if (!ID.test(value)) throw new DataFileError(`${what} '${excerpt(value)}' is not a non-negative integer`, file, line);
  return value;
}

function intField(file: string, line: number, value: string, what: string): number {
  if (!/^[+-]?\d+$/.test(value)) throw new DataFileError(`${what} '${excerpt(value)}' is not an integer`, file, line);
  return Number(value);
}

function excerpt(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

const maybeRepair = (opts: TextOptions, s: string): string => (opts.repair ? repairMojibake(s) : s);

// ---------------------------------------------------------------------------------------------
// Collection, queries, triples, top1000

export interface Passage {
  readonly pid: string;
  readonly text: string;
}

/** `collection.tsv`: `pid\tpassage`, streamed. */
export function streamCollection(file: string, opts: TextOptions = {}): AsyncGenerator<Passage> {
  return parseLines(file, opts, (text, line) => {
    const [pid, passage] = tabFields(file, line, text, 2, 'pid, passage');
    return { pid: numericId(file, line, pid as string, 'pid'), text: maybeRepair(opts, passage as string) };
  });
}

/**
 * Loads the passages of a collection into memory, optionally only those in `keep` (e.g. the pids
 * of a top-1000 run), so a 2.9 GB collection can be filtered in one streaming pass.
 */
export async function loadCollection(
  file: string,
  opts: TextOptions & { readonly keep?: ReadonlySet<string> } = {},
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const rows = parseLines(file, opts, (text, line) => {
    const [pid, passage] = tabFields(file, line, text, 2, 'pid, passage');
    const id = numericId(file, line, pid as string, 'pid');
    if (out.has(id)) throw new DataFileError(`duplicate pid ${id}`, file, line);
    return [id, passage as string] as const;
  });
  for await (const [pid, passage] of rows) if (!opts.keep || opts.keep.has(pid)) out.set(pid, maybeRepair(opts, passage));
  return out;
}

/** `queries.*.tsv` / `topics.*.txt`: `qid\tquery`. Text is kept verbatim (leading spaces too). */
export async function loadQueries(file: string, opts: TextOptions = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const rows = parseLines(file, opts, (text, line) => {
    const [qid, query] = tabFields(file, line, text, 2, 'qid, query');
    const id = numericId(file, line, qid as string, 'qid');
    if (out.has(id)) throw new DataFileError(`duplicate qid ${id}`, file, line);
    return [id, maybeRepair(opts, query as string)] as const;
  });
  for await (const [qid, query] of rows) out.set(qid, query);
  return out;
}

export interface Triple {
  readonly query: string;
  readonly positive: string;
  readonly negative: string;
}

/** `triples.train.small.tsv`: `query\tpositive passage\tnegative passage`, streamed. */
export function streamTriples(file: string, opts: TextOptions = {}): AsyncGenerator<Triple> {
  return parseLines(file, opts, (text, line) => {
    const [query, positive, negative] = tabFields(file, line, text, 3, 'query, positive, negative').map((s) =>
      maybeRepair(opts, s),
    );
    return { query: query as string, positive: positive as string, negative: negative as string };
  });
}

export interface Top1000Row {
  readonly qid: string;
  readonly pid: string;
  readonly query: string;
  readonly passage: string;
}

/** `top1000.dev`: `qid\tpid\tquery\tpassage` (BM25 candidates in random order), streamed. */
export function streamTop1000(file: string, opts: TextOptions = {}): AsyncGenerator<Top1000Row> {
  return parseLines(file, opts, (text, line) => {
    const [qid, pid, query, passage] = tabFields(file, line, text, 4, 'qid, pid, query, passage');
    return {
      qid: numericId(file, line, qid as string, 'qid'),
      pid: numericId(file, line, pid as string, 'pid'),
      query: maybeRepair(opts, query as string),
      passage: maybeRepair(opts, passage as string),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Qrels and runs

/**
 * Qrels in any of the shipped layouts: MS MARCO `qid\t0\tpid\t1` (tabs), Anserini's space-separated
 * copy, TREC DL graded `qid Q0 docid grade` / `qid 0 docid grade`. Fields are split on runs of
 * whitespace (as trec_eval and ms_marco_eval.py do); column 2 is ignored. A (qid, docid) pair listed
 * twice is an error, as in trec_eval.
 */
export async function loadQrels(file: string, opts: LineOptions = {}): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  const rows = parseLines(file, opts, (text, line) => {
    const f = text.trim().split(/\s+/);
    if (f.length !== 4) throw new DataFileError(`expected 4 fields 'qid iter docid relevance', got ${f.length}`, file, line);
    const [qid, , docid, rel] = f as [string, string, string, string];
    const grade = intField(file, line, rel, 'relevance');
    if (out.get(qid)?.has(docid)) throw new DataFileError(`qid ${qid} judges docid ${docid} twice`, file, line);
    return { qid, docid, grade };
  });
  for await (const { qid, docid, grade } of rows) {
    let q = out.get(qid);
    if (!q) out.set(qid, (q = new Map()));
    q.set(docid, grade);
  }
  return out;
}

export type RunFormat = 'msmarco' | 'trec';

/**
 * Run files: MS MARCO `qid\tpid\trank` (no scores: `score` is set to -rank so score order equals
 * rank order) or TREC `qid Q0 docid rank score tag` (whitespace-separated; fields after the tag are
 * ignored, as trec_eval does; the rank must be an integer, which trec_eval does not check). `format` defaults to
 * detection from the first line (3 tab-separated fields = msmarco). A docid retrieved twice for a
 * query is an error naming qid and docid (ms_marco_eval.py's quality check; trec_eval refuses it too).
 */
export async function loadRun(file: string, opts: LineOptions & { readonly format?: RunFormat } = {}): Promise<Map<string, RunEntry[]>> {
  const out = new Map<string, RunEntry[]>();
  const seen = new Map<string, Set<string>>();
  let format = opts.format;
  const rows = parseLines(file, opts, (text, line) => {
    format ??= text.split('\t').length === 3 ? 'msmarco' : 'trec';
    let qid: string;
    let entry: RunEntry;
    if (format === 'msmarco') {
      const [q, pid, rank] = tabFields(file, line, text, 3, 'qid, pid, rank');
      qid = numericId(file, line, q as string, 'qid');
      const r = intField(file, line, rank as string, 'rank');
      entry = { docid: numericId(file, line, pid as string, 'pid'), rank: r, score: -r };
    } else {
      const f = text.trim().split(/\s+/);
      // trec_eval ignores anything after the tag.
      if (f.length < 6) throw new DataFileError(`expected 6 fields 'qid Q0 docid rank score tag', got ${f.length}`, file, line);
      const [q, , docid, rank, score] = f as [string, string, string, string, string];
      const s = Number(score);
      if (score === '' || !Number.isFinite(s)) throw new DataFileError(`score '${excerpt(score)}' is not a finite number`, file, line);
      qid = q;
      entry = { docid, rank: intField(file, line, rank, 'rank'), score: s };
    }
    let ids = seen.get(qid);
    if (!ids) seen.set(qid, (ids = new Set()));
    if (ids.has(entry.docid)) throw new DataFileError(`qid ${qid} ranks docid ${entry.docid} more than once`, file, line);
    ids.add(entry.docid);
    return { qid, entry };
  });
  for await (const { qid, entry } of rows) {
    let list = out.get(qid);
    if (!list) out.set(qid, (list = []));
    list.push(entry);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSONL files

export interface TrecDlHit {
  readonly docid: string;
  readonly content: string;
  readonly rank: number;
  readonly score: number;
}

export interface TrecDlQuery {
  readonly qid: string;
  readonly query: string;
  readonly hits: readonly TrecDlHit[];
}

function parseJsonLine(file: string, line: number, text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new DataFileError(`invalid JSON: ${(err as Error).message}`, file, line);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DataFileError('expected a JSON object', file, line);
  return v as Record<string, unknown>;
}

function str(file: string, line: number, v: unknown, what: string): string {
  if (typeof v !== 'string') throw new DataFileError(`${what} must be a string`, file, line);
  return v;
}

function num(file: string, line: number, v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new DataFileError(`${what} must be a finite number`, file, line);
  return v;
}

/** An id written as a JSON number or string, returned in its decimal string form. */
function jsonId(file: string, line: number, v: unknown, what: string): string {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'string' && v !== '') return v;
  throw new DataFileError(`${what} must be a non-negative integer or a non-empty string`, file, line);
}

/**
 * TREC DL reranking files with passage text (`bm25_dl19_top100.jsonl`): one
 * `{"query", "hits": [{"content","qid","docid","rank","score"}]}` per line; every hit must carry the
 * same qid. (The DL19 file has no final newline; that is accepted.)
 */
export async function loadTrecDlJsonl(file: string, opts: TextOptions = {}): Promise<TrecDlQuery[]> {
  const out: TrecDlQuery[] = [];
  const rows = parseLines(file, opts, (text, line) => {
    const o = parseJsonLine(file, line, text);
    const query = maybeRepair(opts, str(file, line, o.query, 'query'));
    if (!Array.isArray(o.hits) || o.hits.length === 0) throw new DataFileError('hits must be a non-empty array', file, line);
    let qid: string | undefined;
    const seen = new Set<string>();
    const hits = o.hits.map((h: unknown, i: number): TrecDlHit => {
      if (typeof h !== 'object' || h === null) throw new DataFileError(`hits[${i}] must be an object`, file, line);
      const r = h as Record<string, unknown>;
      const hq = jsonId(file, line, r.qid, `hits[${i}].qid`);
      if (qid !== undefined && hq !== qid) throw new DataFileError(`hits[${i}].qid ${hq} differs from ${qid}`, file, line);
      qid = hq;
      const docid = jsonId(file, line, r.docid, `hits[${i}].docid`);
      if (seen.has(docid)) throw new DataFileError(`qid ${qid} ranks docid ${docid} more than once`, file, line);
      seen.add(docid);
      return {
        docid,
        content: maybeRepair(opts, str(file, line, r.content, `hits[${i}].content`)),
        rank: num(file, line, r.rank, `hits[${i}].rank`),
        score: num(file, line, r.score, `hits[${i}].score`),
      };
    });
    return { qid: qid as string, query, hits };
  });
  for await (const q of rows) out.push(q);
  return out;
}

/** The run contained in TREC DL jsonl records (their BM25 scores and ranks). */
export function runFromTrecDl(records: readonly TrecDlQuery[]): Map<string, RunEntry[]> {
  return new Map(records.map((r) => [r.qid, r.hits.map((h) => ({ docid: h.docid, rank: h.rank, score: h.score }))]));
}

export interface BgeExample {
  readonly query: string;
  readonly pos: readonly string[];
  readonly neg: readonly string[];
  readonly posScores?: readonly number[];
  readonly negScores?: readonly number[];
  readonly prompt?: string;
  readonly type?: string;
}

/** BGE/FlagEmbedding fine-tuning jsonl: `{query, pos: [..], neg: [..], pos_scores?, neg_scores?, prompt?, type?}`. */
export async function loadBgeJsonl(file: string, opts: TextOptions = {}): Promise<BgeExample[]> {
  const out: BgeExample[] = [];
  const strings = (line: number, v: unknown, what: string): string[] => {
    if (!Array.isArray(v)) throw new DataFileError(`${what} must be an array of strings`, file, line);
    return v.map((s, i) => maybeRepair(opts, str(file, line, s, `${what}[${i}]`)));
  };
  const scores = (line: number, v: unknown, what: string, n: number): number[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length !== n) throw new DataFileError(`${what} must be an array of ${n} numbers`, file, line);
    return v.map((s, i) => num(file, line, s, `${what}[${i}]`));
  };
  const rows = parseLines(file, opts, (text, line): BgeExample => {
    const o = parseJsonLine(file, line, text);
    const pos = strings(line, o.pos, 'pos');
    if (pos.length === 0) throw new DataFileError('pos must not be empty', file, line);
    const neg = strings(line, o.neg ?? [], 'neg');
    const posScores = scores(line, o.pos_scores, 'pos_scores', pos.length);
    const negScores = scores(line, o.neg_scores, 'neg_scores', neg.length);
    return {
      query: maybeRepair(opts, str(file, line, o.query, 'query')),
      pos,
      neg,
      ...(posScores ? { posScores } : {}),
      ...(negScores ? { negScores } : {}),
      ...(o.prompt !== undefined ? { prompt: str(file, line, o.prompt, 'prompt') } : {}),
      ...(o.type !== undefined ? { type: str(file, line, o.type, 'type') } : {}),
    };
  });
  for await (const ex of rows) out.push(ex);
  return out;
}
