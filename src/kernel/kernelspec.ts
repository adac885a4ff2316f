/**
 * Writes the `gemma-lab` kernelspec with Node alone (no Python, unlike `tslab install`, whose
 * python3 may not be Jupyter's: tslab#34/#92). The kernel runs node directly (no npx/shell
 * wrapper) so Jupyter's SIGINT interrupt (`interrupt_mode: "signal"`) reaches it.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { REPO_ROOT } from '../io/paths.js';
import { KERNEL_NAME } from './server.js';

export interface KernelSpec {
  readonly argv: readonly string[];
  readonly display_name: string;
  readonly language: 'typescript';
  readonly interrupt_mode: 'signal';
  readonly metadata: Readonly<Record<string, unknown>>;
}

export function kernelSpec(displayName = 'TypeScript (gemma-lab)'): KernelSpec {
  return {
    argv: [process.execPath, join(REPO_ROOT, 'bin', 'gemma-lab.js'), 'kernel', '--config-path', '{connection_file}'],
    display_name: displayName,
    language: 'typescript',
    interrupt_mode: 'signal',
    metadata: { debugger: false },
  };
}

/**
 * Jupyter's data dir for a target: `--prefix P` → `P/share/jupyter` (found by Jupyter when P is
 * its sys.prefix or via JUPYTER_PATH=P/share/jupyter); default per-user `~/.local/share/jupyter`
 * (or $JUPYTER_DATA_DIR).
 */
export function jupyterDataDir(target: { prefix?: string }): string {
  if (target.prefix) return join(target.prefix, 'share', 'jupyter');
  return process.env.JUPYTER_DATA_DIR ?? join(homedir(), '.local', 'share', 'jupyter');
}

/** Writes `<data dir>/kernels/<name>/kernel.json`; returns the kernel directory. */
export async function installKernelSpec(opts: { prefix?: string; name?: string; displayName?: string } = {}): Promise<string> {
  const dir = join(jupyterDataDir(opts), 'kernels', opts.name ?? KERNEL_NAME);
  await writeJsonAtomic(join(dir, 'kernel.json'), kernelSpec(opts.displayName));
  return dir;
}
