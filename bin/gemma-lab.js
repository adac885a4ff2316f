#!/usr/bin/env node
// Runs the built CLI in dist/ (compiled by `npm run build`, which `npm ci` and `npm install` run through
// `prepare`): one runtime for the CLI, the kernel and the library, no TypeScript loader at run time.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error('gemma-lab: dist/ is not built; run `npm run build` in the gemma-lab folder');
  process.exit(1);
}

// In a checkout, warn when src/ changed after the last build (a published package has no src/).
function newestMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}
const src = fileURLToPath(new URL('../src', import.meta.url));
if (existsSync(src) && newestMtime(src) > statSync(main).mtimeMs) {
  console.warn('gemma-lab: src/ is newer than dist/; run `npm run build` to use your changes');
}

await import(new URL('../dist/cli/main.js', import.meta.url).href);
