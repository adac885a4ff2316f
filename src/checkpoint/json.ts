/**
 * A strict RFC 8259 JSON parser for untrusted headers (safetensors, shard indexes).
 *
 * Why not JSON.parse: it silently keeps the last of duplicate keys, rounds integers above 2^53,
 * and yields objects whose `__proto__` key is a trap for later copies. This parser keeps numbers as
 * their source text, returns objects as Maps, rejects duplicate keys, and caps nesting depth
 * (serde_json's limit, 128) so a hostile header cannot overflow the stack.
 */

export type JsonValue =
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'number'; readonly raw: string }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'null' }
  | { readonly kind: 'array'; readonly items: readonly JsonValue[] }
  | { readonly kind: 'object'; readonly entries: ReadonlyMap<string, JsonValue> };

export class StrictJsonError extends Error {
  constructor(
    message: string,
    readonly position: number,
    /** Set for duplicate keys: the repeated key. */
    readonly duplicateKey?: string,
  ) {
    super(`${message} at position ${position}`);
    this.name = 'StrictJsonError';
  }
}

const MAX_DEPTH = 128;

export function parseStrictJson(text: string): JsonValue {
  let pos = 0;

  const fail = (msg: string, at = pos): never => {
    throw new StrictJsonError(msg, at);
  };
  const skipWs = (): void => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else return;
    }
  };
  const expect = (s: string): void => {
    if (text.startsWith(s, pos)) pos += s.length;
    else fail(`expected '${s}'`);
  };

  const parseString = (): string => {
    const start = pos;
    pos++; // opening quote
    let out = '';
    let runStart = pos;
    for (;;) {
      if (pos >= text.length) fail('unterminated string', start);
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(runStart, pos);
        pos++;
        break;
      }
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        out += text.slice(runStart, pos);
        const e = text[pos + 1];
        pos += 2;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const hex = text.slice(pos, pos + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape', pos - 2);
            out += String.fromCharCode(parseInt(hex, 16));
            pos += 4;
            break;
          }
          default:
            fail('bad escape', pos - 2);
        }
        runStart = pos;
        continue;
      }
      pos++;
    }
    // serde_json rejects lone surrogates from \u escapes; so do we (the text itself is valid UTF-8).
    if (!isWellFormedUnicode(out)) fail('lone surrogate in string', start);
    return out;
  };

  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

  /** After a member or element: true past the closing bracket, false past a comma. */
  const closes = (close: '}' | ']'): boolean => {
    skipWs();
    if (text[pos] === ',') {
      pos++;
      return false;
    }
    if (text[pos] !== close) fail(`expected ',' or '${close}'`);
    pos++;
    return true;
  };

  const parseValue = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    skipWs();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const entries = new Map<string, JsonValue>();
      skipWs();
      if (text[pos] === '}') {
        pos++;
        return { kind: 'object', entries };
      }
      for (;;) {
        skipWs();
        if (text[pos] !== '"') fail('expected a string key');
        const keyAt = pos;
        const key = parseString();
        if (entries.has(key)) throw new StrictJsonError(`duplicate key ${JSON.stringify(key)}`, keyAt, key);
        skipWs();
        expect(':');
        entries.set(key, parseValue(depth + 1));
        if (closes('}')) return { kind: 'object', entries };
      }
    }
    if (c === '[') {
      pos++;
      const items: JsonValue[] = [];
      skipWs();
      if (text[pos] === ']') {
        pos++;
        return { kind: 'array', items };
      }
      for (;;) {
        items.push(parseValue(depth + 1));
        if (closes(']')) return { kind: 'array', items };
      }
    }
    if (c === '"') return { kind: 'string', value: parseString() };
    if (text.startsWith('true', pos)) {
      pos += 4;
      return { kind: 'bool', value: true };
    }
    if (text.startsWith('false', pos)) {
      pos += 5;
      return { kind: 'bool', value: false };
    }
    if (text.startsWith('null', pos)) {
      pos += 4;
      return { kind: 'null' };
    }
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (m) {
      pos += m[0].length;
      return { kind: 'number', raw: m[0] };
    }
    return fail(pos >= text.length ? 'unexpected end of input' : `unexpected character ${JSON.stringify(text[pos])}`);
  };

  const value = parseValue(0);
  skipWs();
  if (pos !== text.length) fail('trailing characters after JSON value');
  return value;
}

const U64_MAX = (1n << 64n) - 1n;

/** A JSON number that is a plain non-negative integer literal fitting u64 (serde's usize on 64-bit), else undefined. */
export function asU64(v: JsonValue): bigint | undefined {
  if (v.kind !== 'number' || !/^(?:0|[1-9][0-9]*)$/.test(v.raw)) return undefined;
  const n = BigInt(v.raw);
  return n <= U64_MAX ? n : undefined;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** False when the string holds a lone UTF-16 surrogate (it could not be written as UTF-8). */
export function isWellFormedUnicode(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}
