/**
 * `gemma-lab start [--in-place] [--out-dir DIR]` (`npm start`): executes every showcase notebook in
 * notebooks/ headlessly on the default engine and writes executed notebooks + HTML reports.
 * `--in-place` rewrites the committed notebooks (how they are refreshed; test/kernel checks staleness).
 */
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../io/paths.js';
import type { Command } from './command.js';

export const NOTEBOOK_DIR = join(REPO_ROOT, 'notebooks');

export async function showcaseNotebooks(): Promise<string[]> {
  return (await readdir(NOTEBOOK_DIR))
    .filter((f) => f.endsWith('.ipynb'))
    .sort()
    .map((f) => join(NOTEBOOK_DIR, f));
}

const command: Command = {
  summary: 'run the showcase notebooks headlessly (executed .ipynb + HTML reports)',
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: { 'in-place': { type: 'boolean' }, 'out-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      console.log('usage: gemma-lab start [--in-place] [--out-dir DIR]   (default DIR: .cache/reports)');
      return 0;
    }
    const { runNotebook } = await import('../kernel/run-notebook.js');
    const outDir = values['out-dir'] ?? join(REPO_ROOT, '.cache', 'reports');
    const log = process.stderr.write.bind(process.stderr);
    let failed = 0;
    for (const nb of await showcaseNotebooks()) {
      const name = basename(nb, '.ipynb');
      const out = values['in-place'] ? nb : join(outDir, `${name}.ipynb`);
      const html = join(outDir, `${name}.html`);
      const t0 = Date.now();
      const res = await runNotebook(nb, { output: out, html, onCell: (i, n) => process.stderr.isTTY && log(`${name}: cell ${i + 1}/${n}\r`) });
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      if (res.ok) log(`${name}: ok in ${secs} s (backend ${res.run.backend}) -> ${out}, ${html}\n`);
      else {
        failed++;
        log(`${name}: FAILED in cell ${res.run.exception!.cell}: ${res.run.exception!.ename}: ${res.run.exception!.evalue}\n  partial notebook: ${out}\n`);
      }
    }
    return failed ? 1 : 0;
  },
};
export default command;
