/** The `gemma-lab` CLI spawned as users run it (node bin/gemma-lab.js from the repository root). */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/io/paths.js';

export const BIN = join(REPO_ROOT, 'bin', 'gemma-lab.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `args` after the program name; killed after `timeoutMs`. */
export function runCli(args: readonly string[], timeoutMs = 60_000): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
