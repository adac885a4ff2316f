/**
 * JSON Lines reader for SuperGLUE files: one object per line, parsed line by line so an error
 * names its line. Blank lines inside the file are errors (Python's json.loads fails on them too);
 * a missing final newline is fine (AX-g has none).
 */
import { DataFileError } from '../errors.js';
import { readTextLines } from './tsv.js';

export interface JsonRecord {
  readonly line: number;
  readonly value: Readonly<Record<string, unknown>>;
}

export async function readJsonl(file: string): Promise<JsonRecord[]> {
  const out: JsonRecord[] = [];
  for (const { line, text } of await readTextLines(file)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new DataFileError(`invalid JSON: ${(err as Error).message}`, file, line, { cause: err });
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new DataFileError('expected a JSON object', file, line);
    }
    out.push({ line, value: value as Record<string, unknown> });
  }
  return out;
}

/** Typed field access for one record; every failure is a DataFileError naming file:line and field. */
export class Fields {
  constructor(
    readonly file: string,
    readonly line: number,
    private readonly obj: Readonly<Record<string, unknown>>,
    private readonly path = '',
  ) {}

  private fail(key: string, what: string): never {
    throw new DataFileError(`field '${this.path}${key}' ${what}`, this.file, this.line);
  }

  has(key: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.obj, key);
  }

  private get(key: string): unknown {
    if (!this.has(key)) this.fail(key, 'is missing');
    return this.obj[key];
  }

  string(key: string): string {
    const v = this.get(key);
    if (typeof v !== 'string') this.fail(key, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  int(key: string): number {
    const v = this.get(key);
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(key, `must be an integer, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string): boolean {
    const v = this.get(key);
    if (typeof v !== 'boolean') this.fail(key, `must be a boolean, got ${JSON.stringify(v)}`);
    return v;
  }

  /** One of the allowed strings (label values). */
  oneOf<T extends string>(key: string, allowed: readonly T[]): T {
    const v = this.string(key);
    if (!(allowed as readonly string[]).includes(v)) this.fail(key, `has unknown value ${JSON.stringify(v)} (expected ${allowed.join(' | ')})`);
    return v as T;
  }

  object(key: string): Fields {
    const v = this.get(key);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(key, 'must be an object');
    return new Fields(this.file, this.line, v as Record<string, unknown>, `${this.path}${key}.`);
  }

  array(key: string): Fields[] {
    const v = this.get(key);
    if (!Array.isArray(v)) this.fail(key, 'must be an array');
    return v.map((item, i) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) this.fail(`${key}[${i}]`, 'must be an object');
      return new Fields(this.file, this.line, item as Record<string, unknown>, `${this.path}${key}[${i}].`);
    });
  }
}
