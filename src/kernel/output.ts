import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Where cell output goes. The ZMQ server points this at iopub messages of the executing request;
 * the headless runner (`gemma-lab run`) points it at the nbformat outputs of the current cell.
 */

export type MimeBundle = Readonly<Record<string, unknown>>;

export interface DisplayContent {
  readonly data: MimeBundle;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly transient?: { readonly display_id: string };
}

export interface ErrorContent {
  readonly ename: string;
  readonly evalue: string;
  readonly traceback: readonly string[];
}

export type IopubMessage =
  | { readonly type: 'display_data' | 'update_display_data'; readonly content: DisplayContent }
  | { readonly type: 'execute_input'; readonly content: { readonly code: string; readonly execution_count: number } }
  | { readonly type: 'execute_result'; readonly content: DisplayContent & { readonly execution_count: number } }
  | { readonly type: 'error'; readonly content: ErrorContent };

export interface OutputSink {
  stream(name: 'stdout' | 'stderr', text: string): void;
  send(message: IopubMessage): void;
}

let current: OutputSink | undefined;
const cellSink = new AsyncLocalStorage<OutputSink>();

/** Runs a cell with `sink` bound to everything it starts, so late async output reaches its own cell. */
export function withOutputSink<T>(sink: OutputSink, fn: () => Promise<T>): Promise<T> {
  current = sink;
  return cellSink.run(sink, fn);
}

/** The sink of the cell this code belongs to (else of the cell that ran last). */
export function outputSink(): OutputSink {
  const sink = cellSink.getStore() ?? current;
  if (!sink) throw new Error('no notebook cell is running: display helpers only work inside the gemma-lab kernel or `gemma-lab run`');
  return sink;
}

const rawStdout = process.stdout.write;
const rawStderrWrite = process.stderr.write;

/**
 * Routes process.stdout/stderr writes made by cell code (console.log, also from timers and
 * promises the cell started) to that cell's sink; writes from outside any cell keep going to the
 * process streams (the kernel log, a test reporter).
 */
export function routeProcessStreams(): () => void {
  const route = (name: 'stdout' | 'stderr', raw: typeof process.stdout.write): typeof process.stdout.write => {
    const decoder = new TextDecoder();
    return function (this: NodeJS.WriteStream, chunk: string | Uint8Array, encodingOrCb?: unknown, cb?: unknown): boolean {
      const sink = cellSink.getStore();
      if (!sink) return (raw as (...a: unknown[]) => boolean).call(this, chunk, encodingOrCb, cb);
      sink.stream(name, typeof chunk === 'string' ? chunk : decoder.decode(chunk));
      const done = typeof encodingOrCb === 'function' ? encodingOrCb : cb;
      if (typeof done === 'function') (done as () => void)();
      return true;
    } as typeof process.stdout.write;
  };
  process.stdout.write = route('stdout', rawStdout);
  process.stderr.write = route('stderr', rawStderrWrite);
  return () => {
    process.stdout.write = rawStdout;
    process.stderr.write = rawStderrWrite;
  };
}

const rawStderr = rawStderrWrite.bind(process.stderr);

/** The kernel's own log (Jupyter's kernel log), never routed into a cell's output. */
export function kernelLog(text: string): void {
  rawStderr(`gemma-lab kernel: ${text}\n`);
}
