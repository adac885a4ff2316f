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

export function setOutputSink(sink: OutputSink | undefined): void {
  current = sink;
}

/** The sink of the cell that runs (or ran last: late async output lands there, as in IPython). */
export function outputSink(): OutputSink {
  if (!current) throw new Error('no notebook cell is running: display helpers only work inside the gemma-lab kernel or `gemma-lab run`');
  return current;
}

const rawStderr = process.stderr.write.bind(process.stderr);

/** The kernel's own log (Jupyter's kernel log), never routed into a cell's output. */
export function kernelLog(text: string): void {
  rawStderr(`gemma-lab kernel: ${text}\n`);
}
