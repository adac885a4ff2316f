/**
 * The gemma-lab kernel core, independent of the transport: tslab's converter + executor (TypeScript
 * 5.0 type-check, CommonJS emit, cross-cell declarations), our magics, rich `execute_result` and
 * `error` messages. Used by the ZMQ server (server.ts) and by the in-process runner (`gemma-lab run`).
 *
 * tslab 1.0.22 is pinned and used through deep imports (dist/*, no `exports` map); the surface we
 * rely on is covered by test/kernel/tslab-contract.test.ts.
 */
// First: the compiler module must see tslab's TypeScript before tslab's modules load.
import { CellSourceMap, ownSubpath, packageEntries, takeCellMaps, withKernelCompiler, type PackageEntry } from './compiler.js';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import type { Converter } from 'tslab/dist/converter.js';
import type { Executor } from 'tslab/dist/executor.js';
import { REPO_ROOT } from '../io/paths.js';
import { bundleOf, createNotebookApi, ensureEngine, useMagicRegistry, type NotebookApi } from './api.js';
import { History, type HistoryReply, type HistoryRequest } from './history.js';
import { interruptAll, withCellSignal } from './interrupt.js';
import { blankMagics, defaultMagics, MagicUsageError, parseCell, type MagicRegistry } from './magics.js';
import { outputSink, routeProcessStreams, withOutputSink, type ErrorContent, type MimeBundle, type OutputSink } from './output.js';
import { preciseNow } from './precise-time.js';
import { endsInsideTemplateOrComment, expandShorthand } from './source.js';
import { OWN_VERSION, TS_VERSION, TSLAB_VERSION } from './versions.js';

export interface ExecuteRequest {
  readonly code: string;
  readonly silent?: boolean;
  readonly store_history?: boolean;
  readonly stop_on_error?: boolean;
  /** Name → expression, evaluated after a successful cell (Jupyter messaging spec). */
  readonly user_expressions?: Readonly<Record<string, string>>;
  /**
   * When the client sent the request, on this process's clock (`preciseNow`; from the
   * message header's `date`). Decides whether a request that arrives after a failure was sent
   * before the client could have seen it (then it is aborted, see `submit`).
   */
  readonly sentAt?: number;
}

export type UserExpressionResult =
  | { readonly status: 'ok'; readonly data: MimeBundle; readonly metadata: Record<string, unknown> }
  | ({ readonly status: 'error' } & ErrorContent);

export type ExecuteReply =
  | { readonly status: 'ok'; readonly execution_count: number; readonly user_expressions: Record<string, UserExpressionResult> }
  | ({ readonly status: 'error'; readonly execution_count: number } & ErrorContent)
  | { readonly status: 'aborted'; readonly execution_count?: number };

const require = createRequire(import.meta.url);
// Required at run time, after compiler.ts (an ES import of CommonJS may load before it).
const { createConverter, isCompleteCode } = require('tslab/dist/converter.js') as typeof import('tslab/dist/converter.js');
const { createExecutor } = require('tslab/dist/executor.js') as typeof import('tslab/dist/executor.js');

/** Where the prelude takes `$nb`'s declared type from: the build's .d.ts (see README "Kernel"). */
export const API_TYPES = join(REPO_ROOT, 'dist', 'kernel', 'api.d.ts');

function prelude(): string {
  // Declarations made here are carried by tslab into every later cell (prevDecl), so cells see
  // typed names. The value comes from globalThis because the kernel loaded these modules as ESM.
  const typed = existsSync(API_TYPES);
  const dist = (name: string) => JSON.stringify(join(REPO_ROOT, 'dist', 'kernel', name));
  const pkg = (name: string) => JSON.stringify(join(REPO_ROOT, 'node_modules', name));
  return [
    ...(typed ? [`import type * as lib from ${dist('lib.js')};`] : []),
    `const $nb: ${typed ? `import(${dist('api.js')}).NotebookApi` : 'any /* run `npm run build` for typed helpers */'} = (globalThis as any).$nb;`,
    // Absolute paths: the notebook's folder (tslab's rootDir) may have no node_modules of its own.
    `const tf: typeof import(${pkg('@tensorflow/tfjs-core')}) = $nb.tf;`,
    `const aq: typeof import(${pkg('arquero')}) = $nb.aq;`,
    'const plots = $nb.plots;',
    'const sharedDataPath = $nb.paths.sharedDataPath;',
  ].join('\n');
}

interface CellState {
  /** `silent` requests show no execute_input/execute_result (Jupyter messaging spec). */
  silent?: boolean;
  error?: ErrorContent;
  pending: Promise<void>[];
  /** Set while evaluating user_expressions: receives the value instead of an execute_result. */
  capture?: (value: unknown) => void;
}

/** A compiled cell: its source map and the length of tslab's vm wrapper before its first line. */
interface CompiledCell {
  readonly label: string;
  readonly code: string;
  readonly map: CellSourceMap;
  readonly prefix: number;
  /** Lines of compiled code; frames below them are tslab's wrapper call. */
  readonly lines: number;
}

/** tslab's vm wrapper (executor.js): the cell's first line follows it on line 1. */
const WRAPPER_PREFIX = { sync: '(function(exports, require) { '.length, async: '(async function(exports, require) { '.length };
const CELL_URL = /gemma-lab-cell-(\d+)\.ts:(\d+):(\d+)/;
/** Stack frames of the kernel's own plumbing (tslab, vm, async hooks, our kernel and CLI). */
const INTERNAL_FRAME = /node_modules[\\/](tslab|tsx)[\\/]|[\\/]src[\\/](kernel|cli)[\\/]|[\\/]bin[\\/]gemma-lab\.js|\(node:|at node:|evalmachine\.<anonymous>|AsyncLocalStorage\.run|new Promise \(<anonymous>\)/;

export class NotebookKernel {
  readonly magics: MagicRegistry;
  readonly api: NotebookApi;
  readonly history = new History();
  executionCount = 0;
  private readonly converter: Converter;
  private readonly executor: Executor;
  private queue: Promise<unknown> = Promise.resolve();
  private failures = 0;
  /** When the last stop_on_error failure was reported (ms since the epoch). */
  private failedAt = -Infinity;
  private cell: CellState = { pending: [] };
  private sink: OutputSink | undefined;
  private readonly restoreStreams: () => void;
  /** Source maps of compiled cells by sourceURL number (one per compile). */
  private readonly compiled = new Map<number, CompiledCell>();
  private compileSeq = 0;
  private cellLabel = 'In [ ]';
  private readonly entries: Map<string, PackageEntry>;
  private readonly ownModules = new Map<string, unknown>();

  constructor(opts: { cwd?: string; magics?: MagicRegistry } = {}) {
    this.magics = opts.magics ?? defaultMagics();
    this.api = createNotebookApi();
    useMagicRegistry(this.magics);
    (globalThis as { $nb?: NotebookApi }).$nb = this.api;
    this.restoreStreams = routeProcessStreams();
    this.entries = packageEntries();
    this.converter = withKernelCompiler(() => createConverter({ isJS: false, isBrowser: false }));
    const converter = this.converter;
    const convert: Converter['convert'] = (prevDecl, src) => {
      const out = converter.convert(prevDecl, src);
      const maps = takeCellMaps();
      if (!out.output) return out;
      // A sourceURL names the cell in stack frames; the maps lead back to its TypeScript lines.
      const n = ++this.compileSeq;
      const prefix = out.hasToplevelAwait ? WRAPPER_PREFIX.async : WRAPPER_PREFIX.sync;
      const output = out.output.replace(/\n*$/, '');
      this.compiled.set(n, { label: this.cellLabel, code: src, map: new CellSourceMap(maps), prefix, lines: output.split('\n').length });
      return { ...out, output: `${output}\n//# sourceURL=gemma-lab-cell-${n}.ts\n` };
    };
    const convs = {
      node: { ...converter, convert },
      get browser(): Converter {
        throw new Error('browser cells (//%browser) are not supported by gemma-lab');
      },
      close: () => converter.close(),
    };
    // The executor's console receives only its own output: the last expression's value (log) and
    // runtime errors / TypeScript diagnostics (error). Cell console.log goes to process.stdout.
    this.executor = createExecutor(opts.cwd ?? process.cwd(), convs, {
      log: (value: unknown) => this.onResult(value),
      error: (first: unknown, ...rest: unknown[]) => this.onError(first, rest),
    });
    this.hookRequire();
    // Stock tslab's display API (`import * as tslab from "tslab"; tslab.display.html(…)`) writes
    // through this hook, which only tslab's own server sets.
    (require('tslab/dist/jupyter.js') as { lastWriteDisplayData: unknown }).lastWriteDisplayData = (content: { data: MimeBundle; metadata?: Record<string, unknown>; transient?: { display_id: string } }, update: boolean) =>
      outputSink().send({ type: update ? 'update_display_data' : 'display_data', content: { data: content.data, metadata: content.metadata ?? {}, ...(content.transient ? { transient: content.transient } : {}) } });
  }

  /**
   * `require('gemma-lab')` (what `import … from 'gemma-lab'` compiles to) returns the modules this
   * kernel runs, loaded before the cell (see `preloadOwnImports`), never a second copy from dist/.
   */
  private hookRequire(): void {
    const slot = (globalThis as unknown as { __tslab__: { require: NodeJS.Require } }).__tslab__;
    const inner = slot.require;
    const own = this.ownModules;
    slot.require = new Proxy(inner, {
      apply(target, thisArg, args: unknown[]) {
        const sub = typeof args[0] === 'string' && args.length === 1 ? ownSubpath(args[0]) : undefined;
        if (sub !== undefined && own.has(sub)) return own.get(sub);
        return Reflect.apply(target, thisArg, args) as unknown;
      },
    });
  }

  /** Loads the `gemma-lab[/SUB]` modules a cell imports (ES modules load asynchronously). */
  private async preloadOwnImports(code: string): Promise<void> {
    if (!code.includes('gemma-lab')) return;
    const re = /(?:from\s+|import\s*\(\s*|require\s*\(\s*|import\s+)(['"])(gemma-lab(?:\/[\w./-]+)?)\1/g;
    for (const m of code.matchAll(re)) {
      const sub = ownSubpath(m[2]!);
      if (sub === undefined || this.ownModules.has(sub)) continue;
      const entry = this.entries.get(sub);
      if (!entry) continue; // TypeScript reports the unknown subpath
      await ensureEngine();
      this.ownModules.set(sub, await import(pathToFileURL(entry.source).href));
    }
  }

  /** Runs the prelude. Output before the first cell goes to the kernel's own stderr. */
  async init(): Promise<void> {
    // `tf` works in the first cell without `%backend` (the default engine; `%backend` switches).
    await ensureEngine();
    const ok = await this.executor.execute(prelude());
    if (!ok) throw new Error(`gemma-lab kernel prelude failed: ${this.cell.error?.evalue ?? 'unknown error'}`);
    this.cell = { pending: [] };
  }

  get versions(): Record<string, string> {
    return { 'gemma-lab': OWN_VERSION, tslab: TSLAB_VERSION, typescript: TS_VERSION, node: process.versions.node };
  }

  get typescriptVersion(): string {
    return TS_VERSION;
  }

  /**
   * Queues a request. With `stop_on_error` (the default) a failing cell aborts, like IPython, the
   * requests the client sent before it could see the failure: those queued behind it, and those
   * still in transit whose `sentAt` is before the error was reported ("Run All" sends every cell at
   * once, some arrive after a fast cell already failed). Requests sent after the client saw the
   * error run; `stop_on_error: false` (nbconvert --allow-errors) never aborts.
   */
  submit(req: ExecuteRequest, sink: OutputSink): Promise<ExecuteReply> {
    const failuresBefore = this.failures;
    const task = this.queue.then(async (): Promise<ExecuteReply> => {
      if (this.failures !== failuresBefore || (req.sentAt !== undefined && req.sentAt <= this.failedAt)) return { status: 'aborted' };
      const reply = await this.execute(req, sink);
      if (reply.status === 'error' && req.stop_on_error !== false) {
        this.failures++;
        this.failedAt = preciseNow();
      }
      return reply;
    });
    this.queue = task.catch(() => undefined);
    return task;
  }

  /** Executes one cell now (the caller serialises). */
  async execute(req: ExecuteRequest, sink: OutputSink): Promise<ExecuteReply> {
    const silent = req.silent === true;
    const count = silent ? this.executionCount : ++this.executionCount;
    this.sink = sink;
    if (!silent) sink.send({ type: 'execute_input', content: { code: req.code, execution_count: count } });
    if (!silent && req.store_history !== false) this.history.add(count, req.code);
    this.cell = { pending: [], silent };
    this.cellLabel = silent ? 'In [ ]' : `In [${count}]`;
    let ok: boolean;
    try {
      ok = await withOutputSink(sink, () => withCellSignal(() => this.run(req.code)));
      await this.settle();
    } catch (e) {
      this.cell.error ??= this.errorContent(e);
      ok = false;
    }
    const error = this.cell.error;
    if (ok && !error) {
      const user_expressions = req.user_expressions ? await this.userExpressions(req.user_expressions) : {};
      return { status: 'ok', execution_count: count, user_expressions };
    }
    const content = error ?? { ename: 'Error', evalue: 'cell failed', traceback: ['Error: cell failed'] };
    sink.send({ type: 'error', content });
    return { status: 'error', execution_count: count, ...content };
  }

  /** Evaluates each expression silently (no output, no history) into a MIME bundle or an error. */
  private async userExpressions(exprs: Readonly<Record<string, string>>): Promise<Record<string, UserExpressionResult>> {
    const out: Record<string, UserExpressionResult> = {};
    const label = this.cellLabel;
    for (const [name, expr] of Object.entries(exprs)) {
      let value: unknown;
      this.cell = { pending: [], silent: true, capture: (v) => (value = v) };
      this.cellLabel = 'user expression';
      let ok: boolean;
      try {
        ok = await withCellSignal(() => this.executor.execute(`(${expandShorthand(expr)}\n)`));
      } catch (e) {
        this.cell.error ??= this.errorContent(e);
        ok = false;
      }
      const error = this.cell.error;
      if (ok && !error) {
        const b = await bundleOf(value);
        out[name] = { status: 'ok', data: b.data, metadata: b.metadata };
      } else out[name] = { status: 'error', ...(error ?? { ename: 'Error', evalue: 'failed', traceback: [] }) };
    }
    this.cell = { pending: [] };
    this.cellLabel = label;
    return out;
  }

  private async run(code: string): Promise<boolean> {
    const parsed = parseCell(code, this.magics);
    const execute = async (src: string): Promise<boolean> => {
      await this.preloadOwnImports(src);
      return this.executor.execute(expandShorthand(src));
    };
    if (parsed.kind === 'code') return execute(parsed.code);
    return parsed.magic.run(parsed.args, parsed.body, {
      execute: async (body) => {
        const ok = await execute(body);
        await this.settle();
        return ok;
      },
      print: (text) => this.sink?.stream('stdout', text),
      display: (data) => this.sink?.send({ type: 'display_data', content: { data, metadata: {} } }),
    });
  }

  private async settle(): Promise<void> {
    while (this.cell.pending.length) await Promise.all(this.cell.pending.splice(0));
  }

  private onResult(value: unknown): void {
    if (this.cell.capture) return this.cell.capture(value);
    if (this.cell.silent) return;
    const sink = this.sink;
    const count = this.executionCount;
    const cell = this.cell;
    cell.pending.push(
      bundleOf(value).then(
        (b) => {
          sink?.send({ type: 'execute_result', content: { ...b, execution_count: count } });
          const plain = b.data['text/plain'];
          if (typeof plain === 'string') this.history.setOutput(count, plain);
        },
        (e: unknown) => {
          cell.error = this.errorContent(e);
        },
      ),
    );
  }

  private onError(first: unknown, rest: unknown[]): void {
    // tslab reports TypeScript diagnostics as ("%s%d:%d - %s", file, line, col, message), one call each.
    if (typeof first === 'string' && first.startsWith('%s%d:%d - %s')) {
      const [file, line, col, message] = rest as [string, number, number, string];
      const text = `${file}${line}:${col} - ${message}`;
      const prev = this.cell.error;
      this.cell.error =
        prev?.ename === 'TSError'
          ? { ename: 'TSError', evalue: `${prev.evalue}\n${text}`, traceback: [...prev.traceback, text] }
          : { ename: 'TSError', evalue: text, traceback: [`TSError: ${text}`] };
      return;
    }
    this.cell.error = this.errorContent(first);
  }

  /**
   * Error → Jupyter `error` content. Stack frames in cell code name the cell and its own line
   * (`at f (In [5]:3:9)`), frames of the kernel's plumbing are dropped, and the failing line of
   * the innermost cell frame is quoted.
   */
  errorContent(e: unknown): ErrorContent {
    if (e instanceof MagicUsageError) return { ename: 'UsageError', evalue: e.message, traceback: [`UsageError: ${e.message}`] };
    if (!(e instanceof Error)) {
      const text = inspect(e);
      return { ename: 'Error', evalue: text, traceback: [`Uncaught ${text}`] };
    }
    const lines = (e.stack ?? `${e.name}: ${e.message}`).split('\n');
    // Node prefixes errors thrown by vm code with "file:line", the source line and a caret.
    const head = lines.findIndex((l) => l.startsWith(`${e.name}:`) || l === e.name || l.startsWith(`${e.constructor.name}:`));
    const body = head > 0 ? lines.slice(head) : lines;
    const frameAt = body.findIndex((l) => /^\s+at /.test(l));
    const message = frameAt < 0 ? body : body.slice(0, frameAt);
    const frames = frameAt < 0 ? [] : body.slice(frameAt);
    let context: string | undefined;
    const mapped: string[] = [];
    for (const f of frames) {
      const m = CELL_URL.exec(f);
      if (m) {
        const cell = this.compiled.get(Number(m[1]));
        if (!cell || Number(m[2]) > cell.lines) continue;
        const pos = cell.map.map(Number(m[2]), Number(m[3]), cell.prefix);
        if (!pos) continue;
        context ??= `${cell.label}, line ${pos.line}:\n    ${(cell.code.split('\n')[pos.line - 1] ?? '').trim()}`;
        // Functions of earlier cells are called through tslab's exports Proxy.
        mapped.push(f.replace(CELL_URL, `${cell.label}:${pos.line}:${pos.column}`).replace(/\bat Proxy\./, 'at '));
      } else if (!INTERNAL_FRAME.test(f)) mapped.push(f);
    }
    return { ename: e.name, evalue: e.message, traceback: [...message, ...mapped, ...(context ? [context] : [])] };
  }

  isComplete(code: string): { status: 'complete' } | { status: 'incomplete'; indent: string } {
    const src = blankMagics(code, this.magics);
    if (endsInsideTemplateOrComment(src)) return { status: 'incomplete', indent: '' };
    const res = isCompleteCode(src);
    return res.completed ? { status: 'complete' } : { status: 'incomplete', indent: res.indent ?? '' };
  }

  inspect(code: string, cursor: number): ReturnType<Executor['inspect']> {
    return this.executor.inspect(blankMagics(code, this.magics), cursor);
  }

  complete(code: string, cursor: number): ReturnType<Executor['complete']> {
    return this.executor.complete(blankMagics(code, this.magics), cursor);
  }

  historyRequest(req: HistoryRequest): HistoryReply {
    return this.history.query(req);
  }

  /** SIGINT: stops a synchronous cell (breakOnSigint), rejects an awaiting one, aborts `$nb.signal`. */
  interrupt(): void {
    interruptAll();
    this.executor.interrupt();
  }

  close(): void {
    this.restoreStreams();
    this.executor.close();
  }
}
