/**
 * What the kernel adds to tslab's cell compiler (tslab hard-codes its compiler options and runs
 * each cell as anonymous vm code):
 *
 * - module paths: `gemma-lab` (and `gemma-lab/SUB`) resolve to this checkout's declarations, and
 *   every other bare name falls back to this checkout's node_modules. Notebooks can live anywhere
 *   (no node_modules beside them), and declaration emit can name types from those packages
 *   (without a mapping it fails with TS2742 "cannot be named without a reference to ../node_modules").
 * - source maps of both compile steps (TypeScript → ES module JS → CommonJS), kept per cell, so
 *   runtime stack frames point at the cell's own lines (`In [5]:3:7`), not the compiled code.
 *
 * The kernel wraps three functions of tslab's TypeScript fork (createWatchCompilerHost,
 * createWatchProgram, transpileModule); test/kernel/tslab-contract.test.ts pins that surface.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { createRequire, SourceMap, type SourceMapPayload } from 'node:module';
import { join } from 'node:path';
import { REPO_ROOT } from '../io/paths.js';

const require = createRequire(import.meta.url);

type Options = Record<string, unknown>;
type WriteFile = (name: string, data: string, ...rest: unknown[]) => void;
interface Builder {
  emit(file: unknown, writeFile?: WriteFile, ...rest: unknown[]): unknown;
}
interface WatchHost {
  afterProgramCreate?: (b: Builder) => void;
}
interface TsFork {
  createWatchCompilerHost(roots: string[], options: Options, ...rest: unknown[]): WatchHost;
  createWatchProgram(host: WatchHost): unknown;
  transpileModule(src: string, opts: { fileName?: string; compilerOptions?: Options }): { outputText: string; sourceMapText?: string };
}

/** A package subpath (`.` or `./experiments`) → its declaration file and its source module. */
export interface PackageEntry {
  readonly types: string;
  readonly source: string;
}

const OWN_NAME = 'gemma-lab';

/** The kernel runs dist/ (bin/gemma-lab.js) or, in tests under tsx, src/. */
const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');

/**
 * Entry points of this package for notebooks: the `exports` map when package.json has one,
 * else `.` → dist/index. Runtime modules are the files the kernel itself runs (dist/, or src/
 * under tsx): the same module instances, so `instanceof` holds between `$nb.lib()`, magics and
 * `import … from 'gemma-lab'`.
 */
export function packageEntries(root = REPO_ROOT): Map<string, PackageEntry> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports?: unknown; types?: string };
  const out = new Map<string, PackageEntry>();
  const toSource = (distJs: string) => (RUNNING_FROM_SOURCE ? join(root, distJs.replace(/^\.?\/?dist\//, 'src/').replace(/\.js$/, '.ts')) : join(root, distJs));
  const toTypes = (distJs: string) => join(root, distJs.replace(/\.js$/, '.d.ts'));
  const exp = pkg.exports;
  if (exp && typeof exp === 'object' && !Array.isArray(exp) && Object.keys(exp).every((k) => k.startsWith('.'))) {
    for (const [key, target] of Object.entries(exp as Record<string, unknown>)) {
      if (key.includes('*')) continue;
      const t = target as string | { source?: string; types?: string; import?: string; default?: string };
      const js = typeof t === 'string' ? t : (t.import ?? t.default);
      if (typeof js !== 'string' || !js.endsWith('.js')) continue;
      const source = RUNNING_FROM_SOURCE && typeof t === 'object' && t.source ? join(root, t.source) : toSource(js);
      out.set(key, { types: typeof t === 'object' && t.types ? join(root, t.types) : toTypes(js), source });
    }
  }
  if (!out.has('.')) out.set('.', { types: toTypes('dist/index.js'), source: toSource('dist/index.js') });
  return out;
}

/** `gemma-lab` → `.`, `gemma-lab/experiments` → `./experiments`; undefined for other names. */
export function ownSubpath(specifier: string): string | undefined {
  if (specifier === OWN_NAME) return '.';
  if (specifier.startsWith(`${OWN_NAME}/`)) return `./${specifier.slice(OWN_NAME.length + 1)}`;
  return undefined;
}

/** Compiler options added to tslab's: the paths described above, and source maps. */
export function extraCompilerOptions(entries = packageEntries()): Options {
  let modules = join(REPO_ROOT, 'node_modules');
  try {
    // TypeScript resolves symlinks: names must be computed against the real folder.
    modules = realpathSync(modules);
  } catch {
    /* no node_modules: nothing to map */
  }
  const paths: Record<string, string[]> = {};
  for (const [key, e] of entries) paths[key === '.' ? OWN_NAME : `${OWN_NAME}/${key.slice(2)}`] = [e.types];
  paths['*'] = ['*'];
  // Only Node's globals: the other @types packages come in where a library's types reference them.
  return { baseUrl: modules, paths, sourceMap: true, types: ['node'] };
}

/** The two source maps of the last converted cell. */
export interface CellMaps {
  esm?: string;
  cjs?: string;
}

const MAP_COMMENT = /\n?\/\/# sourceMappingURL=.*\s*$/;
let captured: CellMaps = {};
/** Options added to the next watch program tslab creates (set by withKernelCompiler). */
let pendingOptions: Options | undefined;

/**
 * tslab's modules bind the fork's exports when they load, and the fork's exports are read-only
 * getters; so the kernel puts a copy with three wrapped functions into the require cache before
 * any tslab module loads (this module is imported first wherever tslab is).
 */
function installForkWrapper(): void {
  const tslabRequire = createRequire(require.resolve('tslab/dist/converter.js'));
  const forkPath = tslabRequire.resolve('@tslab/typescript-for-tslab');
  if (require.cache[require.resolve('tslab/dist/converter.js')]) {
    throw new Error('gemma-lab kernel: tslab was loaded before src/kernel/compiler.ts; import the compiler module first');
  }
  const ts = tslabRequire(forkPath) as TsFork & Record<string, unknown>;
  if ((ts as { __gemmaLab?: boolean }).__gemmaLab) return;
  const copy: Record<string, unknown> = { __gemmaLab: true };
  for (const k of Object.keys(ts)) copy[k] = ts[k];
  const wrapped = copy as unknown as TsFork;
  wrapped.transpileModule = (src, opts) => {
    // tslab's ES module → CommonJS step names its input custom.js.
    if (opts.fileName !== 'custom.js') return ts.transpileModule(src, opts);
    const out = ts.transpileModule(src, { ...opts, compilerOptions: { ...opts.compilerOptions, sourceMap: true } });
    captured.cjs = out.sourceMapText;
    return { ...out, outputText: out.outputText.replace(MAP_COMMENT, '\n') };
  };
  wrapped.createWatchCompilerHost = (roots, opts, ...rest) => ts.createWatchCompilerHost(roots, { ...opts, ...(pendingOptions ?? {}) }, ...rest);
  wrapped.createWatchProgram = (h) => {
    if (!pendingOptions) return ts.createWatchProgram(h);
    const after = h.afterProgramCreate;
    h.afterProgramCreate = (b) => {
      const emit = b.emit.bind(b);
      b.emit = (file, writeFile, ...rest) =>
        emit(
          file,
          writeFile &&
            ((name: string, data: string, ...a: unknown[]) => {
              if (name.endsWith('__tslab__.js.map')) captured.esm = data;
              else writeFile(name, name.endsWith('.js') ? data.replace(MAP_COMMENT, '\n') : data, ...a);
            }),
          ...rest,
        );
      after?.(b);
    };
    return ts.createWatchProgram(h);
  };
  require.cache[forkPath]!.exports = wrapped;
}
installForkWrapper();

/**
 * Creates tslab's converter with our options and source-map capture. `create` must build the
 * converter synchronously (tslab's createConverter does).
 */
export function withKernelCompiler<T>(create: () => T, options: Options = extraCompilerOptions()): T {
  pendingOptions = options;
  try {
    return create();
  } finally {
    pendingOptions = undefined;
  }
}

/** Takes the maps captured since the last call (call right after a cell's convert). */
export function takeCellMaps(): CellMaps {
  const m = captured;
  captured = {};
  return m;
}

/**
 * Maps a 1-based line/column of the executed CommonJS code to the cell's TypeScript source.
 * tslab compiles `export {};\n` + cell, hence the one-line shift; its vm wrapper shares line 1.
 */
export class CellSourceMap {
  private readonly esm: SourceMap | undefined;
  private readonly cjs: SourceMap | undefined;
  constructor(maps: CellMaps) {
    const parse = (s?: string) => (s ? new SourceMap(JSON.parse(s) as SourceMapPayload) : undefined);
    this.esm = parse(maps.esm);
    this.cjs = parse(maps.cjs);
  }

  /** 1-based cell line and column, or undefined when the position is not cell code. */
  map(line: number, column: number, wrapperPrefix: number): { line: number; column: number } | undefined {
    if (!this.esm || !this.cjs) return undefined;
    const col0 = line === 1 ? column - 1 - wrapperPrefix : column - 1;
    const a = this.cjs.findEntry(line - 1, Math.max(0, col0)) as { originalLine?: number; originalColumn?: number };
    if (a.originalLine === undefined || a.originalColumn === undefined) return undefined;
    const b = this.esm.findEntry(a.originalLine, a.originalColumn) as { originalLine?: number; originalColumn?: number };
    if (b.originalLine === undefined || b.originalColumn === undefined || b.originalLine < 1) return undefined;
    return { line: b.originalLine, column: b.originalColumn + 1 };
  }
}
