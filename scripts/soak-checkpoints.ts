/**
 * The full checkpoint soak: `node --import tsx scripts/soak-checkpoints.ts [KILLS=100] [SEED=soak] [STEPS=15]`.
 * kill -9 at random moments during resume, save and prune of a training child process; after every kill,
 * each surviving checkpoint must verify and equal the same step of an uninterrupted run byte for byte, and
 * every resumed run must end bit-identical to it (see test/train/helpers/soak.ts). Exits 1 on any mismatch.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSoak } from '../test/train/helpers/soak.js';

const [kills = '100', seed = 'soak', steps = '15'] = process.argv.slice(2);
const root = await mkdtemp(join(tmpdir(), 'gl-soak-'));
try {
  const s = await runSoak({ kills: Number(kills), seed, steps: Number(steps), root, log: (l) => console.log(l) });
  console.log(JSON.stringify(s));
} catch (err) {
  console.error(`SOAK FAILED: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await rm(root, { recursive: true, force: true });
}
