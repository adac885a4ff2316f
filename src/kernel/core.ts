/**
 * The gemma-lab kernel core, independent of the transport: tslab's converter + executor (TypeScript
 * 5.0 type-check, CommonJS emit, cross-cell declarations), our magics, rich `execute_result` and
 * `error` messages. Used by the ZMQ server (server.ts) and by the in-process runner (`gemma-lab run`).
 *
 * tslab 1.0.22 is pinned and used through deep imports (dist/*, no `exports` map); the surface we
 * rely on is covered by test/kernel/tslab-contract.test.ts.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { createConverter, isCompleteCode, type Converter } from 'tslab/dist/converter.js';
import { createExecutor, type Executor } from 'tslab/dist/executor.js';
import { REPO_ROOT } from '../io/paths.js';
import { bundleOf, createNotebookApi, ensureEngine, useMagicRegistry, type NotebookApi } from './api.js';
import { interruptAll, withCellSignal } from './interrupt.js';
import { blankMagics, defaultMagics, MagicUsageError, parseCell, type MagicRegistry } from './magics.js';
import { routeProcessStreams, withOutputSink, type ErrorContent, type OutputSink } from './output.js';

export interface ExecuteRequest {
  readonly code: string;
  readonly silent?: boolean;
  readonly store_history?: boolean;
  readonly stop_on_error?: boolean;
}

export type ExecuteReply =
  | { readonly status: 'ok'; readonly execution_count: number }
  | ({ readonly status: 'error'; readonly execution_count: number } & ErrorContent)
  | { readonly status: 'abort'; readonly execution_count?: number };

const require = createRequire(import.meta.url);
const TSLAB_VERSION: string = require('tslab/package.json').version;
const TS_VERSION: string = require('@tslab/typescript-for-tslab/package.json').version;
const OWN_VERSION: string = require('../../package.json').version;

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
}

export class NotebookKernel {
  readonly magics: MagicRegistry;
  readonly api: NotebookApi;
  executionCount = 0;
  private readonly converter: Converter;
  private readonly executor: Executor;
  private queue: Promise<unknown> = Promise.resolve();
  private failures = 0;
  private cell: CellState = { pending: [] };
  private sink: OutputSink | undefined;
  private readonly restoreStreams: () => void;

  constructor(opts: { cwd?: string; magics?: MagicRegistry } = {}) {
    this.magics = opts.magics ?? defaultMagics();
    this.api = createNotebookApi();
    useMagicRegistry(this.magics);
    (globalThis as { $nb?: NotebookApi }).$nb = this.api;
    this.restoreStreams = routeProcessStreams();
    this.converter = createConverter({ isJS: false, isBrowser: false });
    const converter = this.converter;
    const convs = {
      node: converter,
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
   * Queues a request. With `stop_on_error` (the default) a failing cell aborts the requests that
   * were already queued behind it, like IPython; `stop_on_error: false` (nbconvert --allow-errors)
   * lets them run. Requests arriving after the failure run normally (tslab instead aborted
   * everything for 200 ms after an error).
   */
  submit(req: ExecuteRequest, sink: OutputSink): Promise<ExecuteReply> {
    const failuresBefore = this.failures;
    const task = this.queue.then(async (): Promise<ExecuteReply> => {
      if (this.failures !== failuresBefore) return { status: 'abort' };
      const reply = await this.execute(req, sink);
      if (reply.status === 'error' && req.stop_on_error !== false) this.failures++;
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
    this.cell = { pending: [], silent };
    let ok: boolean;
    try {
      ok = await withOutputSink(sink, () => withCellSignal(() => this.run(req.code)));
      await this.settle();
    } catch (e) {
      this.cell.error ??= errorContent(e);
      ok = false;
    }
    const error = this.cell.error;
    if (ok && !error) return { status: 'ok', execution_count: count };
    const content = error ?? { ename: 'Error', evalue: 'cell failed', traceback: ['Error: cell failed'] };
    sink.send({ type: 'error', content });
    return { status: 'error', execution_count: count, ...content };
  }

  private async run(code: string): Promise<boolean> {
    const parsed = parseCell(code, this.magics);
    if (parsed.kind === 'code') return this.executor.execute(parsed.code);
    return parsed.magic.run(parsed.args, parsed.body, {
      execute: async (body) => {
        const ok = await this.executor.execute(body);
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
    if (this.cell.silent) return;
    const sink = this.sink;
    const count = this.executionCount;
    const cell = this.cell;
    cell.pending.push(
      bundleOf(value).then(
        (b) => sink?.send({ type: 'execute_result', content: { ...b, execution_count: count } }),
        (e: unknown) => {
          cell.error = errorContent(e);
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
    this.cell.error = errorContent(first);
  }

  isComplete(code: string): { status: 'complete' } | { status: 'incomplete'; indent: string } {
    const res = isCompleteCode(blankMagics(code, this.magics));
    return res.completed ? { status: 'complete' } : { status: 'incomplete', indent: res.indent ?? '' };
  }

  inspect(code: string, cursor: number): ReturnType<Executor['inspect']> {
    return this.executor.inspect(blankMagics(code, this.magics), cursor);
  }

  complete(code: string, cursor: number): ReturnType<Executor['complete']> {
    return this.executor.complete(blankMagics(code, this.magics), cursor);
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

export function errorContent(e: unknown): ErrorContent {
  if (e instanceof MagicUsageError) return { ename: 'UsageError', evalue: e.message, traceback: [`UsageError: ${e.message}`] };
  if (e instanceof Error) {
    const stack = (e.stack ?? `${e.name}: ${e.message}`)
      .split('\n')
      // Frames inside tslab/vm plumbing say nothing to the notebook user.
      .filter((l) => !/node_modules[\\/]tslab[\\/]|[\\/]src[\\/]kernel[\\/]|node:internal|\(node:vm:/.test(l));
    return { ename: e.name, evalue: e.message, traceback: stack };
  }
  const text = inspect(e);
  return { ename: 'Error', evalue: text, traceback: [`Uncaught ${text}`] };
}
