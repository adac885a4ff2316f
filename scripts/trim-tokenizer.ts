/**
 * Trims the Gemma 3 tokenizer to the tokens used by the training split of ../shared/data/corpus
 * (MANIFEST.tsv `split = train`), each file encoded as one text, and writes it to data/tokenizers/gemma3-corpus/.
 *
 *   node --import tsx scripts/trim-tokenizer.ts [--out DIR]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTokenizerFiles, saveTrimmedTokenizer, sharedDataPath, terminalProgress, trimTokenizer } from 'gemma-lab';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Paths (relative to the corpus folder) of the files MANIFEST.tsv marks with `split`. */
export function corpusFiles(split: 'train' | 'heldout'): string[] {
  const lines = readFileSync(sharedDataPath('corpus', 'MANIFEST.tsv'), 'utf8').split('\n').filter(Boolean);
  const head = (lines[0] as string).split('\t');
  const fi = head.indexOf('file');
  const si = head.indexOf('split');
  return lines.slice(1).map((l) => l.split('\t')).filter((c) => c[si] === split).map((c) => c[fi] as string);
}

async function main(): Promise<void> {
  const outIdx = process.argv.indexOf('--out');
  const out = outIdx > 0 ? (process.argv[outIdx + 1] as string) : join(REPO_ROOT, 'data', 'tokenizers', 'gemma3-corpus');
  const files = corpusFiles('train');
  const texts = (function* () {
    for (const f of files) yield readFileSync(sharedDataPath('corpus', f), 'utf8');
  })();
  const t0 = Date.now();
  const progress = terminalProgress();
  const r = trimTokenizer(readTokenizerFiles(), texts, { onProgress: (e) => progress({ ...e, total: files.length }) });
  await saveTrimmedTokenizer(out, r, { base: 'Gemma 3 tokenizer.json (data/tokenizers/gemma3)', trimmed_on: 'shared/data/corpus MANIFEST.tsv split=train', files: files.length });
  console.log(`${files.length} files, ${r.stats.tokens} tokens, ${r.stats.used} distinct used, ${r.stats.kept} kept, ${r.stats.merges} merges, ${((Date.now() - t0) / 1000).toFixed(1)} s -> ${out}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
