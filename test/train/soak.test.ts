/**
 * Seeded, small version of the checkpoint soak (issue 14): 12 kill -9s at random moments during resume, save
 * and prune of a training child; after every kill each visible checkpoint verifies and equals the same step of
 * an uninterrupted run byte for byte, and the resumed runs end bit-identical to it. The full 100-kill soak is
 * `node --import tsx scripts/soak-checkpoints.ts` (a few minutes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSoak } from './helpers/soak.js';

test('soak: 12 kill -9s during resume/save/prune; every surviving checkpoint loads; resume is bit-exact', { timeout: 180_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), 'gl-soak-'));
  try {
    const s = await runSoak({ kills: 12, seed: 'soak-test', steps: 12, root });
    assert.equal(s.kills, 12);
    assert.ok(s.checkpointsVerified > 0, JSON.stringify(s));
    assert.ok(s.completedRuns >= 1, JSON.stringify(s));
    process.stdout.write(`# soak: ${JSON.stringify(s)}\n`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
