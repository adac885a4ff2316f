/**
 * Vocabulary trimming for small models: keep only the tokens a text collection uses (plus specials and the
 * 256 byte-fallback tokens, so no input ever becomes `<unk>`), renumbered densely in the base's id order.
 *
 * Exactness: a kept token is kept together with every intermediate symbol of its BPE derivation, and a merge
 * is kept when its two parts and its result are kept. On the trimming texts the trimmed tokenizer then makes
 * exactly the merges the base makes (each merge the base applies is the lowest-ranked present pair, and it
 * is still available), so `trimmed.encode(t) == remap(base.encode(t))`. On other text, pieces the base would
 * encode with a dropped token are encoded with smaller kept tokens or bytes instead (lossless, never unk).
 */
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ConfigError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { throwIfAborted, type RunControl } from '../progress/index.js';
import { defaultGemma3TokenizerDir, readTokenizerJson } from './index.js';

export interface TokenizerFiles {
  /** Parsed tokenizer.json (a BPE model with byte fallback). */
  readonly tokenizerJson: Record<string, unknown>;
  /** Parsed tokenizer_config.json ({} when absent). */
  readonly config: Record<string, unknown>;
}

export interface TrimOptions extends RunControl {
  /** Extra token strings to keep (e.g. task markers). */
  readonly keepTokens?: readonly string[];
}

export interface TrimResult extends TokenizerFiles {
  /** newToOld[newId] = base id; strictly increasing, so specials 0..4 keep their ids. */
  readonly newToOld: readonly number[];
  readonly oldToNew: ReadonlyMap<number, number>;
  /** Texts encoded and total base tokens seen. */
  readonly stats: { readonly texts: number; readonly tokens: number; readonly used: number; readonly kept: number; readonly merges: number };
}

const SPECIALS = ['<pad>', '<eos>', '<bos>', '<unk>', '<mask>'];

/** Reads tokenizer.json (+ tokenizer_config.json; either may be `.br`) from a folder; default the Gemma 3 tokenizer. */
export function readTokenizerFiles(dir: string = defaultGemma3TokenizerDir()): TokenizerFiles {
  const tokenizerJson = readTokenizerJson(dir, 'tokenizer.json');
  if (!tokenizerJson) throw new ConfigError('no tokenizer.json in this folder', dir);
  return { tokenizerJson, config: readTokenizerJson(dir, 'tokenizer_config.json') ?? {} };
}

interface BpeModel {
  type: string;
  vocab: Record<string, number>;
  merges: (string | [string, string])[];
  byte_fallback?: boolean;
  unk_token?: string;
}

interface AddedToken {
  id: number;
  content: string;
}

const pairKey = (a: string, b: string): string => `${a}\u0000${b}`;
const byteToken = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

/**
 * Every symbol BPE creates on the way from `token`'s characters to `token` (merges by rank, leftmost first),
 * or undefined when BPE on its own text does not end at `token`.
 */
function derivation(token: string, ranks: ReadonlyMap<string, number>, vocab: Record<string, number>): string[] | undefined {
  const syms = Array.from(token);
  if (syms.some((c) => !Object.hasOwn(vocab, c))) return undefined;
  const made = [...syms];
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < syms.length; i++) {
      const r = ranks.get(pairKey(syms[i] as string, syms[i + 1] as string));
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best < 0) break;
    const merged = (syms[best] as string) + (syms[best + 1] as string);
    syms.splice(best, 2, merged);
    made.push(merged);
  }
  return syms.length === 1 && syms[0] === token ? made : undefined;
}

/** Trims `base` to the tokens used by `texts` (encoded without specials, each text as one input). */
export function trimTokenizer(base: TokenizerFiles, texts: Iterable<string>, opts: TrimOptions = {}): TrimResult {
  const model = base.tokenizerJson['model'] as BpeModel | undefined;
  if (!model || model.type !== 'BPE' || typeof model.vocab !== 'object') throw new ConfigError('only BPE tokenizer.json models can be trimmed', 'tokenizer.json', 'model');
  if (!model.byte_fallback) throw new ConfigError('trimming needs byte_fallback so dropped characters stay encodable', 'tokenizer.json', 'model.byte_fallback');
  const vocab = model.vocab;
  const added = (base.tokenizerJson['added_tokens'] as AddedToken[] | undefined) ?? [];
  const idToToken = new Map<number, string>();
  for (const [t, id] of Object.entries(vocab)) idToToken.set(id, t);
  for (const a of added) idToToken.set(a.id, a.content);
  const addedIds = new Set(added.map((a) => a.id));

  const hf = new HfTokenizer(base.tokenizerJson, base.config);
  const used = new Set<number>();
  let n = 0;
  let tokens = 0;
  for (const text of texts) {
    throwIfAborted(opts.signal, n);
    const ids = hf.encode(text, { add_special_tokens: false }).ids;
    tokens += ids.length;
    for (const id of ids) used.add(id);
    n++;
    opts.onProgress?.({ phase: 'trim:encode', done: n, metrics: { tokens, used: used.size } });
  }

  const keep = new Set<number>(used);
  const keepText = (t: string): void => {
    const id = Object.hasOwn(vocab, t) ? vocab[t] : added.find((a) => a.content === t)?.id;
    if (id === undefined) throw new ConfigError(`token ${JSON.stringify(t)} is not in the base vocabulary`, 'tokenizer.json');
    keep.add(id);
  };
  for (const s of SPECIALS) if (Object.hasOwn(vocab, s) || added.some((a) => a.content === s)) keepText(s);
  for (let b = 0; b < 256; b++) keepText(byteToken(b));
  for (const t of opts.keepTokens ?? []) keepText(t);

  const ranks = new Map<string, number>();
  model.merges.forEach((m, i) => {
    const [a, b] = typeof m === 'string' ? splitMerge(m) : m;
    const k = pairKey(a, b);
    if (!ranks.has(k)) ranks.set(k, i);
  });
  for (const id of [...keep]) {
    const t = idToToken.get(id);
    if (t === undefined || addedIds.has(id) || Array.from(t).length < 2) continue;
    for (const s of derivation(t, ranks, vocab) ?? []) keep.add(vocab[s] as number);
  }

  const newToOld = [...keep].sort((a, b) => a - b);
  const oldToNew = new Map(newToOld.map((old, i) => [old, i] as const));
  const keptText = new Set(newToOld.map((id) => idToToken.get(id) as string));
  const newVocab: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const [t, id] of Object.entries(vocab)) {
    const nid = oldToNew.get(id);
    if (nid !== undefined) newVocab[t] = nid;
  }
  const newMerges = model.merges.filter((m) => {
    const [a, b] = typeof m === 'string' ? splitMerge(m) : m;
    return keptText.has(a) && keptText.has(b) && keptText.has(a + b) && Object.hasOwn(newVocab, a + b);
  });
  const newAdded = added.filter((a) => oldToNew.has(a.id)).map((a) => ({ ...a, id: oldToNew.get(a.id) as number }));

  const tokenizerJson: Record<string, unknown> = {
    ...base.tokenizerJson,
    added_tokens: newAdded,
    post_processor: remapPostProcessor(base.tokenizerJson['post_processor'], (t) => {
      const id = Object.hasOwn(newVocab, t) ? newVocab[t] : newAdded.find((a) => a.content === t)?.id;
      if (id === undefined) throw new ConfigError(`post-processor token ${JSON.stringify(t)} was dropped`, 'tokenizer.json', 'post_processor');
      return id;
    }),
    model: { ...model, vocab: newVocab, merges: newMerges },
  };
  const config: Record<string, unknown> = {
    tokenizer_class: base.config['tokenizer_class'] ?? 'PreTrainedTokenizerFast',
    bos_token: '<bos>',
    eos_token: '<eos>',
    pad_token: '<pad>',
    unk_token: '<unk>',
    mask_token: '<mask>',
    add_bos_token: true,
    add_eos_token: false,
    padding_side: 'right',
    clean_up_tokenization_spaces: false,
    model_max_length: base.config['model_max_length'] ?? 8192,
  };
  return {
    tokenizerJson,
    config,
    newToOld,
    oldToNew,
    stats: { texts: n, tokens, used: used.size, kept: newToOld.length, merges: newMerges.length },
  };
}

function splitMerge(m: string): [string, string] {
  const i = m.indexOf(' ');
  return [m.slice(0, i), m.slice(i + 1)];
}

/** TemplateProcessing and friends store special tokens with their ids: renumber them. */
function remapPostProcessor(pp: unknown, idOf: (t: string) => number): unknown {
  if (!pp || typeof pp !== 'object') return pp;
  const out = structuredClone(pp) as Record<string, unknown>;
  const st = out['special_tokens'] as Record<string, { tokens: string[]; ids: number[] }> | undefined;
  if (st) for (const v of Object.values(st)) v.ids = v.tokens.map(idOf);
  const subs = out['processors'] as unknown[] | undefined;
  if (Array.isArray(subs)) out['processors'] = subs.map((p) => remapPostProcessor(p, idOf));
  return out;
}

/** Base ids -> trimmed ids; an id the trim dropped gives undefined. */
export function remapIds(ids: readonly number[], oldToNew: ReadonlyMap<number, number>): (number | undefined)[] {
  return ids.map((id) => oldToNew.get(id));
}

/** Writes tokenizer.json, tokenizer_config.json and id_map.json (`new_to_old[newId] = baseId`) atomically. */
export async function saveTrimmedTokenizer(dir: string, r: TrimResult, provenance: Record<string, unknown> = {}): Promise<void> {
  // Compact JSON: these files are committed and loaded often.
  await writeFileAtomic(join(dir, 'tokenizer.json'), JSON.stringify(r.tokenizerJson));
  await writeJsonAtomic(join(dir, 'tokenizer_config.json'), r.config);
  await writeFileAtomic(join(dir, 'id_map.json'), JSON.stringify({ ...provenance, stats: r.stats, new_to_old: r.newToOld }) + '\n');
}
