/**
 * Typed errors. Every error names the culprit: a file, a line, a tensor or a config field,
 * so a notebook user can fix the input without reading a stack trace.
 */

export class GemmaLabError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A checkpoint file or tensor is unreadable, malformed, or does not match the model. */
export class CheckpointError extends GemmaLabError {
  constructor(
    message: string,
    readonly file?: string,
    readonly tensor?: string,
    options?: { cause?: unknown },
  ) {
    super(
      [file ? `${file}` : '', tensor ? `tensor '${tensor}'` : '', message].filter(Boolean).join(': '),
      options,
    );
  }
}

/** config.json (or a typed options object) is invalid or inconsistent. */
export class ConfigError extends GemmaLabError {
  constructor(
    message: string,
    readonly file?: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super([file, field ? `field '${field}'` : '', message].filter(Boolean).join(': '), options);
  }
}

/** A benchmark data file has a bad row or an unexpected layout. `line` is 1-based. */
export class DataFileError extends GemmaLabError {
  constructor(
    message: string,
    readonly file: string,
    readonly line?: number,
    options?: { cause?: unknown },
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${message}`, options);
  }
}

/** Training stopped for a reason the user must see (non-finite loss, bad resume state, ...). */
export class TrainingError extends GemmaLabError {}

/** The wasm backend's heap grew past WASM_HEAP_LIMIT_BYTES (engine/index.ts); carries its size. */
export class WasmHeapError extends GemmaLabError {
  constructor(
    message: string,
    readonly heapBytes: number,
  ) {
    super(message);
  }
}

/** Long work was cancelled through an AbortSignal; carries how far it got. */
export class AbortedError extends GemmaLabError {
  constructor(
    message = 'aborted',
    readonly completed?: number,
  ) {
    super(message);
  }
}

/** Downloading or resolving a Hub reference failed. */
export class HubError extends GemmaLabError {
  constructor(
    message: string,
    readonly repo?: string,
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
    super([repo, file, message].filter(Boolean).join(': '), options);
  }
}

/** Metric inputs that scikit-learn refuses: NaN, infinite or fractional class ids, bad sample weights. */
export class MetricInputError extends GemmaLabError {}

/**
 * Writing a file failed (disk full, file too large, quota, read-only...). `file` is the path the caller asked
 * for (not a temp name); `code` is the errno code (ENOSPC, EFBIG, EDQUOT, ...). Nothing at `file` was replaced.
 */
export class FileWriteError extends GemmaLabError {
  constructor(
    message: string,
    readonly file: string,
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
  }
}

/** The disk (or the process's file-size limit or quota) ran out while writing `file`. */
export class DiskFullError extends FileWriteError {}

/** Model inputs (token ids, masks, tensors) are malformed; names the argument and the offending position. */
export class InputError extends GemmaLabError {
  constructor(
    message: string,
    readonly argument: string,
    options?: { cause?: unknown },
  ) {
    super(`${argument}: ${message}`, options);
  }
}
