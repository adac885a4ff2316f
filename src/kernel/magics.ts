/**
 * Magic commands for the gemma-lab kernel. Line magics (`%name args` on a line of its own, at column
 * 0) are rewritten into one line of TypeScript that calls the typed `$nb` helpers, so line numbers
 * of the cell stay valid and declarations made by a magic (`%load_model m …` → `const m = …`) are
 * ordinary cell declarations. Cell magics (`%%name args` as the first line) receive the body.
 * Only names in the registry are rewritten: `%` at column 0 may be TypeScript's modulo operator
 * continuing the previous line, and an unknown `%x` must stay a TypeScript syntax error.
 */

export interface LineMagic {
  readonly kind: 'line';
  readonly usage: string;
  readonly doc: string;
  /** TypeScript for one line, replacing the magic line. Throws MagicUsageError on bad args. */
  rewrite(args: string): string;
}

export interface CellMagicContext {
  /** Runs TypeScript through the cell executor (declarations persist); false when it failed. */
  execute(code: string): Promise<boolean>;
  /** Writes to the cell's stdout. */
  print(text: string): void;
  /** Emits a display_data bundle in the cell. */
  display(data: Readonly<Record<string, unknown>>): void;
}

export interface CellMagic {
  readonly kind: 'cell';
  readonly usage: string;
  readonly doc: string;
  /** Runs the cell; resolves false when the body failed (its error was already reported). */
  run(args: string, body: string, ctx: CellMagicContext): Promise<boolean>;
}

/** Bad magic name or arguments; reported to the client as ename "UsageError" like IPython. */
export class MagicUsageError extends Error {
  override readonly name = 'UsageError';
}

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseBudgetArgs, type TrainBudget } from '../experiments/budget.js';
import { isSingleExpression } from './source.js';

/** What `%load_model` / `$nb.loadModel(source, kind)` return, by checkpoint family. */
export const MODEL_KINDS = ['gemma', 't5gemma'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

/** The kind of a local checkpoint folder from its config.json `model_type`; undefined when unknown. */
export function kindOfCheckpoint(dir: string, cwd = process.cwd()): ModelKind | undefined {
  try {
    const cfg = JSON.parse(readFileSync(join(resolve(cwd, dir), 'config.json'), 'utf8')) as { model_type?: unknown };
    if (cfg.model_type === 't5gemma') return 't5gemma';
    if (typeof cfg.model_type === 'string' && /^gemma\d?(_text)?$/.test(cfg.model_type)) return 'gemma';
  } catch {
    /* not a local folder (hub id) or unreadable: loading reports it */
  }
  return undefined;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;
const LINE_MAGIC = /^%([A-Za-z_]\w*)(?:[ \t]+(.*?))?[ \t]*$/;
const CELL_MAGIC = /^%%([A-Za-z_]\w*)(?:[ \t]+(.*?))?[ \t]*$/;

export class MagicRegistry {
  readonly line = new Map<string, LineMagic>();
  readonly cell = new Map<string, CellMagic>();

  addLine(name: string, magic: Omit<LineMagic, 'kind'>): this {
    this.line.set(name, { kind: 'line', ...magic });
    return this;
  }

  addCell(name: string, magic: Omit<CellMagic, 'kind'>): this {
    this.cell.set(name, { kind: 'cell', ...magic });
    return this;
  }

  /** `%lsmagic` text. */
  list(): string {
    const fmt = (m: { usage: string; doc: string }) => `  ${m.usage.padEnd(34)} ${m.doc}`;
    return [
      'Line magics:',
      ...[...this.line.values()].map(fmt).sort(),
      'Cell magics:',
      ...[...this.cell.values()].map(fmt).sort(),
    ].join('\n');
  }
}

export type ParsedCell =
  | { readonly kind: 'code'; readonly code: string }
  | { readonly kind: 'cell'; readonly name: string; readonly args: string; readonly magic: CellMagic; readonly body: string };

/** Splits a cell into a cell-magic call or TypeScript with line magics rewritten. */
export function parseCell(src: string, registry: MagicRegistry): ParsedCell {
  const nl = src.indexOf('\n');
  const first = (nl < 0 ? src : src.slice(0, nl)).replace(/\r$/, '');
  const cm = CELL_MAGIC.exec(first);
  if (cm) {
    const name = cm[1]!;
    const magic = registry.cell.get(name);
    if (!magic) throw new MagicUsageError(`Cell magic %%${name} not found (%lsmagic lists them)`);
    // Keep line numbers of the body aligned with the cell by leaving line 1 blank.
    return { kind: 'cell', name, args: cm[2] ?? '', magic, body: nl < 0 ? '' : '\n' + src.slice(nl + 1) };
  }
  return { kind: 'code', code: rewriteLineMagics(src, registry) };
}

export function rewriteLineMagics(src: string, registry: MagicRegistry): string {
  return src
    .split('\n')
    .map((line) => {
      const m = LINE_MAGIC.exec(line.replace(/\r$/, ''));
      if (!m) return line;
      const magic = registry.line.get(m[1]!);
      return magic ? magic.rewrite(m[2] ?? '') : line;
    })
    .join('\n');
}

/**
 * Same length and line structure as `src`, with magic lines blanked: completion and inspection
 * positions sent by the frontend then stay valid for the TypeScript service.
 */
export function blankMagics(src: string, registry: MagicRegistry): string {
  const lines = src.split('\n');
  const blank = (s: string) => ' '.repeat(s.length);
  if (CELL_MAGIC.test(lines[0]!.replace(/\r$/, ''))) lines[0] = blank(lines[0]!);
  return lines
    .map((line) => {
      const m = LINE_MAGIC.exec(line.replace(/\r$/, ''));
      return m && registry.line.has(m[1]!) ? blank(line) : line;
    })
    .join('\n');
}

/** Splits magic arguments on whitespace, honouring "double" and 'single' quotes. */
export function splitArgs(args: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(args); m; m = re.exec(args)) out.push(m[1] !== undefined ? JSON.parse(`"${m[1]}"`) : (m[2] ?? m[3]!));
  return out;
}

export function checkIdentifier(name: string, magic: string): string {
  if (!IDENT.test(name)) throw new MagicUsageError(`%${magic}: '${name}' is not a valid variable name`);
  return name;
}

/** Literal for generated code: JSON is valid TypeScript and cannot break out of the string. */
export const lit = (value: string | number | null): string => JSON.stringify(value);

/** A magic argument: literal text, or a notebook expression (`$name` or `{expr}`, as in IPython). */
export type MagicArg = { readonly kind: 'literal'; readonly text: string } | { readonly kind: 'expr'; readonly code: string };

/**
 * Splits magic arguments like splitArgs, and recognises IPython's variable expansion: `$name`
 * and `{expression}` (balanced braces, may contain spaces) refer to notebook values, so
 * parameters (`gemma-lab run -p seed=1`) can drive magics: `%seed $seed`, `%load_model m {dir}`.
 */
export function magicArgs(args: string): MagicArg[] {
  const out: MagicArg[] = [];
  let i = 0;
  while (i < args.length) {
    if (/\s/.test(args[i]!)) {
      i++;
      continue;
    }
    if (args[i] === '{') {
      let depth = 0;
      let j = i;
      for (; j < args.length; j++) {
        if (args[j] === '{') depth++;
        else if (args[j] === '}' && --depth === 0) break;
      }
      if (depth !== 0) throw new MagicUsageError(`unbalanced '{' in magic arguments: ${args.slice(i)}`);
      out.push({ kind: 'expr', code: args.slice(i + 1, j).trim() });
      i = j + 1;
      continue;
    }
    const m = /^(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+))/.exec(args.slice(i))!;
    const text = m[1] !== undefined ? (JSON.parse(`"${m[1]}"`) as string) : (m[2] ?? m[3]!);
    if (m[3] !== undefined && /^\$[A-Za-z_][\w$]*$/.test(text)) out.push({ kind: 'expr', code: text.slice(1) });
    else out.push({ kind: 'literal', text });
    i += m[0].length;
  }
  return out;
}

/** Generated code for an argument: a JSON literal, or the expression in parentheses. */
const argCode = (a: MagicArg): string => (a.kind === 'expr' ? `(${a.code})` : lit(a.text));

/** The magics every gemma-lab kernel has. Runtime behaviour lives in the `$nb` helpers (api.ts). */
export function defaultMagics(): MagicRegistry {
  const reg = new MagicRegistry();
  reg.addLine('time', {
    usage: '%time STATEMENT',
    doc: 'run one statement and print its wall time',
    rewrite: (args) => {
      if (!args) throw new MagicUsageError('%time needs a statement, e.g. %time const y = f(x)');
      const stmt = args.replace(/;\s*$/, '');
      // An expression keeps its value (Out shows it, as in IPython): stop() returns its argument,
      // which is evaluated before the timer stops. A statement shows nothing (`void`).
      if (isSingleExpression(stmt)) return `$nb.timer.start(); $nb.timer.stop(${stmt});`;
      return `$nb.timer.start(); ${stmt}; void $nb.timer.stop();`;
    },
  });
  reg.addLine('backend', {
    usage: '%backend [auto|native|wasm|cpu|tensorflow]',
    doc: 'select/show the tfjs engine (initEngine)',
    rewrite: (args) => {
      const a = magicArgs(args);
      if (a.length > 1) throw new MagicUsageError('%backend takes at most one argument');
      return `await $nb.backend(${a[0] === undefined ? '' : argCode(a[0])});`;
    },
  });
  reg.addLine('seed', {
    usage: '%seed N|$var|{expr}',
    doc: 'seed $nb.rng, Math.random and unseeded tfjs random ops',
    rewrite: (args) => {
      const a = magicArgs(args);
      const bad = () => new MagicUsageError('%seed needs one non-negative integer or a notebook value, e.g. %seed 42 or %seed $seed');
      if (a.length !== 1) throw bad();
      const arg = a[0]!;
      if (arg.kind === 'expr') return `$nb.seed(${argCode(arg)});`;
      // A bare name cannot be a number: it is the notebook variable (`%seed seed`).
      if (/^[A-Za-z_$][\w$]*$/.test(arg.text)) return `$nb.seed(${arg.text});`;
      if (!/^\d+$/.test(arg.text)) throw bad();
      return `$nb.seed(${Number(arg.text)});`;
    },
  });
  reg.addLine('load_model', {
    usage: '%load_model NAME SOURCE|$var [--kind gemma|t5gemma]',
    doc: 'const NAME = await loadModel(SOURCE), typed by its kind',
    rewrite: (args) => {
      const a = magicArgs(args);
      const usage = '%load_model needs a variable name and a source: %load_model m ./checkpoints/tiny (or $dir, {expr}; --kind t5gemma)';
      let kind: ModelKind | undefined;
      const k = a.findIndex((x) => x.kind === 'literal' && x.text === '--kind');
      if (k >= 0) {
        const v = a[k + 1];
        if (v?.kind !== 'literal' || !MODEL_KINDS.includes(v.text as ModelKind)) throw new MagicUsageError(`%load_model --kind takes one of ${MODEL_KINDS.join(', ')}`);
        kind = v.text as ModelKind;
        a.splice(k, 2);
      }
      const [name, source] = a;
      if (a.length !== 2 || name?.kind !== 'literal' || !source) throw new MagicUsageError(usage);
      // The result is typed by the kind: given, else read from a literal folder's config.json,
      // else decoder-only Gemma (checked when loading, with an error naming --kind).
      kind ??= (source.kind === 'literal' ? kindOfCheckpoint(source.text) : undefined) ?? 'gemma';
      return `const ${checkIdentifier(name.text, 'load_model')} = await $nb.loadModel(${argCode(source)}, ${lit(kind)});`;
    },
  });
  reg.addLine('lsmagic', {
    usage: '%lsmagic',
    doc: 'list magics',
    rewrite: (args) => {
      if (args) throw new MagicUsageError('%lsmagic takes no arguments');
      return `$nb.lsmagic();`;
    },
  });
  reg.addCell('time', {
    usage: '%%time',
    doc: 'run the cell and print its wall time',
    run: async (args, body, ctx) => {
      if (args) throw new MagicUsageError('%%time takes no arguments');
      const t0 = performance.now();
      const ok = await ctx.execute(rewriteLineMagics(body, reg));
      ctx.print(`Wall time: ${formatMs(performance.now() - t0)}\n`);
      return ok;
    },
  });
  const sweep = (magic: 'glue' | 'ablate', args: string, body: string): string => {
    const [name, tasks, ...opts] = splitArgs(args);
    if (!name || !tasks) throw new MagicUsageError(`%%${magic} needs a result name and task(s): %%${magic} NAME TASK[,TASK...] [steps=N ...]`);
    let budget: TrainBudget;
    try {
      budget = parseBudgetArgs(opts, `%%${magic}`);
    } catch (e) {
      throw new MagicUsageError((e as Error).message);
    }
    if (!body.trim()) throw new MagicUsageError(`%%${magic}: the cell body must be the setup object (see %lsmagic)`);
    const list = tasks.split(',').filter(Boolean);
    // Body lines keep their line numbers: the call opens on line 1 and closes after the body.
    return `const ${checkIdentifier(name, magic)} = await $nb.${magic}(${JSON.stringify(list)}, ${JSON.stringify(budget)}, (${body}\n));`;
  };
  reg.addCell('glue', {
    usage: '%%glue NAME TASKS [steps=N trainLimit=N …]',
    doc: 'fine-tune per GLUE task; body: { encoder: (task, spec) => …, tokenizer }',
    run: (args, body, ctx) => ctx.execute(rewriteLineMagics(sweep('glue', args, body), reg)),
  });
  reg.addCell('ablate', {
    usage: '%%ablate NAME TASKS [steps=N …]',
    doc: 'one fine-tune per variant; body: { variants: { label: factory }, tokenizer }',
    run: (args, body, ctx) => ctx.execute(rewriteLineMagics(sweep('ablate', args, body), reg)),
  });
  reg.addCell('html', {
    usage: '%%html',
    doc: 'display the cell body as HTML',
    run: async (args, body, ctx) => {
      if (args) throw new MagicUsageError('%%html takes no arguments');
      ctx.display({ 'text/html': body.replace(/^\n/, ''), 'text/plain': '<HTML>' });
      return true;
    },
  });
  return reg;
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
