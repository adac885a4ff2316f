// Part of `npm run build`. Notebook cells are type-checked by tslab's TypeScript 5.0 with Node10 module
// resolution, which knows neither package self-reference nor `exports`: it finds `import ... from 'gemma-lab'`
// only in a node_modules folder. This link (gitignored) gives notebooks/ one: notebooks/node_modules/gemma-lab
// -> the repository root, whose package.json `types`/`typesVersions` point into dist/. At run time Node resolves
// the same name by self-reference through package.json `exports`, with or without the link.
import { lstatSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const link = join(root, 'notebooks', 'node_modules', 'gemma-lab');
let present = false;
try {
  present = lstatSync(link).isSymbolicLink();
} catch {
  // absent
}
if (!present) {
  mkdirSync(dirname(link), { recursive: true });
  // Relative, so the checkout can move; Windows junctions need an absolute target.
  if (process.platform === 'win32') symlinkSync(root, link, 'junction');
  else symlinkSync(join('..', '..'), link, 'dir');
}
