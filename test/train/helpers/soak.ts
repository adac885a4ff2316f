/**
 * Checkpoint soak: kill -9 a training child process at random moments (while it resumes, trains, saves a
 * checkpoint after every step and prunes old ones), and after every kill check that
 *   - every visible `ckpt-N` verifies against its manifest, and
 *   - its weights and optimizer moments are byte-identical to step N of an uninterrupted reference run
 *     (so every resume so far was bit-exact);
 * each run that reaches the last step must end with the reference's final weights and losses, bit for bit.
 * Used by test/train/soak.test.ts (few kills) and scripts/soak-checkpoints.ts (100 kills).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng } from '../../../src/rng/index.js';
import { latestCheckpoint, readCheckpointDir } from '../../../src/train/checkpoint.js';

const CHILD = join(import.meta.dirname, 'soak-child.ts');

export interface SoakOptions {
  readonly kills: number;
  readonly seed: string | number;
  /** Steps of one training run (a run that gets there starts a new cycle in a fresh folder). */
  readonly steps: number;
  /** Scratch folder (created; the caller removes it). */
  readonly root: string;
  readonly log?: (line: string) => void;
}

export interface SoakStats {
  readonly kills: number;
  /** Kills before the child had finished resuming (its first line not yet printed). */
  readonly duringStartOrResume: number;
  /** Kills while training: saving, pruning or computing a step. */
  readonly duringTraining: number;
  /** Runs that reached the last step and matched the reference bit for bit. */
  readonly completedRuns: number;
  /** Visible checkpoints verified (manifest + bytes equal to the reference), summed over kills. */
  readonly checkpointsVerified: number;
  /** Hidden leftovers (staging/trash folders of killed writers) seen after kills, summed. */
  readonly leftoversSeen: number;
  readonly seconds: number;
}

interface RunOut {
  readonly steps: number;
  readonly resumedFrom: number;
  readonly losses: number[];
  readonly weights: [string, string][];
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Runs the child; with `kill`, SIGKILLs it `ms` after it spawned ('spawn') or after it printed that it has
 * found its checkpoint and is about to restore it and train ('started').
 */
function runChild(dir: string, steps: number, keep: number, out: string, kill?: { ms: number; from: 'spawn' | 'started' }) {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(steps), String(keep), out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let startedAt: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => (timer = setTimeout(() => child.kill('SIGKILL'), kill!.ms));
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (startedAt === undefined && stdout.includes('started')) {
      startedAt = performance.now() - t0;
      if (kill?.from === 'started') arm();
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  if (kill?.from === 'spawn') arm();
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; startedAt?: number; ms: number }>((res) =>
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      // Let the pipes drain.
      setImmediate(() => res({ code, signal, stdout, stderr, ms, ...(startedAt !== undefined ? { startedAt } : {}) }));
    }),
  );
}

/** model + optimizer hashes of each checkpoint step in `dir`. */
async function stepHashes(dir: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const n of await readdir(dir)) {
    if (!/^ckpt-\d+$/.test(n)) continue;
    const ck = await readCheckpointDir(join(dir, n));
    out.set(ck.step, `${sha(ck.files.get('model.safetensors')!)}/${sha(ck.files.get('optimizer.safetensors')!)}`);
  }
  return out;
}

export async function runSoak(o: SoakOptions): Promise<SoakStats> {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  await mkdir(o.root, { recursive: true });
  const rng = new Rng(o.seed);

  // Reference: one uninterrupted run keeping every checkpoint.
  const refDir = join(o.root, 'reference');
  const refOutFile = join(o.root, 'reference.json');
  const ref = await runChild(refDir, o.steps, o.steps + 1, refOutFile);
  if (ref.code !== 0 || ref.startedAt === undefined) throw new Error(`reference run failed: ${ref.stderr}`);
  const startMs = ref.startedAt;
  const trainMs = ref.ms - ref.startedAt;
  const refHashes = await stepHashes(refDir);
  const refOut = JSON.parse(await readFile(refOutFile, 'utf8')) as RunOut;
  if (refHashes.size !== o.steps) throw new Error(`reference kept ${refHashes.size} checkpoints, expected ${o.steps}`);
  log(`reference: start ${(startMs / 1000).toFixed(1)} s, ${o.steps} steps in ${(trainMs / 1000).toFixed(1)} s`);

  const checkFinal = async (outFile: string, what: string) => {
    const got = JSON.parse(await readFile(outFile, 'utf8')) as RunOut;
    if (JSON.stringify(got.weights) !== JSON.stringify(refOut.weights)) throw new Error(`${what}: final weights differ from the uninterrupted run`);
    if (JSON.stringify(got.losses) !== JSON.stringify(refOut.losses)) throw new Error(`${what}: losses differ from the uninterrupted run`);
  };

  let cycle = 0;
  let dir = join(o.root, `run-${cycle}`);
  const stats = { kills: 0, duringStartOrResume: 0, duringTraining: 0, completedRuns: 0, checkpointsVerified: 0, leftoversSeen: 0 };
  while (stats.kills < o.kills) {
    const outFile = join(o.root, `out-${cycle}.json`);
    // A quarter of the kills land anywhere in start-up and checkpoint lookup; the rest while restoring,
    // training, saving and pruning (half of a full run's training time after it has found its checkpoint).
    const kill = rng.next() < 0.25 ? { ms: rng.int(Math.round(startMs * 1.2)), from: 'spawn' as const } : { ms: rng.int(Math.round(trainMs * 0.5)), from: 'started' as const };
    const delay = `${kill.ms} ms after ${kill.from}`;
    const r = await runChild(dir, o.steps, 2, outFile, kill);
    if (r.signal !== 'SIGKILL') {
      if (r.code !== 0) throw new Error(`child failed (exit ${r.code}): ${r.stderr}`);
      await checkFinal(outFile, `run ${cycle}`);
      stats.completedRuns++;
      log(`run ${cycle} completed and matched the reference; next run`);
      await rm(dir, { recursive: true, force: true });
      cycle++;
      dir = join(o.root, `run-${cycle}`);
      continue;
    }
    stats.kills++;
    const started = r.stdout.includes('started');
    if (started) stats.duringTraining++;
    else stats.duringStartOrResume++;
    const names = await readdir(dir).catch(() => [] as string[]);
    stats.leftoversSeen += names.filter((n) => n.startsWith('.')).length;
    const visible = names.filter((n) => /^ckpt-\d+$/.test(n));
    for (const n of visible) {
      const ck = await readCheckpointDir(join(dir, n)); // throws CheckpointError if incomplete or damaged
      const h = `${sha(ck.files.get('model.safetensors')!)}/${sha(ck.files.get('optimizer.safetensors')!)}`;
      if (h !== refHashes.get(ck.step)) throw new Error(`kill ${stats.kills}: ${n} differs from step ${ck.step} of the uninterrupted run`);
      stats.checkpointsVerified++;
    }
    if (visible.length > 0) {
      const latest = await latestCheckpoint(dir);
      if (latest.skipped.length > 0) throw new Error(`kill ${stats.kills}: damaged checkpoints skipped: ${latest.skipped.join('; ')}`);
    }
    const lastStep = /step (\d+)\n(?![\s\S]*step \d+\n)/.exec(r.stdout)?.[1];
    log(`kill ${stats.kills} ${delay} (${started ? `training, last step ${lastStep ?? '-'}` : 'starting/resuming'}): ${visible.join(' ') || 'no checkpoint yet'}`);
  }
  // Finish the interrupted run without kills: bit-identical to the reference.
  const outFile = join(o.root, 'final.json');
  const fin = await runChild(dir, o.steps, 2, outFile);
  if (fin.code !== 0) throw new Error(`final run failed: ${fin.stderr}`);
  await checkFinal(outFile, 'final resumed run');
  stats.completedRuns++;
  return { ...stats, seconds: (performance.now() - t0) / 1000 };
}
