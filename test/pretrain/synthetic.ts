/** A tiny synthetic corpus folder in the layout of ../shared/data/corpus (for pretraining tests). */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SENTENCES = [
  'The committee met on Tuesday to discuss the budget for the coming year.',
  'Shares in the company rose sharply after the announcement of record profits.',
  'The novel follows a young woman who moves to the city in search of work.',
  'Rainfall in the region has been below average for the third year running.',
  'The team won the match with a late goal in the final minute of the game.',
  'Scientists say the new telescope will help them study distant galaxies.',
];

/** A small corpus folder with its own MANIFEST.tsv (train: 3 bbc files, 1 wiki shard; heldout: 1 bbc, 1 wiki). */
export function makeCorpus(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pretrain-corpus-'));
  const files: [string, string, string, string][] = [];
  const add = (path: string, split: string, source: string, text: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
    files.push([path, split, source, text]);
  };
  const para = (k: number, n: number) => Array.from({ length: n }, (_, i) => SENTENCES[(k + i * 5) % SENTENCES.length]).join(' ');
  for (let f = 0; f < 3; f++) add(`bbc/business/00${f}.txt`, 'train', 'bbc', `Headline ${f}\n\n${para(f, 4)}\n\n${para(f + 1, 3)}\n`);
  add('wikipedia/wiki_00', 'train', 'wikipedia', `<doc id="1" url="u" title="Alpha">\nAlpha\n\n${para(2, 5)}\n</doc>\n<doc id="2" url="u" title="Beta">\nBeta\n\n${para(4, 4)}\n</doc>\n`);
  add('heldout/bbc/tech/001.txt', 'heldout', 'bbc', `Tech news\n\n${para(3, 3)}\n`);
  add('heldout/wikipedia/wiki_01', 'heldout', 'wikipedia', `<doc id="3" url="u" title="Gamma">\nGamma\n\n${para(5, 3)}\n</doc>\n`);
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  const rows = files.map(([p, sp, so, t]) => [p, sp, so, String(Buffer.byteLength(t)), sha(t)].join('\t'));
  writeFileSync(join(dir, 'MANIFEST.tsv'), ['file\tsplit\tsource\tbytes\tsha256', ...rows].join('\n') + '\n');
  return dir;
}
