/**
 * `npm run bench -- real`: random-weight BF16 checkpoints in the exact configs of gemma-3-270m,
 * gemma-3-1b and embeddinggemma-300m (real-configs.ts; written to a temp dir, deleted after), each run
 * by gemma-lab (bench/real-worker.ts) and by Debian's python3-torch (bench/real_torch.py) in child
 * processes, one after the other, so each peak RSS is that process's own.
 * Figures: load time, peak RSS after load (target <= 1.3x the float32 parameter bytes), encoder forward
 * tokens/s at B8 T128 and B8 T1024, encoder fine-tune step time with the embedding table frozen and not.
 * Env: GEMMA_LAB_BENCH_REAL_CONFIGS=name,name (default all); GEMMA_LAB_BENCH_REAL_PHASES to override the
 * phases; GEMMA_LAB_BENCH_REAL_1B_FULL=1 adds the full (unfrozen) fine-tune for the 1B (long; AdamW state for
 * all 1B parameters needs ~16 GB).
 * `gemma-4-e2b` (last; real-e2b.ts): the full-size Gemma 4 E2B text decoder, gemma-lab only: waits for
 * free memory, then load (seconds, peak RSS, memory breakdown) and an encoder forward at B4 T512 (tokens/s).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/io/paths.js';
import { type BenchSection, fmt, type Table } from './harness.js';
import { REAL_CONFIGS, writeRandomCheckpoint } from './real-configs.js';
import { E2B_NAME, runE2b } from './real-e2b.js';

type Result = Record<string, unknown> & { phase: string; maxRssMiB: number; error?: string };

const ALL_PHASES = ['forward128', 'forward1024', 'finetune_frozen_embed', 'finetune_full'];

function phasesFor(name: string): string[] {
  const env = process.env.GEMMA_LAB_BENCH_REAL_PHASES;
  if (env) return env.split(',');
  if (name === 'gemma-3-1b' && process.env.GEMMA_LAB_BENCH_REAL_1B_FULL !== '1') return ['forward128', 'forward1024', 'finetune_frozen_embed'];
  return ALL_PHASES;
}

/** Runs a worker; resolves with its RESULT lines plus, when it dies, a line saying how. */
function runWorker(cmd: string, args: string[], log: (l: string) => void, timeoutS = 1800): Promise<Result[]> {
  return new Promise((resolveP) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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

function cell(rs: Result[], phase: string, f: (r: Result) => string): string {
  const r = rs.find((x) => x.phase === phase);
  if (!r) {
    const died = rs.find((x) => x.phase === 'exit');
    return died ? 'not reached (process died)' : 'not run';
  }
  return r.error ? `FAILED: ${r.error}` : f(r);
}

function num(rs: Result[], phase: string, key: string): number | undefined {
  const r = rs.find((x) => x.phase === phase && !x.error);
  const v = r?.[key];
  return typeof v === 'number' ? v : undefined;
}

function ratioCell(a: number | undefined, b: number | undefined, higherIsBetter: boolean): string {
  if (a === undefined || b === undefined) return '';
  return `${fmt(higherIsBetter ? a / b : b / a, 2)}x`;
}

const section: BenchSection = {
  name: 'real',
  description: `real-size Gemma checkpoints (random BF16 weights): load, peak RSS, forward tok/s, fine-tune step; gemma-lab vs python3-torch; ${E2B_NAME} load + forward B4 T512`,
  async run(ctx) {
    const wanted = process.env.GEMMA_LAB_BENCH_REAL_CONFIGS?.split(',');
    const configs = REAL_CONFIGS.filter((c) => !wanted || wanted.includes(c.name));
    const root = await mkdtemp(join(tmpdir(), 'gemma-lab-bench-real-'));
    const tables: Table[] = [];
    try {
      for (const c of configs) {
        const dir = join(root, c.name);
        const t0 = performance.now();
        const bytes = await writeRandomCheckpoint(dir, c);
        ctx.log(`${c.name}: wrote ${(bytes / 2 ** 30).toFixed(2)} GiB BF16 in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        const phases = phasesFor(c.name).join(',');
        ctx.log(`${c.name}: gemma-lab (${phases})`);
        const ours = await runWorker(process.execPath, ['--import', 'tsx', join('bench', 'real-worker.ts'), c.name, dir, phases], ctx.log);
        ctx.log(`${c.name}: python3-torch (${phases})`);
        const torch = await runWorker('/usr/bin/python3', [join('bench', 'real_torch.py'), dir, phases], ctx.log);
        await rm(dir, { recursive: true, force: true });

        const f32 = num(ours, 'load', 'f32MiB') ?? num(torch, 'load', 'f32MiB');
        const loadRss = (rs: Result[]) => cell(rs, 'load', (r) => `${fmt(r.maxRssMiB)} MiB${f32 ? ` (${fmt(r.maxRssMiB / f32, 2)}x f32)` : ''}`);
        const engine = (rs: Result[]) => cell(rs, 'engine', (r) => `${String(r.backend)}${r.native ? ' + native' : ''}, ${String(r.threads ?? '?')} threads`);
        const rows: (string | number)[][] = [
          ['engine', engine(ours), engine(torch), ''],
          ['parameters', cell(ours, 'load', (r) => `${fmt(Number(r.params) / 1e6)}M (f32 ${fmt(Number(r.f32MiB))} MiB)`), cell(torch, 'load', (r) => `${fmt(Number(r.params) / 1e6)}M`), ''],
          ['load s', cell(ours, 'load', (r) => fmt(Number(r.seconds), 2)), cell(torch, 'load', (r) => fmt(Number(r.seconds), 2)), ratioCell(num(ours, 'load', 'seconds'), num(torch, 'load', 'seconds'), false)],
          ['peak RSS after load', loadRss(ours), loadRss(torch), ''],
        ];
        for (const T of [128, 1024]) {
          const p = `forward${T}`;
          rows.push([`forward B8 T${T} tokens/s`, cell(ours, p, (r) => `${fmt(Number(r.tokensPerSecond))}${r.cold ? ' (1 cold run)' : ''}`), cell(torch, p, (r) => `${fmt(Number(r.tokensPerSecond))}${r.cold ? ' (1 cold run)' : ''}`), ratioCell(num(ours, p, 'tokensPerSecond'), num(torch, p, 'tokensPerSecond'), true)]);
        }
        for (const [p, label] of [['finetune_frozen_embed', 'fine-tune step s, embeddings frozen (B8 T128)'], ['finetune_full', 'fine-tune step s, all params (B8 T128)']] as const) {
          rows.push([label, cell(ours, p, (r) => `${fmt(Number(r.seconds), 2)} (first ${fmt(Number(r.firstStepSeconds), 1)})`), cell(torch, p, (r) => `${fmt(Number(r.seconds), 2)} (first ${fmt(Number(r.firstStepSeconds), 1)})`), ratioCell(num(ours, p, 'seconds'), num(torch, p, 'seconds'), false)]);
        }
        const endRss = (rs: Result[]) => `${fmt(Math.max(0, ...rs.map((r) => r.maxRssMiB)))} MiB`;
        rows.push(['peak RSS, whole run', endRss(ours), endRss(torch), '']);
        const died = [...ours, ...torch].filter((r) => r.phase === 'exit').map((r) => r.error);
        tables.push({
          title: `${c.name} (random BF16 weights, same checkpoint for both)`,
          columns: ['', 'gemma-lab', 'python3-torch (float32)', 'gemma-lab speed vs torch'],
          rows,
          notes: [
            'Encoder forward = hidden states, no LM head (embeddinggemma: the whole ST pipeline on our side, the backbone on torch\'s); bidirectional attention (sliding |i-j|<W; embeddinggemma: HF window W//2+1).',
            'Fine-tune step = forward, mean pooling, 2-class head, cross entropy, backward, AdamW (lr 1e-5); the second of two steps is reported (the first allocates the optimizer state).',
            'T128: mean of 2 timed runs after a warm-up; T1024: one cold run. Ratios > 1x mean gemma-lab is faster. Shared 2-core box: compare ratios, not absolute numbers.',
            ...(died.length ? [`Worker exits: ${died.join(' | ')}`] : []),
          ],
        });
      }
      if (!wanted || wanted.includes(E2B_NAME)) {
        try {
          tables.push(await runE2b(ctx, join(root, E2B_NAME)));
        } finally {
          await rm(join(root, E2B_NAME), { recursive: true, force: true });
        }
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
    return tables;
  },
};

export default section;
