import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (the folder holding package.json), independent of the caller's cwd. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The shared folder beside the repo (`../shared`): real benchmark data, specs, golden fixtures.
 * Override with GEMMA_LAB_SHARED for other layouts.
 */
export function sharedDir(): string {
  return process.env.GEMMA_LAB_SHARED ? resolve(process.env.GEMMA_LAB_SHARED) : resolve(REPO_ROOT, '..', 'shared');
}

/** `../shared/data/<parts...>`, the real benchmark files described in its SOURCES.md. */
export function sharedDataPath(...parts: string[]): string {
  return join(sharedDir(), 'data', ...parts);
}

export function hasSharedData(): boolean {
  return existsSync(join(sharedDir(), 'data'));
}
