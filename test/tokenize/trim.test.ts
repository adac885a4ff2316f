import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, sharedDataPath } from '../../src/io/paths.js';
import { loadTokenizer, tokenizerFromJson, type Tokenizer } from '../../src/tokenize/index.js';
import { readTokenizerFiles, remapIds, trimTokenizer } from '../../src/tokenize/trim.js';
import { corpusFiles } from '../../scripts/trim-tokenizer.js';

const TRIMMED_DIR = join(REPO_ROOT, 'data', 'tokenizers', 'gemma3-corpus');

function checkTable(full: Tokenizer, trimmed: Tokenizer, newToOld: readonly number[]): void {
  assert.deepEqual(newToOld.slice(0, 5), [0, 1, 2, 3, 4], 'pad/eos/bos/unk/mask keep their ids');
  for (let i = 1; i < newToOld.length; i++) assert.ok((newToOld[i] as number) > (newToOld[i - 1] as number), 'strictly increasing');
  assert.equal(trimmed.vocabSize, newToOld.length);
  newToOld.forEach((old, nid) => assert.equal(trimmed.idToToken(nid), full.idToToken(old), `id ${nid} <- ${old}`));
  for (let b = 0; b < 256; b++) assert.notEqual(trimmed.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`), undefined);
  assert.deepEqual([trimmed.padId, trimmed.eosId, trimmed.bosId], [0, 1, 2]);
}

/** Exact on texts whose base encoding uses only kept ids; lossless and unk-free everywhere. */
function compareOn(full: Tokenizer, trimmed: Tokenizer, oldToNew: ReadonlyMap<number, number>, texts: string[], mustBeExact: boolean): { exact: number; covered: number } {
  let exact = 0;
  let covered = 0;
  for (const text of texts) {
    const base = full.encode(text, { addBos: true, addEos: true });
    const got = trimmed.encode(text, { addBos: true, addEos: true });
    const mapped = remapIds(base, oldToNew);
    if (mapped.every((id) => id !== undefined)) {
      covered++;
      assert.deepEqual(got, mapped, `exact remap on ${JSON.stringify(text.slice(0, 60))}`);
      exact++;
    } else {
      assert.ok(!mustBeExact, `a trimming text used a dropped token: ${JSON.stringify(text.slice(0, 60))}`);
      assert.ok(!got.includes(3), 'never <unk>');
      assert.equal(trimmed.decode(got), full.decode(base), 'lossless');
    }
  }
  return { exact, covered };
}

test('committed corpus tokenizer: exact id remap on training files, lossless on held-out text', () => {
  const full = loadTokenizer();
  const trimmed = loadTokenizer(TRIMMED_DIR);
  const idMap = JSON.parse(readFileSync(join(TRIMMED_DIR, 'id_map.json'), 'utf8')) as { new_to_old: number[] };
  checkTable(full, trimmed, idMap.new_to_old);
  const oldToNew = new Map(idMap.new_to_old.map((o, n) => [o, n] as const));

  // Whole training files (the trim encoded each file as one text): every base id must be kept, remap exact.
  const train = corpusFiles('train');
  const sample = [...train.filter((f) => f.startsWith('bbc/')).filter((_, i) => i % 40 === 0), 'books/pg11.txt'];
  const trainTexts = sample.map((f) => readFileSync(sharedDataPath('corpus', f), 'utf8'));
  const t = compareOn(full, trimmed, oldToNew, trainTexts, true);
  assert.equal(t.exact, trainTexts.length);

  // Held-out: whole BBC articles and the held-out book's paragraphs.
  const held = corpusFiles('heldout');
  const paragraphs = (f: string): string[] => readFileSync(sharedDataPath('corpus', f), 'utf8').split(/\r?\n\s*\r?\n/).filter((p) => p.trim());
  const heldTexts = held.filter((f) => f.includes('/bbc/')).flatMap(paragraphs);
  const book = held.find((f) => f.includes('/books/'));
  if (book) heldTexts.push(...paragraphs(book).slice(0, 300));
  const h = compareOn(full, trimmed, oldToNew, heldTexts, false);
  console.log(`# trimmed vocab ${trimmed.vocabSize}; training files exact ${t.exact}/${trainTexts.length}; held-out exact ${h.exact}/${heldTexts.length} (rest lossless, no unk)`);
  assert.ok(heldTexts.length > 400 && h.exact / heldTexts.length > 0.5, `${h.exact}/${heldTexts.length}`);
});

test('trimTokenizer is generic: trims on any texts (SST-2-like sentences), exact on them, unk-free elsewhere', () => {
  const base = readTokenizerFiles();
  const texts = [
    "it 's a charming and often affecting journey . ",
    'unflinchingly bleak and desperate ',
    'the movie is a disaster , but a beautiful one !',
    'Naïve, but 100% enjoyable — 5/5 stars 🤗',
  ];
  const r = trimTokenizer(base, texts, { keepTokens: ['<start_of_turn>'] });
  const full = loadTokenizer();
  const trimmed = tokenizerFromJson(r.tokenizerJson, r.config);
  checkTable(full, trimmed, r.newToOld);
  assert.ok(r.newToOld.length < 600, `small vocab: ${r.newToOld.length}`);
  assert.equal(r.stats.texts, 4);
  assert.notEqual(trimmed.tokenToId('<start_of_turn>'), undefined);
  compareOn(full, trimmed, r.oldToNew, texts, true);
  // Unseen text: characters and words outside the trimmed vocabulary fall back to kept pieces or bytes.
  const unseen = ['Zebras quietly juggle xylophones in Ürümqi 日本', 'the journey is charming'];
  compareOn(full, trimmed, r.oldToNew, unseen, false);
  assert.deepEqual(trimmed.encode('the journey', { addBos: false }).length > 0, true);
});
