/**
 * SuperGLUE loaders (the v2 `*.jsonl` files), their flattening into encoder classification
 * examples, and their text-to-text (T5-style) form with a verbalizer and a parser back to labels.
 * Fields, label values and quirks: docs/benchmarks.md §2.1.
 *
 * Label ids follow HF `super_glue` ClassLabels:
 *   BoolQ, WiC, WSC, MultiRC answers ["False", "True"]   (JSON booleans / 0-1)
 *   CB ["entailment", "contradiction", "neutral"]        (NOT MNLI's order)
 *   RTE, AX-b, AX-g ["entailment", "not_entailment"]
 *   COPA ["choice1", "choice2"]                           (label 0/1)
 */
import { DataFileError } from '../errors.js';
import { sharedDataPath } from '../io/paths.js';
import { Fields, readJsonl } from './jsonl.js';
import type { Example, TaskSpec, TextPair, Texts } from './types.js';

export type SuperGlueTaskId = 'boolq' | 'cb' | 'copa' | 'multirc' | 'record' | 'rte' | 'wic' | 'wsc' | 'axb' | 'axg';

export const SUPERGLUE_TASK_IDS: readonly SuperGlueTaskId[] = ['boolq', 'cb', 'copa', 'multirc', 'record', 'rte', 'wic', 'wsc', 'axb', 'axg'];

export interface SuperGlueTaskSpec extends TaskSpec {
  readonly id: SuperGlueTaskId;
  readonly submissionFile: string;
}

const BOOL = ['False', 'True'] as const;
const NLI2 = ['entailment', 'not_entailment'] as const;
const CB_LABELS = ['entailment', 'contradiction', 'neutral'] as const;

const sg = (id: SuperGlueTaskId, name: string, labelNames: readonly string[], textFields: readonly string[], metrics: TaskSpec['metrics'], diagnostic = false): SuperGlueTaskSpec => ({
  id,
  name,
  benchmark: 'superglue',
  kind: 'classification',
  labelNames,
  textFields,
  metrics,
  submissionFile: `${name}.jsonl`,
  ...(diagnostic ? { diagnostic } : {}),
});

export const SUPERGLUE_TASKS: Readonly<Record<SuperGlueTaskId, SuperGlueTaskSpec>> = {
  boolq: sg('boolq', 'BoolQ', BOOL, ['question', 'passage'], ['accuracy']),
  cb: sg('cb', 'CB', CB_LABELS, ['premise', 'hypothesis'], ['accuracy', 'macro_f1']),
  copa: sg('copa', 'COPA', ['choice1', 'choice2'], ['premise + question', 'choice'], ['accuracy']),
  multirc: sg('multirc', 'MultiRC', BOOL, ['paragraph', 'question + answer'], ['f1a', 'em']),
  record: sg('record', 'ReCoRD', BOOL, ['passage', 'query with entity'], ['record_f1', 'record_em']),
  rte: sg('rte', 'RTE', NLI2, ['premise', 'hypothesis'], ['accuracy']),
  wic: sg('wic', 'WiC', BOOL, ['word: sentence1', 'sentence2'], ['accuracy']),
  wsc: sg('wsc', 'WSC', BOOL, ['text with *span1* and #span2#'], ['accuracy']),
  axb: sg('axb', 'AX-b', NLI2, ['sentence1', 'sentence2'], ['mcc'], true),
  axg: sg('axg', 'AX-g', NLI2, ['premise', 'hypothesis'], ['gender_parity', 'accuracy'], true),
};

/** Official sizes (TFDS super_glue catalog). MultiRC counts answer options, ReCoRD queries. */
export const SUPERGLUE_SPLIT_SIZES: Readonly<Record<SuperGlueTaskId, { train?: number; val?: number; test: number }>> = {
  boolq: { train: 9427, val: 3270, test: 3245 },
  cb: { train: 250, val: 56, test: 250 },
  copa: { train: 400, val: 100, test: 500 },
  multirc: { train: 27243, val: 4848, test: 9693 },
  record: { train: 100730, val: 10000, test: 10000 },
  rte: { train: 2490, val: 277, test: 3000 },
  wic: { train: 5428, val: 638, test: 1400 },
  wsc: { train: 554, val: 104, test: 146 },
  axb: { test: 1104 },
  axg: { test: 356 },
};

// ---------------------------------------------------------------------------------------------
// Records: one per JSON line, typed; `label` is a class id or null when the file hides it (test).

export interface BoolQRecord { readonly idx: number; readonly question: string; readonly passage: string; readonly label: number | null }
export interface NliRecord { readonly idx: number; readonly premise: string; readonly hypothesis: string; readonly label: number | null }
export interface CopaRecord {
  readonly idx: number;
  readonly premise: string;
  readonly choice1: string;
  readonly choice2: string;
  readonly question: 'cause' | 'effect';
  readonly label: number | null;
}
export interface MultiRCAnswer { readonly idx: number; readonly text: string; readonly label: number | null }
export interface MultiRCQuestion { readonly idx: number; readonly question: string; readonly answers: readonly MultiRCAnswer[] }
export interface MultiRCRecord { readonly idx: number; readonly passage: string; readonly questions: readonly MultiRCQuestion[] }
export interface Span { readonly start: number; readonly end: number; readonly text: string }
export interface ReCoRDQuery { readonly idx: number; readonly query: string; readonly answers: readonly Span[] }
export interface ReCoRDRecord {
  readonly idx: number;
  readonly source: string;
  readonly passage: string;
  /** Entity mentions; `end` is inclusive as in the file (text = passage[start..end]). */
  readonly entities: readonly Span[];
  readonly queries: readonly ReCoRDQuery[];
}
export interface WiCRecord {
  readonly idx: number;
  readonly word: string;
  readonly sentence1: string;
  readonly sentence2: string;
  /** Character offsets, end exclusive (`sentence1.slice(start1, end1)` is the word form). */
  readonly start1: number;
  readonly end1: number;
  readonly start2: number;
  readonly end2: number;
  readonly label: number | null;
}
export interface WscRecord {
  readonly idx: number;
  readonly text: string;
  /** Whitespace-token index as in the file, and where the span really is (see `locateWscSpan`). */
  readonly span1: { readonly index: number; readonly text: string; readonly token: number };
  readonly span2: { readonly index: number; readonly text: string; readonly token: number };
  readonly label: number | null;
}
export interface AxbRecord {
  /** The file stores idx as a string ("0"); parsed to a number. */
  readonly idx: number;
  readonly sentence1: string;
  readonly sentence2: string;
  readonly label: number | null;
  /** Phenomenon tags present on this row (logic, lexical-semantics, predicate-argument-structure, knowledge). */
  readonly tags: Readonly<Record<string, string>>;
}
export interface AxgRecord { readonly idx: number; readonly premise: string; readonly hypothesis: string; readonly pairId: number; readonly label: number | null }

export interface SuperGlueRecords {
  boolq: BoolQRecord;
  cb: NliRecord;
  copa: CopaRecord;
  multirc: MultiRCRecord;
  record: ReCoRDRecord;
  rte: NliRecord;
  wic: WiCRecord;
  wsc: WscRecord;
  axb: AxbRecord;
  axg: AxgRecord;
}

export interface SuperGlueSplit<T extends SuperGlueTaskId> {
  readonly task: SuperGlueTaskSpec;
  readonly file: string;
  readonly records: readonly SuperGlueRecords[T][];
}

const boolLabel = (f: Fields): number | null => (f.has('label') ? (f.bool('label') ? 1 : 0) : null);
const nameLabel = (f: Fields, names: readonly string[]): number | null => (f.has('label') ? names.indexOf(f.oneOf('label', names)) : null);

const PARSERS: { readonly [K in SuperGlueTaskId]: (f: Fields) => SuperGlueRecords[K] } = {
  boolq: (f) => ({ idx: f.int('idx'), question: f.string('question'), passage: f.string('passage'), label: boolLabel(f) }),
  cb: (f) => ({ idx: f.int('idx'), premise: f.string('premise'), hypothesis: f.string('hypothesis'), label: nameLabel(f, CB_LABELS) }),
  rte: (f) => ({ idx: f.int('idx'), premise: f.string('premise'), hypothesis: f.string('hypothesis'), label: nameLabel(f, NLI2) }),
  copa: (f) => {
    let label: number | null = null;
    if (f.has('label')) {
      label = f.int('label');
      if (label !== 0 && label !== 1) throw new DataFileError(`field 'label' must be 0 or 1, got ${label}`, f.file, f.line);
    }
    return { idx: f.int('idx'), premise: f.string('premise'), choice1: f.string('choice1'), choice2: f.string('choice2'), question: f.oneOf('question', ['cause', 'effect'] as const), label };
  },
  multirc: (f) => {
    const p = f.object('passage');
    return {
      idx: f.int('idx'),
      passage: p.string('text'),
      questions: p.array('questions').map((q) => ({
        idx: q.int('idx'),
        question: q.string('question'),
        answers: q.array('answers').map((a) => {
          let label: number | null = null;
          if (a.has('label')) {
            label = a.int('label');
            if (label !== 0 && label !== 1) throw new DataFileError(`answer ${a.int('idx')}: label must be 0 or 1, got ${label}`, f.file, f.line);
          }
          return { idx: a.int('idx'), text: a.string('text'), label };
        }),
      })),
    };
  },
  record: (f) => {
    const p = f.object('passage');
    const text = p.string('text');
    const span = (s: Fields, what: string): Span => {
      const start = s.int('start');
      const end = s.int('end');
      if (start < 0 || end < start || end >= text.length) throw new DataFileError(`${what} span [${start}, ${end}] outside the passage (${text.length} chars)`, f.file, f.line);
      return { start, end, text: text.slice(start, end + 1) };
    };
    return {
      idx: f.int('idx'),
      source: f.has('source') ? f.string('source') : '',
      passage: text,
      entities: p.array('entities').map((e) => span(e, 'entity')),
      queries: f.array('qas').map((q) => {
        const query = q.string('query');
        if (!query.includes('@placeholder')) throw new DataFileError(`query ${q.int('idx')} has no @placeholder`, f.file, f.line);
        return {
          idx: q.int('idx'),
          query,
          answers: q.has('answers')
            ? q.array('answers').map((a) => {
                const s = span(a, 'answer');
                // The file repeats the answer text; it must agree with the inclusive offsets.
                if (a.string('text') !== s.text) throw new DataFileError(`answer text ${JSON.stringify(a.string('text'))} != passage[${s.start}..${s.end}] ${JSON.stringify(s.text)}`, f.file, f.line);
                return s;
              })
            : [],
        };
      }),
    };
  },
  wic: (f) => {
    const r = {
      idx: f.int('idx'),
      word: f.string('word'),
      sentence1: f.string('sentence1'),
      sentence2: f.string('sentence2'),
      start1: f.int('start1'),
      end1: f.int('end1'),
      start2: f.int('start2'),
      end2: f.int('end2'),
      label: boolLabel(f),
    };
    if (!(r.start1 >= 0 && r.start1 < r.end1 && r.end1 <= r.sentence1.length) || !(r.start2 >= 0 && r.start2 < r.end2 && r.end2 <= r.sentence2.length)) {
      throw new DataFileError('word offsets outside their sentence', f.file, f.line);
    }
    return r;
  },
  wsc: (f) => {
    const text = f.string('text');
    const t = f.object('target');
    const span = (k: '1' | '2') => {
      const index = t.int(`span${k}_index`);
      const spanText = t.string(`span${k}_text`);
      const token = locateWscSpan(text, spanText, index);
      if (token < 0) throw new DataFileError(`span${k} ${JSON.stringify(spanText)} not found near token ${index}`, f.file, f.line);
      return { index, text: spanText, token };
    };
    return { idx: f.int('idx'), text, span1: span('1'), span2: span('2'), label: boolLabel(f) };
  },
  axb: (f) => {
    const rawIdx = f.string('idx');
    if (!/^\d+$/.test(rawIdx)) throw new DataFileError(`idx must be a numeric string, got ${JSON.stringify(rawIdx)}`, f.file, f.line);
    const tags: Record<string, string> = {};
    for (const k of ['lexical-semantics', 'predicate-argument-structure', 'logic', 'knowledge']) if (f.has(k)) tags[k] = f.string(k);
    return { idx: Number(rawIdx), sentence1: f.string('sentence1'), sentence2: f.string('sentence2'), label: nameLabel(f, NLI2), tags };
  },
  axg: (f) => ({ idx: f.int('idx'), premise: f.string('premise'), hypothesis: f.string('hypothesis'), pairId: f.int('pair_id'), label: nameLabel(f, NLI2) }),
};

/** Load one SuperGLUE jsonl file. Duplicate `idx` values (and MultiRC question/answer ids) are errors. */
export async function loadSuperGlue<T extends SuperGlueTaskId>(task: T, file: string, opts: { expectedRows?: number } = {}): Promise<SuperGlueSplit<T>> {
  const parse = PARSERS[task] as (f: Fields) => SuperGlueRecords[T];
  const records: SuperGlueRecords[T][] = [];
  const seen = new Map<string, number>();
  const unique = (key: string, line: number) => {
    const prev = seen.get(key);
    if (prev !== undefined) throw new DataFileError(`duplicate ${key} (first on line ${prev})`, file, line);
    seen.set(key, line);
  };
  for (const { line, value } of await readJsonl(file)) {
    const r = parse(new Fields(file, line, value));
    unique(`idx ${r.idx}`, line);
    if (task === 'multirc') {
      for (const q of (r as MultiRCRecord).questions) {
        unique(`question idx ${q.idx}`, line);
        for (const a of q.answers) unique(`answer idx ${a.idx}`, line);
      }
    } else if (task === 'record') {
      for (const q of (r as ReCoRDRecord).queries) unique(`query idx ${q.idx}`, line);
    }
    records.push(r);
  }
  if (opts.expectedRows !== undefined && records.length !== opts.expectedRows) {
    throw new DataFileError(`expected ${opts.expectedRows} records, loaded ${records.length}`, file);
  }
  return { task: SUPERGLUE_TASKS[task], file, records };
}

/** Path of a split under ../shared/data/superglue (`<task>/{train,val}.jsonl`; AX-b/AX-g: their one file). */
export function superglueSharedFile(task: SuperGlueTaskId, split: 'train' | 'val' | 'test'): string {
  if (task === 'axb' || task === 'axg') return sharedDataPath('superglue', task, task === 'axb' ? 'AX-b.jsonl' : 'AX-g.jsonl');
  return sharedDataPath('superglue', task, `${split}.jsonl`);
}

// ---------------------------------------------------------------------------------------------
// Span helpers

interface Token { readonly start: number; readonly end: number; readonly text: string }

/** Whitespace tokens with their character offsets (Python `str.split()` semantics). */
function whitespaceTokens(text: string): Token[] {
  return [...text.matchAll(/\S+/g)].map((m) => ({ start: m.index, end: m.index + m[0].length, text: m[0] }));
}

const normTok = (s: string) => s.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');

/**
 * Token index where a WSC span starts. The file's index is trusted when the tokens there match the
 * span text (case-insensitively, ignoring edge punctuation; a token may extend the span, as "Emma's"
 * for "Emma"). Otherwise the nearest matching position is used: val idx 42 says token 30 ("use")
 * for "it", which is token 31. Returns -1 when the span text is nowhere in the text.
 */
export function locateWscSpan(text: string, spanText: string, index: number): number {
  const toks = whitespaceTokens(text).map((t) => normTok(t.text));
  const want = spanText.split(/\s+/).filter(Boolean).map(normTok);
  const matchAt = (i: number, prefixOk: boolean) =>
    i >= 0 && i + want.length <= toks.length && want.every((w, j) => toks[i + j] === w || (prefixOk && toks[i + j]!.startsWith(w)));
  if (matchAt(index, true)) return index;
  for (const prefixOk of [false, true]) {
    for (let d = 1; d < toks.length; d++) {
      if (matchAt(index - d, prefixOk)) return index - d;
      if (matchAt(index + d, prefixOk)) return index + d;
    }
  }
  return -1;
}

/** WSC text with span1 (the noun phrase) in `*...*` and span2 (the pronoun) in `#...#`. */
export function markWsc(r: WscRecord): string {
  const toks = whitespaceTokens(r.text);
  const range = (span: WscRecord['span1'], mark: string) => {
    const words = span.text.split(/\s+/).filter(Boolean);
    const last = toks[span.token + words.length - 1]!;
    const lastWord = words[words.length - 1]!;
    // Keep trailing punctuation or a possessive outside the mark: "#him#,", "*Emma*'s".
    const end = last.text.toLowerCase().startsWith(lastWord.toLowerCase()) ? last.start + lastWord.length : last.end;
    return { start: toks[span.token]!.start, end, mark };
  };
  const marks = [range(r.span1, '*'), range(r.span2, '#')].sort((a, b) => b.start - a.start); // insert from the right so earlier offsets stay valid
  let out = r.text;
  for (const m of marks) out = `${out.slice(0, m.start)}${m.mark}${out.slice(m.start, m.end)}${m.mark}${out.slice(m.end)}`;
  return out;
}

/** Wrap `[start, end)` of `s` in asterisks (WiC target word). */
const markRange = (s: string, start: number, end: number) => `${s.slice(0, start)}*${s.slice(start, end)}*${s.slice(end)}`;

// ---------------------------------------------------------------------------------------------
// (a) Encoder classification examples

/** An encoder example that belongs to a group scored together (COPA item, MultiRC question, ReCoRD query). */
export interface GroupedExample extends Example {
  /** Group id: COPA record idx, MultiRC question idx, ReCoRD query idx. */
  readonly group: number;
  /** Member within the group: COPA choice (0/1), MultiRC answer idx, ReCoRD candidate entity. */
  readonly member: number | string;
  /** MultiRC/ReCoRD passage idx (needed by the MultiRC submission format). */
  readonly passage?: number;
}

/** jiant's COPA question phrases: the premise is followed by the question, then paired with a choice. */
export const COPA_QUESTIONS = { cause: 'What was the cause of this?', effect: 'What happened as a result?' } as const;

/** One example per (record), texts as in `SUPERGLUE_TASKS[task].textFields`. */
export function pairExamples(task: 'boolq' | 'cb' | 'rte' | 'axb' | 'axg' | 'wic' | 'wsc', records: readonly SuperGlueRecords[typeof task][]): Example[] {
  return records.map((r) => {
    let texts: Texts;
    switch (task) {
      case 'boolq': {
        const b = r as BoolQRecord;
        texts = [b.question, b.passage];
        break;
      }
      case 'cb':
      case 'rte':
      case 'axg': {
        const n = r as NliRecord;
        texts = [n.premise, n.hypothesis];
        break;
      }
      case 'axb': {
        const a = r as AxbRecord;
        texts = [a.sentence1, a.sentence2];
        break;
      }
      case 'wic': {
        const w = r as WiCRecord;
        texts = [`${w.word}: ${markRange(w.sentence1, w.start1, w.end1)}`, markRange(w.sentence2, w.start2, w.end2)];
        break;
      }
      case 'wsc':
        texts = [markWsc(r as WscRecord)];
        break;
    }
    return { idx: r.idx, texts, label: r.label };
  });
}

/** COPA -> two (premise + question phrase, choice) pairs per item; label 1 on the correct choice. */
export function copaExamples(records: readonly CopaRecord[]): GroupedExample[] {
  return records.flatMap((r) =>
    [r.choice1, r.choice2].map((choice, k) => ({
      idx: r.idx,
      group: r.idx,
      member: k,
      texts: [`${r.premise} ${COPA_QUESTIONS[r.question]}`, choice] as const,
      label: r.label === null ? null : r.label === k ? 1 : 0,
    })),
  );
}

/** MultiRC -> one (paragraph, question + answer) example per answer option, grouped by question. */
export function multircExamples(records: readonly MultiRCRecord[]): GroupedExample[] {
  return records.flatMap((p) =>
    p.questions.flatMap((q) =>
      q.answers.map((a) => ({ idx: a.idx, group: q.idx, member: a.idx, passage: p.idx, texts: [p.passage, `${q.question} ${a.text}`] as const, label: a.label })),
    ),
  );
}

/** Distinct entity strings of a passage, sorted (HF de-duplicates and sorts them). */
export function recordCandidates(r: ReCoRDRecord): string[] {
  return [...new Set(r.entities.map((e) => e.text))].sort();
}

/**
 * ReCoRD -> one example per (query, candidate entity): (passage, query with @placeholder filled);
 * label 1 when the entity string is one of the gold answers, null when answers are hidden.
 */
export function recordExamples(records: readonly ReCoRDRecord[]): GroupedExample[] {
  return records.flatMap((r) => {
    const cands = recordCandidates(r);
    return r.queries.flatMap((q) => {
      const gold = new Set(q.answers.map((a) => a.text));
      return cands.map((c) => ({
        idx: q.idx,
        group: q.idx,
        member: c,
        passage: r.idx,
        texts: [r.passage, q.query.replaceAll('@placeholder', c)] as const,
        label: q.answers.length === 0 ? null : gold.has(c) ? 1 : 0,
      }));
    });
  });
}

/** Encoder examples for any task: grouped ones (COPA, MultiRC, ReCoRD) carry `group`/`member`. */
export function encoderExamples<T extends SuperGlueTaskId>(task: T, records: readonly SuperGlueRecords[T][]): Example[] | GroupedExample[] {
  switch (task) {
    case 'copa':
      return copaExamples(records as readonly CopaRecord[]);
    case 'multirc':
      return multircExamples(records as readonly MultiRCRecord[]);
    case 'record':
      return recordExamples(records as readonly ReCoRDRecord[]);
    default:
      return pairExamples(task as 'boolq', records as readonly BoolQRecord[]);
  }
}

/**
 * Pick the member with the highest score in each group (COPA choice, ReCoRD entity): the jiant rule
 * for ReCoRD. `scores[i]` is the "true"/positive score of `examples[i]`. Ties keep the first member.
 */
export function argmaxPerGroup(examples: readonly GroupedExample[], scores: ArrayLike<number>): Map<number, number | string> {
  if (examples.length !== scores.length) throw new RangeError(`${examples.length} examples but ${scores.length} scores`);
  const best = new Map<number, { member: number | string; score: number }>();
  examples.forEach((e, i) => {
    const s = scores[i] as number;
    const cur = best.get(e.group);
    if (!cur || s > cur.score) best.set(e.group, { member: e.member, score: s });
  });
  return new Map([...best].map(([g, v]) => [g, v.member]));
}

// ---------------------------------------------------------------------------------------------
// (b) Text-to-text

const VERBALIZERS: Readonly<Record<Exclude<SuperGlueTaskId, 'record'>, readonly string[]>> = {
  boolq: BOOL,
  cb: CB_LABELS,
  copa: ['choice1', 'choice2'],
  multirc: BOOL,
  rte: NLI2,
  wic: BOOL,
  wsc: BOOL,
  axb: NLI2,
  axg: NLI2,
};

/** The target string for a class id (the verbalizer). */
export function verbalize(task: Exclude<SuperGlueTaskId, 'record'>, label: number): string {
  const v = VERBALIZERS[task][label];
  if (v === undefined) throw new RangeError(`${SUPERGLUE_TASKS[task].name}: no class id ${label}`);
  return v;
}

/**
 * Generated text -> class id: trimmed, case-insensitive exact match against the verbalizer.
 * Anything else is null (count it as wrong; never guess).
 */
export function parseGenerated(task: Exclude<SuperGlueTaskId, 'record'>, generated: string): number | null {
  const g = generated.trim().toLowerCase();
  const i = VERBALIZERS[task].findIndex((v) => v.toLowerCase() === g);
  return i < 0 ? null : i;
}

/** ReCoRD generations are answer strings: only surrounding whitespace is dropped (the metric normalises). */
export function parseRecordGenerated(generated: string): string {
  return generated.trim();
}

const target = (task: Exclude<SuperGlueTaskId, 'record'>, label: number | null) => (label === null ? null : verbalize(task, label));

/**
 * T5-style inputs with a task prefix. MultiRC gives one pair per answer option (idx = answer idx);
 * ReCoRD one per query (idx = query idx) whose target is the first gold answer; the metric takes the
 * max over all golds, so use `ReCoRDQuery.answers` for scoring, not this target.
 */
export function toTextToText<T extends SuperGlueTaskId>(task: T, records: readonly SuperGlueRecords[T][]): TextPair[] {
  switch (task) {
    case 'boolq':
      return (records as readonly BoolQRecord[]).map((r) => ({ idx: r.idx, input: `boolq question: ${r.question} passage: ${r.passage}`, target: target('boolq', r.label) }));
    case 'cb':
    case 'rte':
      return (records as readonly NliRecord[]).map((r) => ({ idx: r.idx, input: `${task} premise: ${r.premise} hypothesis: ${r.hypothesis}`, target: target(task as 'cb' | 'rte', r.label) }));
    case 'axg':
      return (records as readonly AxgRecord[]).map((r) => ({ idx: r.idx, input: `rte premise: ${r.premise} hypothesis: ${r.hypothesis}`, target: target('axg', r.label) }));
    case 'axb':
      return (records as readonly AxbRecord[]).map((r) => ({ idx: r.idx, input: `rte premise: ${r.sentence1} hypothesis: ${r.sentence2}`, target: target('axb', r.label) }));
    case 'copa':
      return (records as readonly CopaRecord[]).map((r) => ({
        idx: r.idx,
        input: `copa premise: ${r.premise} question: ${r.question} choice1: ${r.choice1} choice2: ${r.choice2}`,
        target: target('copa', r.label),
      }));
    case 'multirc':
      return (records as readonly MultiRCRecord[]).flatMap((p) =>
        p.questions.flatMap((q) => q.answers.map((a) => ({ idx: a.idx, input: `multirc question: ${q.question} answer: ${a.text} paragraph: ${p.passage}`, target: target('multirc', a.label) }))),
      );
    case 'record':
      return (records as readonly ReCoRDRecord[]).flatMap((r) => {
        const ents = recordCandidates(r).join(', ');
        return r.queries.map((q) => ({ idx: q.idx, input: `record query: ${q.query} entities: ${ents} passage: ${r.passage}`, target: q.answers[0]?.text ?? null }));
      });
    case 'wic':
      return (records as readonly WiCRecord[]).map((r) => ({ idx: r.idx, input: `wic sentence1: ${r.sentence1} sentence2: ${r.sentence2} word: ${r.word}`, target: target('wic', r.label) }));
    case 'wsc':
      return (records as readonly WscRecord[]).map((r) => ({ idx: r.idx, input: `wsc text: ${markWsc(r)}`, target: target('wsc', r.label) }));
  }
  throw new RangeError(`unknown SuperGLUE task ${String(task)}`);
}
