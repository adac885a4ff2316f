/**
 * `npm run bench [-- section ...]`: runs the listed sections (default: all) and prints their
 * tables. To add a section, add a file exporting a BenchSection and one line to SECTIONS.
 */
import { type BenchSection, formatTable, machineLine } from './harness.js';

const SECTIONS: Record<string, () => Promise<{ default: BenchSection }>> = {
  matmul: () => import('./matmul.js'),
  model: () => import('./model.js'),
  glue: () => import('./glue.js'),
  rank: () => import('./rank.js'),
  generate: () => import('./generate.js'),
  real: () => import('./real.js'),
  'real-gemma4': () => import('./real-gemma4.js'),
  torch: () => import('./torch.js'),
  bigmem: () => import('./bigmem.js'),
  kernel: () => import('./kernel.js'),
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = wanted.filter((w) => !(w in SECTIONS));
  if (unknown.length > 0) {
    console.error(`unknown bench section(s): ${unknown.join(', ')}; available: ${Object.keys(SECTIONS).join(', ')}`);
    process.exit(2);
  }
  // real-size sections build multi-GB models and run for many minutes: only when asked for by name.
  const names = wanted.length > 0 ? wanted : Object.keys(SECTIONS).filter((n) => !n.startsWith('real') && n !== 'bigmem');
  console.log(`# gemma-lab bench (${new Date().toISOString()})\n\nstart: ${machineLine()}\n`);
  const log = (line: string) => console.error(`[bench] ${line}`);
  for (const name of names) {
    let section: BenchSection;
    try {
      section = (await (SECTIONS[name] as () => Promise<{ default: BenchSection }>)()).default;
    } catch (e) {
      // A section whose module does not load yet (e.g. a model file being written) must not sink the others.
      console.log(`### ${name}\n\nskipped: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n`);
      continue;
    }
    log(`${name}: ${section.description}`);
    for (const table of await section.run({ log })) console.log(`${formatTable(table)}\n`);
  }
  console.log(`end: ${machineLine()}`);
}

await main();
