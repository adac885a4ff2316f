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

import { parseBudgetArgs, type TrainBudget } from '../experiments/budget.js';

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

/** The magics every gemma-lab kernel has. Runtime behaviour lives in the `$nb` helpers (api.ts). */
export function defaultMagics(): MagicRegistry {
  const reg = new MagicRegistry();
  reg.addLine('time', {
    usage: '%time STATEMENT',
    doc: 'run one statement and print its wall time',
    rewrite: (args) => {
      if (!args) throw new MagicUsageError('%time needs a statement, e.g. %time const y = f(x)');
      const stmt = args.replace(/;\s*$/, '');
      return `$nb.timer.start(); ${stmt}; $nb.timer.stop();`;
    },
  });
  reg.addLine('backend', {
    usage: '%backend [auto|native|wasm|cpu|tensorflow]',
    doc: 'select/show the tfjs engine (initEngine)',
    rewrite: (args) => {
      const a = splitArgs(args);
      if (a.length > 1) throw new MagicUsageError('%backend takes at most one argument');
      return `await $nb.backend(${a[0] === undefined ? '' : lit(a[0])});`;
    },
  });
  reg.addLine('seed', {
    usage: '%seed N',
    doc: 'seed $nb.rng, Math.random and unseeded tfjs random ops',
    rewrite: (args) => {
      const a = splitArgs(args);
      if (a.length !== 1 || !/^\d+$/.test(a[0]!)) throw new MagicUsageError('%seed needs one non-negative integer, e.g. %seed 42');
      return `$nb.seed(${Number(a[0])});`;
    },
  });
  reg.addLine('load_model', {
    usage: '%load_model NAME SOURCE',
    doc: 'const NAME = await loadModel(SOURCE) (dir or hub id)',
    rewrite: (args) => {
      const a = splitArgs(args);
      if (a.length !== 2) throw new MagicUsageError('%load_model needs a variable name and a source: %load_model m ./checkpoints/tiny');
      return `const ${checkIdentifier(a[0]!, 'load_model')} = await $nb.loadModel(${lit(a[1]!)});`;
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
