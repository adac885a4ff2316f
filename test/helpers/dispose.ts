/** Scoped resources for tests: released whatever the test body does. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Runs `use` on what `open` gives (a model, an embedder...), then disposes it. */
export async function withDisposed<T extends { dispose(): void }>(open: T | Promise<T>, use: (x: T) => void | Promise<void>): Promise<void> {
  const x = await open;
  try {
    await use(x);
  } finally {
    x.dispose();
  }
}

/** Runs `use` in a fresh temp dir named `prefix*`, then removes the dir. */
export async function withTempDir(prefix: string, use: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
