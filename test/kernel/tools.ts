/**
 * Locating the real Jupyter/Chromium clients. Locally they may be missing (tests then skip with
 * the reason); with GEMMA_LAB_REQUIRE_CLIENTS=1 (.ci/run sets it) a missing client fails instead.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installKernelSpec } from '../../src/kernel/kernelspec.js';

export const REQUIRED = process.env.GEMMA_LAB_REQUIRE_CLIENTS === '1';

function works(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore', timeout: 60_000 }).status === 0;
}

/** A python3 with jupyter_client, nbconvert and jupyter_kernel_test (Debian's, not a pyenv shim). */
export function findPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (works(py, ['-c', 'import jupyter_client, nbconvert, nbclient, jupyter_kernel_test'])) return py;
  }
  return undefined;
}

export function findChromium(): string | undefined {
  for (const c of ['chromium', 'chromium-browser', 'google-chrome']) if (works(c, ['--version'])) return c;
  return undefined;
}

/** Skip reason (or throw when clients are required). */
export function missing(what: string, hint: string): string {
  const msg = `${what} not found (${hint})`;
  if (REQUIRED) throw new Error(`${msg}; GEMMA_LAB_REQUIRE_CLIENTS=1 requires it`);
  return msg;
}

/** Installs the gemma-lab kernelspec into a fresh prefix; returns the env Jupyter needs to find it. */
export async function kernelEnv(): Promise<NodeJS.ProcessEnv> {
  const prefix = mkdtempSync(join(tmpdir(), 'gemma-lab-jupyter-'));
  await installKernelSpec({ prefix });
  return {
    ...process.env,
    JUPYTER_PATH: join(prefix, 'share', 'jupyter'),
    JUPYTER_RUNTIME_DIR: join(prefix, 'runtime'),
    JUPYTER_CONFIG_DIR: join(prefix, 'config'),
    JUPYTER_PLATFORM_DIRS: '1',
  };
}
