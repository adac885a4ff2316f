/**
 * nbformat 4 notebooks: reading, papermill-style parameters, run metadata and an HTML report
 * (headless execution is src/kernel/run-notebook.ts: the kernel builds on this, not the reverse).
 */
import { readFile } from 'node:fs/promises';
import { DataFileError } from '../errors.js';
import { markdownToHtml } from './markdown.js';

/** A cell output's data: MIME type -> content. */
export type MimeBundle = Readonly<Record<string, unknown>>;

export type Output =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { output_type: 'display_data'; data: MimeBundle; metadata: Record<string, unknown> }
  | { output_type: 'execute_result'; data: MimeBundle; metadata: Record<string, unknown>; execution_count: number }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

export interface Cell {
  cell_type: 'code' | 'markdown' | 'raw';
  id?: string;
  source: string | string[];
  metadata: Record<string, unknown> & { tags?: string[] };
  outputs?: Output[];
  execution_count?: number | null;
}

export interface Notebook {
  nbformat: 4;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: Cell[];
}

export type Params = Readonly<Record<string, string | number | boolean | null>>;

export const sourceOf = (c: Cell): string => (Array.isArray(c.source) ? c.source.join('') : c.source);

export async function readNotebook(path: string): Promise<Notebook> {
  let nb: Notebook;
  try {
    nb = JSON.parse(await readFile(path, 'utf8')) as Notebook;
  } catch (e) {
    throw new DataFileError(`not a readable notebook: ${(e as Error).message}`, path);
  }
  if (nb.nbformat !== 4 || !Array.isArray(nb.cells)) throw new DataFileError('only nbformat 4 notebooks are supported', path);
  return nb;
}

/** `-p key=value`: JSON when it parses (numbers, booleans, quoted strings), else the raw string. */
export function parseParam(arg: string): [string, string | number | boolean | null] {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new RangeError(`parameter '${arg}' must look like name=value`);
  const name = arg.slice(0, eq);
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new RangeError(`parameter name '${name}' is not a valid identifier`);
  const raw = arg.slice(eq + 1);
  try {
    const v = JSON.parse(raw) as unknown;
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) return [name, v as string | number | boolean | null];
  } catch {
    /* a plain string */
  }
  return [name, raw];
}

/**
 * papermill's convention: an `injected-parameters` cell right after the first `parameters`-tagged
 * cell (at the top when there is none), replacing an earlier injected cell. TypeScript accepts the
 * redeclaration of a `const` from a previous cell (tslab carries declarations between cells).
 */
export function injectParameters(nb: Notebook, params: Params): Notebook {
  const cells = nb.cells.filter((c) => !c.metadata.tags?.includes('injected-parameters'));
  if (Object.keys(params).length === 0) return { ...nb, cells };
  const at = cells.findIndex((c) => c.metadata.tags?.includes('parameters'));
  const source = ['// Parameters injected by `gemma-lab run -p`', ...Object.entries(params).map(([k, v]) => `const ${k} = ${JSON.stringify(v)};`)].join('\n');
  const injected: Cell = { cell_type: 'code', source, metadata: { tags: ['injected-parameters'] }, outputs: [], execution_count: null };
  cells.splice(at + 1, 0, injected);
  return { ...nb, cells };
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
const text = (v: unknown) => (Array.isArray(v) ? v.join('') : String(v));

/**
 * A static HTML report. Like nbconvert it has no Vega renderer, so charts show as their PNG
 * (the kernel puts one in every chart bundle); tables are the kernel's HTML.
 */
export function outputToHtml(o: Output): string {
  switch (o.output_type) {
    case 'stream':
      return `<pre class="stream ${o.name}">${esc(text(o.text))}</pre>`;
    case 'error':
      return `<pre class="error">${esc(stripAnsi(o.traceback.join('\n') || `${o.ename}: ${o.evalue}`))}</pre>`;
    default: {
      const d = o.data;
      if (d['image/png'] !== undefined) {
        const size = (o.metadata['image/png'] ?? {}) as { width?: number; height?: number };
        const dims = size.width ? ` width="${size.width}" height="${size.height}"` : '';
        return `<img class="chart" alt="${esc(text(d['text/plain'] ?? 'image'))}"${dims} src="data:image/png;base64,${text(d['image/png'])}">`;
      }
      if (d['text/html'] !== undefined) return `<div class="html">${text(d['text/html'])}</div>`;
      if (d['text/markdown'] !== undefined) return `<div class="markdown">${markdownToHtml(text(d['text/markdown']))}</div>`;
      return `<pre class="plain">${esc(text(d['text/plain'] ?? ''))}</pre>`;
    }
  }
}

export interface RunMetadata {
  versions: Record<string, string>;
  backend: string | null;
  seed: number | null;
  params: Params;
  git: { commit: string | null; dirty: boolean | null };
  input_path: string;
  output_path: string | null;
  started: string;
  finished: string;
  duration_s: number;
  host: string;
  status: 'ok' | 'error';
  exception: { cell: number; ename: string; evalue: string } | null;
}

export function notebookToHtml(nb: Notebook): string {
  const run = (nb.metadata.gemma_lab as { run?: RunMetadata } | undefined)?.run;
  const title = (nb.metadata.title as string | undefined) ?? 'gemma-lab report';
  const cells = nb.cells.map((c) => {
    if (c.cell_type === 'markdown') return `<section class="md">${markdownToHtml(sourceOf(c))}</section>`;
    if (c.cell_type !== 'code') return '';
    const outs = (c.outputs ?? []).map(outputToHtml).join('\n');
    return `<section class="cell"><div class="in">In [${c.execution_count ?? ' '}]:</div><pre class="code">${esc(sourceOf(c))}</pre>${outs ? `<div class="out">${outs}</div>` : ''}</section>`;
  });
  const meta = run
    ? `<p class="run">run ${esc(run.started)} · ${run.duration_s.toFixed(1)} s · backend ${esc(run.backend ?? '?')} · seed ${run.seed ?? '–'} · git ${esc(run.git.commit?.slice(0, 10) ?? '?')}${run.git.dirty ? ' (dirty)' : ''} · ${esc(Object.entries(run.versions).map(([k, v]) => `${k} ${v}`).join(', '))}</p>`
    : '';
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:DejaVu Sans,sans-serif;max-width:60em;margin:1em auto;color:#222}
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;white-space:pre-wrap}
pre.error{background:#fdd} .in{color:#307fc1;font-family:monospace}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:2px 6px}
.md code,.markdown code{background:#f3f3f3;padding:0 .2em} .md pre code{background:none;padding:0}
.run{color:#666;font-size:small}
</style></head><body>
<h1>${esc(title)}</h1>${meta}
${cells.join('\n')}
</body></html>
`;
}
