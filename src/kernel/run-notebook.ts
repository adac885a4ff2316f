/**
 * Headless notebook execution (`gemma-lab run`, `start`, notebook tests): every code cell through the
 * kernel core in this process (no Jupyter or Python needed), outputs in nbformat form, run metadata,
 * and the executed notebook (and HTML report) written atomically.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { REPO_ROOT } from '../io/paths.js';
import {
  injectParameters,
  notebookToHtml,
  readNotebook,
  sourceOf,
  type MimeBundle,
  type Notebook,
  type Output,
  type Params,
  type RunMetadata,
} from '../report/notebook.js';
import type { OutputSink } from './output.js';

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
  const { NotebookKernel } = await import('./core.js');
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
      '@tensorflow/tfjs-core': packageVersion('@tensorflow/tfjs-core'),
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
