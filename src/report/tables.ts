/**
 * Arquero tables as Jupyter bundles: `text/html` for notebooks and reports, `text/plain` as a
 * Markdown table so terminals, diffs and `jupyter console` stay readable.
 */
import type { ColumnTable } from 'arquero';

export type TableBundle = {
  readonly 'text/html': string;
  readonly 'text/plain': string;
};

export interface TableOptions {
  /** Rows shown (default 20); the rest is summarised as "… N more rows". */
  readonly limit?: number;
  /** Digits after the decimal point for non-integer numbers (default 4). */
  readonly digits?: number;
}

/** True for arquero tables (duck-typed so tables from another arquero copy also qualify). */
export function isTable(value: unknown): value is ColumnTable {
  const v = value as { numRows?: unknown; toHTML?: unknown; columnNames?: unknown } | null;
  return typeof v === 'object' && v !== null && typeof v.numRows === 'function' && typeof v.toHTML === 'function' && typeof v.columnNames === 'function';
}

function formatCell(v: unknown, digits: number): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(digits);
  if (v === null || v === undefined) return '';
  return String(v);
}

export function tableBundle(table: ColumnTable, opts: TableOptions = {}): TableBundle {
  const limit = opts.limit ?? 20;
  const digits = opts.digits ?? 4;
  const more = table.numRows() - Math.min(limit, table.numRows());
  const suffix = more > 0 ? `\n… ${more} more rows (${table.numRows()} total)` : '';
  const numberFormat = (v: unknown) => formatCell(v, digits);
  const format = Object.fromEntries(table.columnNames().map((c) => [c, numberFormat]));
  const html = table.toHTML({ limit, format }) + (more > 0 ? `<p><em>… ${more} more rows (${table.numRows()} total)</em></p>` : '');
  const md = table.toMarkdown({ limit, format }).trimEnd() + suffix;
  return { 'text/html': html, 'text/plain': md };
}
