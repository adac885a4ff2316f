/**
 * nbformat 4 notebooks: papermill-style parameters, headless execution through the gemma-lab
 * kernel core (in-process: no Jupyter or Python needed), run metadata, and an HTML report.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DataFileError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { REPO_ROOT } from '../io/paths.js';
import type { MimeBundle, OutputSink } from '../kernel/output.js';
import { markdownToHtml } from './markdown.js';

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

interface OutputCollector extends OutputSink {
  readonly outputs: Output[];
}

/** Collects one cell's outputs in nbformat form; `update_display_data` rewrites earlier outputs by display id. */
function collector(displays: Map<string, { data: MimeBundle; metadata: Record<string, unknown> }[]>): OutputCollector {
  const outputs: Output[] = [];
  return {
    outputs,
    stream(name, text) {
      const last = outputs.at(-1);
      if (last?.output_type === 'stream' && last.name === name) last.text += text;
      else outputs.push({ output_type: 'stream', name, text });
    },
    send(m) {
      switch (m.type) {
        case 'display_data': {
          const out = { output_type: 'display_data' as const, data: m.content.data, metadata: { ...m.content.metadata } };
          outputs.push(out);
          const id = m.content.transient?.display_id;
          if (id) displays.set(id, [...(displays.get(id) ?? []), out]);
          break;
        }
        case 'update_display_data':
          for (const out of displays.get(m.content.transient?.display_id ?? '') ?? []) {
            out.data = m.content.data;
            out.metadata = { ...m.content.metadata };
          }
          break;
        case 'execute_result':
          outputs.push({ output_type: 'execute_result', data: m.content.data, metadata: { ...m.content.metadata }, execution_count: m.content.execution_count });
          break;
        case 'error':
          outputs.push({ output_type: 'error', ename: m.content.ename, evalue: m.content.evalue, traceback: [...m.content.traceback] });
          break;
        case 'execute_input':
          break;
      }
    },
  };
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

export interface RunOptions {
  readonly params?: Params;
  readonly output?: string;
  readonly html?: string;
  /** Keep executing after a failing cell (cells tagged `raises-exception` never stop the run). */
  readonly allowErrors?: boolean;
  /** Called before each code cell with its index; for CLI progress. */
  readonly onCell?: (index: number, total: number) => void;
}

export interface RunResult {
  readonly notebook: Notebook;
  readonly ok: boolean;
  readonly run: RunMetadata;
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function packageVersion(name: string): string {
  // Read the file: packages with an `exports` map (vega, vega-lite) do not export package.json.
  try {
    return (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Executes a notebook with the gemma-lab kernel in this process and writes the executed notebook
 * (and HTML report) atomically. On a failing cell the partial notebook (cells run so far, with the
 * error output) is still written, and `ok` is false.
 */
export async function runNotebook(inputPath: string, opts: RunOptions = {}): Promise<RunResult> {
  const { NotebookKernel } = await import('../kernel/core.js');
  const params = opts.params ?? {};
  const nb = injectParameters(await readNotebook(inputPath), params);
  const started = new Date();
  const cwd = process.cwd();
  // Like Jupyter, run the kernel in the notebook's folder so relative paths in cells work.
  process.chdir(dirname(resolve(inputPath)));
  const kernel = new NotebookKernel({ cwd: process.cwd() });
  let exception: RunMetadata['exception'] = null;
  try {
    await kernel.init();
    const displays = new Map<string, { data: MimeBundle; metadata: Record<string, unknown> }[]>();
    const code = nb.cells.filter((c) => c.cell_type === 'code');
    for (const [i, cell] of code.entries()) {
      opts.onCell?.(i, code.length);
      const sink = collector(displays);
      const t0 = Date.now();
      const reply = await kernel.execute({ code: sourceOf(cell), stop_on_error: true }, sink);
      cell.outputs = sink.outputs;
      cell.execution_count = reply.execution_count ?? null;
      cell.metadata = { ...cell.metadata, gemma_lab: { duration_s: (Date.now() - t0) / 1000, status: reply.status } };
      if (reply.status === 'error' && !cell.metadata.tags?.includes('raises-exception')) {
        exception ??= { cell: nb.cells.indexOf(cell), ename: reply.ename, evalue: reply.evalue };
        if (!opts.allowErrors) break;
      }
    }
  } finally {
    process.chdir(cwd);
    kernel.close();
  }
  const finished = new Date();
  const commit = git(['rev-parse', 'HEAD']);
  const status = git(['status', '--porcelain']);
  const run: RunMetadata = {
    versions: {
      ...kernel.versions,
      '@tensorflow/tfjs': packageVersion('@tensorflow/tfjs'),
      arquero: packageVersion('arquero'),
      'vega-lite': packageVersion('vega-lite'),
      vega: packageVersion('vega'),
    },
    backend: kernel.api.tf.getBackend() ?? null,
    seed: kernel.api.lastSeed ?? null,
    params,
    git: { commit, dirty: status === null ? null : status.length > 0 },
    input_path: inputPath,
    output_path: opts.output ?? null,
    started: started.toISOString(),
    finished: finished.toISOString(),
    duration_s: (finished.getTime() - started.getTime()) / 1000,
    host: hostname(),
    status: exception ? 'error' : 'ok',
    exception,
  };
  const gl = (nb.metadata.gemma_lab as Record<string, unknown> | undefined) ?? {};
  nb.metadata = {
    ...nb.metadata,
    kernelspec: { name: 'gemma-lab', display_name: 'TypeScript (gemma-lab)', language: 'typescript' },
    language_info: { name: 'typescript', version: kernel.typescriptVersion, mimetype: 'text/typescript', file_extension: '.ts' },
    gemma_lab: { ...gl, run },
  };
  if (opts.output) await writeFileAtomic(opts.output, JSON.stringify(nb, null, 1) + '\n');
  if (opts.html) await writeFileAtomic(opts.html, notebookToHtml(nb));
  return { notebook: nb, ok: exception === null, run };
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
