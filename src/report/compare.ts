/**
 * The deterministic part of an executed notebook: what must not change when it is re-executed on
 * the same code and data. Dropped: run metadata (times, host, git), per-cell durations, PNG/SVG
 * renderings (font rasterisation differs between machines) and wall-time lines.
 */
import { sourceOf, type Notebook, type Output } from './notebook.js';

export interface StableCell {
  readonly type: string;
  readonly source: string;
  readonly execution_count?: number | null;
  readonly outputs?: readonly unknown[];
}

const VOLATILE_MIME = new Set(['image/png', 'image/svg+xml']);

function stableText(text: string): string {
  return text.replace(/Wall time: [\d.]+ (ms|s)/g, 'Wall time: <t>');
}

function stableOutput(o: Output): unknown {
  switch (o.output_type) {
    case 'stream':
      // nbformat may store multi-line strings as lists of lines
      return { stream: o.name, text: stableText([o.text].flat().join('')) };
    case 'error':
      return { error: o.ename, evalue: o.evalue };
    default:
      return {
        [o.output_type]: Object.fromEntries(
          Object.entries(o.data)
            .filter(([mime]) => !VOLATILE_MIME.has(mime))
            .map(([mime, v]) => [mime, typeof v === 'string' || Array.isArray(v) ? stableText([v].flat().join('')) : v]),
        ),
      };
  }
}

export function stableNotebook(nb: Notebook): StableCell[] {
  return nb.cells.map((c) =>
    c.cell_type === 'code'
      ? { type: c.cell_type, source: sourceOf(c), execution_count: c.execution_count ?? null, outputs: (c.outputs ?? []).map(stableOutput) }
      : { type: c.cell_type, source: sourceOf(c) },
  );
}
