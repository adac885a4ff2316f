// Builds the native addon during `npm install` / `npm ci`. Never fails the install: on any error
// it prints one warning and gemma-lab falls back to stock wasm kernels at run time.
// Uses the node headers beside the running node when present (no download needed), and npm's
// bundled node-gyp (npm exports its path as npm_config_node_gyp to install scripts).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const prefix = resolve(dirname(process.execPath), '..');
const bundledGyp = join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = [process.env.npm_config_node_gyp, bundledGyp].find((p) => p && existsSync(p));
const args = ['rebuild', '--directory', here];
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);

function warn(why) {
  console.warn(`gemma-lab: native addon not built (${why}); falling back to stock wasm kernels (about 30x slower training)`);
}

if (process.env.GEMMA_LAB_SKIP_NATIVE_BUILD) {
  warn('GEMMA_LAB_SKIP_NATIVE_BUILD is set');
} else if (!gyp) {
  warn('node-gyp not found');
} else {
  const r = spawnSync(process.execPath, [gyp, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) warn(r.error ? r.error.message : `node-gyp exited with ${r.status ?? r.signal}`);
}
