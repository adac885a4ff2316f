/**
 * Progress reporting shared by training, evaluation, reranking and downloads.
 * Work functions take a `RunControl`; they call `onProgress` at most a few times a second
 * and check `signal` between steps (never mid-step, so state stays consistent).
 */
import { AbortedError } from '../errors.js';

export interface ProgressEvent {
  /** What is running, e.g. "train", "eval:sst2", "rerank", "download". */
  readonly phase: string;
  /** Units done so far (steps, examples, bytes). */
  readonly done: number;
  /** Total units when known. */
  readonly total?: number;
  /** Latest scalar metrics (loss, lr, accuracy, ...). */
  readonly metrics?: Readonly<Record<string, number>>;
}

export type ProgressCallback = (event: ProgressEvent) => void;

export interface RunControl {
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressCallback;
}

/** Throws AbortedError when the signal fired; call between units of work. */
export function throwIfAborted(signal: AbortSignal | undefined, completed?: number): void {
  if (signal?.aborted) {
    const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
    throw new AbortedError(`aborted: ${reason}`, completed);
  }
}

/** Formats one status line: `train  [#####.....]  50/100  50%  loss=0.6931`. */
export function formatProgressLine(e: ProgressEvent, width = 24): string {
  const parts = [e.phase];
  if (e.total !== undefined && e.total > 0) {
    const frac = Math.min(1, e.done / e.total);
    const filled = Math.round(frac * width);
    parts.push(`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`, `${e.done}/${e.total}`, `${(frac * 100).toFixed(0)}%`);
  } else {
    parts.push(String(e.done));
  }
  for (const [k, v] of Object.entries(e.metrics ?? {})) parts.push(`${k}=${formatNumber(v)}`);
  return parts.join('  ');
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

/**
 * A terminal progress callback: rewrites one line on a TTY (throttled), prints plain lines
 * every `everyMs` otherwise (CI logs), and always prints the final event.
 */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr, everyMs = 250): ProgressCallback {
  let last = 0;
  return (e) => {
    const now = Date.now();
    const final = e.total !== undefined && e.done >= e.total;
    if (!final && now - last < (stream.isTTY ? everyMs : everyMs * 20)) return;
    last = now;
    const line = formatProgressLine(e);
    if (stream.isTTY) stream.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
    else stream.write(line + '\n');
  };
}
