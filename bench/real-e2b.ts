/**
 * `gemma-4-e2b` in `npm run bench -- real`: the full-size Gemma 4 E2B text decoder (the published config,
 * test/fixtures/gemma4-configs/gemma-4-e2b/config.json) with random BF16 weights, written to a temp dir,
 * loaded with `loadModel` in a child process (bench/real-e2b-worker.ts), and run forward at B4 T512.
 *
 * Memory plan (printed before anything is allocated): trainable weights in float32 on tfjs' cpu backend
 * (loadModel's 'auto' engine leaves wasm32 for a model this size), the PLE table as a frozen BF16 host
 * table (4.4 GiB as stored; 8.8 GiB float32 would not fit beside the rest on a 24 GB box), and, by default,
 * embed_tokens as a BF16 host table too (`hostEmbeddings`; GEMMA_LAB_BENCH_E2B_HOST_EMBED=0 keeps it a
 * float32 variable), since an encoder forward only gathers it. The box is shared: before writing or
 * loading, the section waits until MemAvailable reaches GEMMA_LAB_BENCH_E2B_MIN_FREE_GIB (default 16),
 * polling every 60 s for up to 40 min.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseGemma4Config, type Gemma4Config } from '../src/config/gemma4.js';
import { REPO_ROOT } from '../src/io/paths.js';
import { gemma4ParameterShapes, gemma4TableNames } from '../src/models/gemma4.js';
import { type BenchContext, fmt, type Table } from './harness.js';

export const E2B_NAME = 'gemma-4-e2b';
export const E2B_B = 4;
export const E2B_T = 512;
const GiB = 2 ** 30;
export const E2B_CONFIG_PATH = join(REPO_ROOT, 'test', 'fixtures', 'gemma4-configs', 'gemma-4-e2b', 'config.json');

export function e2bJson(): Record<string, unknown> {
  return JSON.parse(readFileSync(E2B_CONFIG_PATH, 'utf8')) as Record<string, unknown>;
}

export function e2bConfig(): Gemma4Config {
  return parseGemma4Config(e2bJson(), E2B_CONFIG_PATH);
}

export interface E2bEstimate {
  readonly parameters: number;
  /** Trainable variables, float32. */
  readonly variablesBytes: number;
  /** Host tables as stored (BF16). */
  readonly tablesBytes: number;
  /** Forward B4 T512 activations and runtime, an allowance (largest live set is a layer's MLP ~0.3 GiB). */
  readonly allowanceBytes: number;
  readonly totalBytes: number;
}

/** What the load + forward should hold, from the config alone. */
export function e2bEstimate(c: Gemma4Config, hostEmbeddings: boolean): E2bEstimate {
  const tables = gemma4TableNames(c, hostEmbeddings);
  let parameters = 0;
  let variablesBytes = 0;
  let tablesBytes = 0;
  for (const [name, shape] of gemma4ParameterShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    parameters += n;
    if (tables.has(name)) tablesBytes += 2 * n;
    else variablesBytes += 4 * n;
  }
  const allowanceBytes = 1 * GiB;
  return { parameters, variablesBytes, tablesBytes, allowanceBytes, totalBytes: variablesBytes + tablesBytes + allowanceBytes };
}

/** MemAvailable from /proc/meminfo, GiB (Infinity where there is none). */
export async function availableGiB(): Promise<number> {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(await readFile('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) / 2 ** 20 : Infinity;
  } catch {
    return Infinity;
  }
}

/** Waits until `minGiB` are available; returns the last reading and the seconds waited, or null on giving up. */
export async function waitForMemory(minGiB: number, log: (l: string) => void, pollS = 60, maxS = 40 * 60): Promise<{ gib: number; waitedS: number } | null> {
  const t0 = performance.now();
  for (;;) {
    const gib = await availableGiB();
    const waitedS = (performance.now() - t0) / 1000;
    if (gib >= minGiB) return { gib, waitedS };
    if (waitedS + pollS > maxS) return null;
    log(`${E2B_NAME}: ${fmt(gib, 1)} GiB available, waiting for ${minGiB} (${fmt(waitedS / 60, 0)} min so far)`);
    await new Promise((r) => setTimeout(r, pollS * 1000));
  }
}

type Result = Record<string, unknown> & { phase: string; maxRssMiB: number; error?: string };

/** Runs the worker; resolves with its RESULT lines (plus an `exit` line when it dies). */
function runWorker(args: string[], log: (l: string) => void, timeoutS: number): Promise<Result[]> {
  return new Promise((resolveP) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join('bench', 'real-e2b-worker.ts'), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const results: Result[] = [];
    let buf = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('RESULT ')) {
          const r = JSON.parse(line.slice(7)) as Result;
          results.push(r);
          log(`  ${r.phase}: ${r.error ? `FAILED ${r.error}` : JSON.stringify(r)}`);
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-2000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        const why = timedOut ? `timed out after ${timeoutS} s` : signal === 'SIGKILL' ? 'killed by SIGKILL (the kernel OOM killer, unless someone else)' : '';
        const last = why || (err.trim().split('\n').filter((l) => l.trim()).slice(-1)[0] ?? '');
        results.push({ phase: 'exit', maxRssMiB: 0, error: `exit ${code ?? signal}: ${last}` });
        log(`  exit ${code ?? signal}: ${last}`);
      }
      resolveP(results);
    });
  });
}

const num = (rs: Result[], phase: string, key: string): number | undefined => {
  const v = rs.find((r) => r.phase === phase && !r.error)?.[key];
  return typeof v === 'number' ? v : undefined;
};

/** The E2B section of `bench -- real`: estimate, wait for memory, write, load + forward in a child. */
export async function runE2b(ctx: BenchContext, dir: string): Promise<Table> {
  const c = e2bConfig();
  const hostEmbeddings = process.env.GEMMA_LAB_BENCH_E2B_HOST_EMBED !== '0';
  const runs = Number(process.env.GEMMA_LAB_BENCH_E2B_RUNS ?? 2);
  const minFree = Number(process.env.GEMMA_LAB_BENCH_E2B_MIN_FREE_GIB ?? 16);
  const est = e2bEstimate(c, hostEmbeddings);
  const rows: (string | number)[][] = [];
  const estLine = `${fmt(est.variablesBytes / GiB, 2)} GiB float32 variables + ${fmt(est.tablesBytes / GiB, 2)} GiB BF16 host tables (PLE${hostEmbeddings ? ' + embed_tokens' : ''}) + ${fmt(est.allowanceBytes / GiB, 1)} GiB forward/runtime allowance = ${fmt(est.totalBytes / GiB, 2)} GiB`;
  ctx.log(`${E2B_NAME}: ${est.parameters.toLocaleString('en-US')} parameters; estimated peak ${estLine}`);
  rows.push(['parameters (text decoder)', est.parameters.toLocaleString('en-US')]);
  rows.push(['estimated peak (before running)', estLine]);

  const waited = await waitForMemory(minFree, ctx.log);
  if (!waited) {
    rows.push(['run', `not run: MemAvailable stayed under ${minFree} GiB for 40 min`]);
    return { title: `${E2B_NAME} (random BF16 weights, full size)`, columns: ['measure', 'value'], rows };
  }
  rows.push(['memory available at start GiB', `${fmt(waited.gib, 1)} (waited ${fmt(waited.waitedS / 60, 1)} min)`]);

  const t0 = performance.now();
  const written = await runWorker(['write', dir], ctx.log, 1800);
  const bytes = num(written, 'write', 'bytes');
  rows.push(['checkpoint written (BF16)', bytes !== undefined ? `${fmt(bytes / GiB, 2)} GiB in ${fmt((performance.now() - t0) / 1000, 0)} s` : `FAILED: ${written.map((r) => r.error).join(' | ')}`]);
  if (bytes === undefined) return { title: `${E2B_NAME} (random BF16 weights, full size)`, columns: ['measure', 'value'], rows };

  const ours = await runWorker(['run', dir, String(E2B_B), String(E2B_T), String(runs), hostEmbeddings ? '1' : '0'], ctx.log, 3600);
  const get = (phase: string) => ours.find((r) => r.phase === phase);
  const engine = get('engine');
  const load = get('load');
  const fwd = get('forward');
  if (engine) rows.push(['engine', `${String(engine.backend)}${engine.native ? ' + native' : ''}, ${String(engine.threads ?? '?')} threads`]);
  if (load && !load.error) {
    rows.push(['load s (loadModel)', fmt(Number(load.seconds), 1)]);
    rows.push(['  float32 variables (tfjs bytes) GiB', fmt(Number(load.variablesGiB), 2)]);
    rows.push(['  host tables (as stored) GiB', `${fmt(Number(load.tablesGiB), 2)} (${String(load.tables)})`]);
    rows.push(['  process RSS after load GiB', fmt(Number(load.rssGiB), 2)]);
    rows.push(['  peak RSS during load GiB', fmt(load.maxRssMiB / 1024, 2)]);
  } else rows.push(['load', `FAILED: ${load?.error ?? 'not reached'}`]);
  if (fwd && !fwd.error) {
    rows.push([`forward B${E2B_B} T${E2B_T} s (${String(fwd.runs)} runs: ${(fwd.times as number[]).map((t) => fmt(t, 1)).join(', ')})`, `best ${fmt(Number(fwd.seconds), 1)}`]);
    rows.push(['tokens/s (best run)', fmt(Number(fwd.tokensPerSecond), 1)]);
    rows.push(['hidden states finite', String(fwd.finite)]);
  } else if (load && !load.error) rows.push(['forward', `FAILED: ${fwd?.error ?? 'not reached'}`]);
  rows.push(['peak RSS, whole run GiB', fmt(Math.max(0, ...ours.map((r) => r.maxRssMiB)) / 1024, 2)]);
  const died = ours.filter((r) => r.phase === 'exit').map((r) => r.error);
  return {
    title: `${E2B_NAME} (random BF16 weights, the published text config at full size; gemma-lab only)`,
    columns: ['measure', 'value'],
    rows,
    notes: [
      `Encoder forward: hidden states, no LM head, attention 'bidirectional_sliding_gemma4_hf' (HF "all"), B${E2B_B} T${E2B_T}.`,
      'python3-torch is not run here: E2B in float32 (~17 GiB) does not fit beside the other jobs on this 24 GB box.',
      'Random weights are uniform with std 0.02 (norms and layer scalars 1); the PLE table repeats one random 1 GiB block (the writer holds one block, not 4.4 GiB); every block is still read from disk on load.',
      ...(died.length ? [`Worker exits: ${died.join(' | ')}`] : []),
    ],
  };
}
