/**
 * `$nb`: the helpers every gemma-lab notebook cell sees (declared with their types by the prelude).
 * Display follows Deno's protocol (`value[Symbol.for("Jupyter.display")]()` returns a MIME bundle)
 * plus multi-MIME bundles, updatable displays, arquero tables and Vega-Lite charts.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as aq from 'arquero';
import type { ColumnTable } from 'arquero';
import type { LoadedModel } from '../models/load.js';
import type { GemmaModel } from '../models/gemma.js';
import type { T5GemmaModel } from '../models/t5gemma.js';
import { ConfigError } from '../errors.js';
import { initEngine, type BackendChoice, type EngineInfo } from '../engine/index.js';
import { REPO_ROOT, sharedDataPath, sharedDir } from '../io/paths.js';
import { formatProgressLine, throwIfAborted, type ProgressCallback, type ProgressEvent, type RunControl } from '../progress/index.js';
import * as plots from '../report/plots.js';
import { isTable, tableBundle, type TableOptions } from '../report/tables.js';
import { Rng } from '../rng/index.js';
import { formatMs, type MagicRegistry, type ModelKind } from './magics.js';
import type { TrainBudget } from '../experiments/budget.js';
import { runSweep, type AblationSetup, type GlueSetup, type SweepResult } from '../experiments/sweep.js';

/** The model class each `%load_model --kind` yields. */
export interface ModelOfKind {
  gemma: GemmaModel;
  t5gemma: T5GemmaModel;
}
import type { GlueTaskId } from '../tasks/glue.js';
import { outputSink, type DisplayContent, type MimeBundle } from './output.js';
import { currentSignal } from './interrupt.js';

export const JUPYTER_DISPLAY = Symbol.for('Jupyter.display');

export const VEGA_LITE_MIME = 'application/vnd.vegalite.v5+json';

export interface DisplayOptions {
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Reuse a display: the first call shows it, later calls with the same id update it in place. */
  readonly displayId?: string;
}

/** A progress callback shown as one updatable display (HTML bar + text line), throttled. */
export interface ProgressDisplay extends ProgressCallback {
  /** Shows the latest event now (also happens automatically `everyMs` after the last update). */
  flush(): void;
}

export interface NotebookApi {
  readonly tf: typeof tf;
  readonly aq: typeof aq;
  readonly plots: typeof plots;
  readonly paths: { readonly sharedDataPath: typeof sharedDataPath; readonly sharedDir: typeof sharedDir; readonly repoRoot: string };
  /** Aborted by an interrupt (SIGINT / Jupyter "interrupt kernel"); pass it to long work. */
  readonly signal: AbortSignal;
  /** Seeded by `%seed` / `seed()`. */
  readonly rng: Rng;
  /** `%time`: start(), then stop() prints the wall time; stop(value) returns value (the timed expression). */
  readonly timer: { start(): void; stop<T>(value: T): T; stop(): number };
  /** `{signal, onProgress}` for training and evaluation functions, with a progress display. */
  control(phase?: string): RunControl;
  progress(opts?: { everyMs?: number }): ProgressDisplay;
  /** Displays a value: a MIME bundle (`{"text/html": …}`), a table, or anything (inspected). */
  display(value: unknown, opts?: DisplayOptions): Promise<void>;
  html(html: string, opts?: DisplayOptions): void;
  markdown(md: string, opts?: DisplayOptions): void;
  table(table: ColumnTable, opts?: TableOptions & DisplayOptions): void;
  /** Vega-Lite spec → one bundle: vegalite.v5 JSON + server-rendered PNG + text/plain. */
  chart(spec: plots.ChartSpec, opts?: DisplayOptions): Promise<void>;
  /** The seed given to the last `%seed` / `seed()` (recorded in run metadata), if any. */
  readonly lastSeed: number | undefined;
  /** The MIME bundle a value is shown as (used for `execute_result`). */
  bundle(value: unknown): Promise<{ data: MimeBundle; metadata: Record<string, unknown> }>;
  seed(seed: number): Rng;
  backend(choice?: BackendChoice): Promise<EngineInfo>;
  /**
   * `loadModel` of src/models/load.ts (checkpoint dir or hf:// id); `%load_model NAME SOURCE`.
   * With a kind the result is typed (GemmaModel / T5GemmaModel) and checked when loading.
   */
  loadModel(source: string): Promise<LoadedModel>;
  loadModel<K extends ModelKind>(source: string, kind: K): Promise<ModelOfKind[K]>;
  lsmagic(): void;
  /** Library modules for notebooks (tasks, models, encoder, eval), loaded on first call. */
  lib(): Promise<typeof import('./lib.js')>;
  /** `%%glue`: fine-tunes a fresh encoder per task, shows a results table, returns runs + table. */
  glue(tasks: readonly GlueTaskId[], budget: TrainBudget, setup: GlueSetup): Promise<SweepResult>;
  /** `%%ablate`: one fine-tune per variant and task; table + bar chart of dev scores. */
  ablate(tasks: readonly GlueTaskId[], budget: TrainBudget, setup: AblationSetup): Promise<SweepResult>;
  /** Throws AbortedError once the kernel was interrupted; call between steps of long loops. */
  throwIfAborted(completed?: number): void;
}

let rng = new Rng(0);
let lastSeed: number | undefined;
let timerStart: number | undefined;
let magics: MagicRegistry | undefined;
let engine: Promise<EngineInfo> | undefined;

/** The engine chosen by `%backend`, else the default one: model code needs an initialised tfjs. */
export function ensureEngine(): Promise<EngineInfo> {
  engine ??= initEngine();
  return engine;
}

export function useMagicRegistry(reg: MagicRegistry): void {
  magics = reg;
}

function newDisplayId(): string {
  return randomBytes(8).toString('hex');
}

const shown = new Set<string>();

function show(data: MimeBundle, metadata: Readonly<Record<string, unknown>>, opts: DisplayOptions | undefined): void {
  const id = opts?.displayId ?? newDisplayId();
  const update = shown.has(id);
  shown.add(id);
  outputSink().send({
    type: update ? 'update_display_data' : 'display_data',
    content: { data, metadata: { ...metadata, ...(opts?.metadata ?? {}) }, transient: { display_id: id } },
  });
}

async function chartBundle(spec: plots.ChartSpec): Promise<DisplayContent> {
  // vega, vega-lite and resvg load with the first chart, not with the kernel.
  const { renderChart } = await import('../report/render.js');
  const r = await renderChart(spec);
  return {
    data: {
      [VEGA_LITE_MIME]: spec,
      'image/png': Buffer.from(r.png).toString('base64'),
      'text/plain': plots.describeChart(spec),
    },
    metadata: { 'image/png': { width: r.width, height: r.height }, [VEGA_LITE_MIME]: { embed_options: { actions: false } } },
  };
}

function isChartSpec(v: unknown): v is plots.ChartSpec {
  const s = (v as { $schema?: unknown } | null)?.$schema;
  return typeof s === 'string' && s.includes('/schema/vega-lite/');
}

function isMimeBundle(v: unknown): v is MimeBundle {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length > 0 && keys.every((k) => /^[a-z]+\/[\w.+-]+$/.test(k));
}

export async function bundleOf(value: unknown): Promise<{ data: MimeBundle; metadata: Record<string, unknown> }> {
  const custom = (value as { [JUPYTER_DISPLAY]?: unknown } | null)?.[JUPYTER_DISPLAY];
  if (typeof custom === 'function') {
    const data = (await custom.call(value)) as MimeBundle;
    return { data: 'text/plain' in data ? data : { ...data, 'text/plain': inspect(value) }, metadata: {} };
  }
  if (isTable(value)) return { data: tableBundle(value), metadata: {} };
  if (isChartSpec(value)) {
    const b = await chartBundle(value);
    return { data: b.data, metadata: { ...b.metadata } };
  }
  return { data: { 'text/plain': inspect(value, { depth: 4, maxArrayLength: 50, breakLength: 100 }) }, metadata: {} };
}

function progressDisplay(everyMs: number): ProgressDisplay {
  const id = newDisplayId();
  let last = 0;
  let pending: ProgressEvent | undefined;
  let timer: NodeJS.Timeout | undefined;
  const render = (e: ProgressEvent) => {
    const line = formatProgressLine(e);
    const bar = e.total ? `<progress value="${e.done}" max="${e.total}" style="width:16em"></progress> ` : '';
    show({ 'text/html': `<div>${bar}<code>${escapeHtml(line)}</code></div>`, 'text/plain': line }, {}, { displayId: id });
    last = Date.now();
    pending = undefined;
  };
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending) render(pending);
  };
  const cb = ((e: ProgressEvent) => {
    pending = e;
    const final = e.total !== undefined && e.done >= e.total;
    if (final || last === 0 || Date.now() - last >= everyMs) return flush();
    // The newest state must reach the notebook even when no further event comes.
    timer ??= setTimeout(flush, everyMs - (Date.now() - last)).unref();
  }) as ProgressDisplay;
  cb.flush = flush;
  return cb;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** Seeds our Rng and Math.random; tfjs random ops without an explicit seed draw theirs from Math.random. */
export function seedAll(seed: number): Rng {
  rng = new Rng(seed);
  lastSeed = seed;
  const mathRng = rng.fork('Math.random');
  Math.random = () => mathRng.next();
  return rng;
}

export function createNotebookApi(): NotebookApi {
  const api: NotebookApi = {
    tf,
    aq,
    plots,
    paths: { sharedDataPath, sharedDir, repoRoot: REPO_ROOT },
    get signal() {
      return currentSignal();
    },
    get rng() {
      return rng;
    },
    get lastSeed() {
      return lastSeed;
    },
    timer: {
      start() {
        timerStart = performance.now();
      },
      stop(...value: unknown[]) {
        const ms = timerStart === undefined ? 0 : performance.now() - timerStart;
        timerStart = undefined;
        outputSink().stream('stdout', `Wall time: ${formatMs(ms)}\n`);
        return (value.length ? value[0] : ms) as never;
      },
    },
    control(label) {
      // One updatable display per phase, so evaluation does not overwrite the training bar.
      const bars = new Map<string, ProgressDisplay>();
      return {
        signal: currentSignal(),
        onProgress: (e) => {
          let bar = bars.get(e.phase);
          if (!bar) bars.set(e.phase, (bar = progressDisplay(250)));
          bar(label ? { ...e, phase: `${label} ${e.phase}` } : e);
        },
      };
    },
    progress: (opts) => progressDisplay(opts?.everyMs ?? 250),
    async display(value, opts) {
      const b = isMimeBundle(value) ? { data: value, metadata: {} } : await bundleOf(value);
      show(b.data, b.metadata, opts);
    },
    html: (html, opts) => show({ 'text/html': html, 'text/plain': '<HTML>' }, {}, opts),
    markdown: (md, opts) => show({ 'text/markdown': md, 'text/plain': md }, {}, opts),
    table: (table, opts) => show(tableBundle(table, opts), {}, opts),
    async chart(spec, opts) {
      const b = await chartBundle(spec);
      show(b.data, b.metadata, opts);
    },
    bundle: bundleOf,
    seed: seedAll,
    async backend(choice) {
      engine = initEngine(choice);
      const info = await engine;
      outputSink().stream('stdout', `backend: ${info.backend}${info.native ? ' (native kernels)' : ''}${info.warnings.length ? `\n${info.warnings.join('\n')}` : ''}\n`);
      return info;
    },
    async loadModel(source: string, kind?: ModelKind) {
      // Loaded on first use: the model stack is not needed by every notebook.
      const [{ loadModel }, { GemmaModel }] = await Promise.all([import('../models/load.js'), import('../models/gemma.js'), ensureEngine()]);
      const model = await loadModel(source);
      const fits = kind === undefined || (kind === 'gemma' ? model instanceof GemmaModel : model.config.modelType === kind);
      if (!fits) {
        model.dispose();
        throw new ConfigError(`expected a ${kind} checkpoint, got model_type '${model.config.modelType}' (use %load_model NAME SOURCE --kind ${model.config.modelType === 't5gemma' ? 't5gemma' : 'gemma'})`, source, 'model_type');
      }
      outputSink().stream('stdout', `loaded ${model.config.modelType} from ${source}\n`);
      return model;
    },
    async glue(tasks, budget, setup) {
      await ensureEngine();
      const res = await runSweep(tasks, { '': setup.encoder }, budget, setup.tokenizer, (l) => api.control(l));
      api.table(res.table.select(aq.not('variant')));
      return res;
    },
    async ablate(tasks, budget, setup) {
      await ensureEngine();
      const labels = Object.keys(setup.variants);
      if (labels.length === 0) throw new RangeError('%%ablate needs at least one variant');
      const res = await runSweep(tasks, setup.variants, budget, setup.tokenizer, (l) => api.control(l));
      api.table(res.table);
      const bars = res.runs.map((r) => ({ variant: r.variant, value: Math.round(r.result.dev.score * 1e4) / 1e4, group: r.task }));
      await api.chart(plots.ablationBars(bars, { metric: 'dev score', title: `ablation (${labels[0]} = baseline)` }));
      return res;
    },
    lib: async () => (await Promise.all([import('./lib.js'), ensureEngine()]))[0],
    throwIfAborted: (completed) => throwIfAborted(currentSignal(), completed),
    lsmagic() {
      outputSink().stream('stdout', (magics?.list() ?? 'no magics registered') + '\n');
    },
  };
  return api;
}
