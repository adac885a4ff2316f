import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataFileError } from '../../src/errors.js';
import { sharedDataPath } from '../../src/io/paths.js';
import {
  bookDocument,
  corpusDocuments,
  decodeUtf8Lenient,
  parseManifest,
  readEntry,
  splitEntries,
  wikipediaDocuments,
  type CorpusDocument,
} from '../../src/pretrain/corpus.js';

const corpus = sharedDataPath('corpus');

async function collect(it: AsyncIterable<CorpusDocument>): Promise<CorpusDocument[]> {
  const out: CorpusDocument[] = [];
  for await (const d of it) out.push(d);
  return out;
}

test('real corpus: files per split equal MANIFEST.tsv (2054 train, 96 heldout, 1 readme)', async () => {
  // Count the manifest's split column independently of the parser.
  const rows = readFileSync(join(corpus, 'MANIFEST.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
  const bySplit = (s: string) => rows.filter((r) => r[1] === s).map((r) => r[0]).sort();
  for (const split of ['train', 'heldout', 'readme'] as const) {
    const got = (await splitEntries(corpus, split)).map((e) => e.file);
    assert.deepEqual(got, bySplit(split), split);
  }
  assert.equal((await splitEntries(corpus, 'train')).length, 2054);
  assert.equal((await splitEntries(corpus, 'heldout')).length, 96);
  const train = await splitEntries(corpus, 'train');
  assert.deepEqual(
    ['wikipedia', 'bbc', 'books'].map((s) => train.filter((e) => e.source === s).length),
    [20, 2026, 8],
  );
  assert.ok(!train.some((e) => e.file.startsWith('heldout/') || e.file === 'bbc/README.TXT'));
});

test('real held-out split: 74 articles + 1 novel + 94 BBC articles, sha256-verified, wrappers stripped', async () => {
  const docs = await collect(corpusDocuments(corpus, 'heldout', { verify: 'sha256' }));
  const count = (s: string) => docs.filter((d) => d.source === s).length;
  assert.deepEqual([count('wikipedia'), count('books'), count('bbc')], [74, 1, 94]);
  const wiki = docs.filter((d) => d.source === 'wikipedia');
  assert.ok((wiki[0] as CorpusDocument).text.startsWith('Ecuador\n'));
  assert.ok(wiki.every((d) => !d.text.includes('<doc') && !d.text.includes('</doc>')));
  const book = docs.find((d) => d.source === 'books') as CorpusDocument;
  assert.ok(!book.text.includes('\r'));
  assert.ok(!book.text.includes('\n\n'));
  // Deterministic: manifest path order.
  assert.deepEqual(
    docs.map((d) => d.file).filter((f, i, a) => a.indexOf(f) === i),
    (await splitEntries(corpus, 'heldout')).map((e) => e.file),
  );
});

test('real train files: wiki_06 has its 62 articles; the Latin-1 pound sign of bbc/sport/199.txt survives', async () => {
  const wiki = (await splitEntries(corpus, 'train', ['wikipedia'])).find((e) => e.file === 'wikipedia/wiki_06');
  assert.ok(wiki);
  const docs = wikipediaDocuments(decodeUtf8Lenient(await readEntry(corpus, wiki, 'sha256')), 'wiki_06');
  assert.equal(docs.length, 62);
  assert.ok((docs[0] as string).startsWith('Alloy\nAn alloy is'));
  assert.ok((docs.at(-1) as string).startsWith('Casa Batlló\n'));
  const bbc = (await splitEntries(corpus, 'train', ['bbc'])).find((e) => e.file === 'bbc/sport/199.txt');
  assert.ok(bbc);
  const text = decodeUtf8Lenient(await readEntry(corpus, bbc));
  assert.ok(text.includes('£'));
  assert.ok(!text.includes('\uFFFD'));
});

test('lenient decoding: valid UTF-8 kept, stray bytes read as Latin-1', () => {
  const bytes = new Uint8Array([0x61, 0xa3, 0x35, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xff]);
  assert.equal(decodeUtf8Lenient(bytes), 'a£5é€ÿ');
});

test('document normalisation: wikipedia wrappers, book paragraphs', () => {
  const shard = '<doc id="1" url="u" title="A">\nA\n\nFirst para.\nSecond para.\n</doc>\n<doc id="2" url="u" title="B">\nB\n\n</doc>\n';
  assert.deepEqual(wikipediaDocuments(shard, 'f'), ['A\nFirst para.\nSecond para.', 'B']);
  assert.throws(() => wikipediaDocuments('<doc id="1">\nA\n<doc id="2">\n', 'f'), (e: unknown) => e instanceof DataFileError && e.line === 3);
  assert.throws(() => wikipediaDocuments('stray\n', 'f'), (e: unknown) => e instanceof DataFileError && e.line === 1);
  assert.throws(() => wikipediaDocuments('<doc id="1">\nA\n', 'f'), DataFileError);
  assert.throws(() => wikipediaDocuments('</doc>\n', 'f'), DataFileError);
  assert.equal(bookDocument('CHAPTER I.\r\n\r\nIt was the best\r\nof times.\r\n\r\n\r\nIt was\r\nthe worst.\r\n'), 'CHAPTER I.\nIt was the best of times.\nIt was the worst.');
});

test('manifest problems are DataFileErrors naming the file and line; file sizes are checked', async () => {
  const head = 'file\tsplit\tsource\tbytes\tsha256\n';
  const sha = 'a'.repeat(64);
  assert.throws(() => parseManifest('file\tsplit\n', 'M'), (e: unknown) => e instanceof DataFileError && /column 'source'/.test(e.message));
  assert.throws(() => parseManifest(`${head}x.txt\tdev\tbbc\t3\t${sha}\n`, 'M'), (e: unknown) => e instanceof DataFileError && e.line === 2);
  assert.throws(() => parseManifest(`${head}x.txt\ttrain\tbbc\tlots\t${sha}\n`, 'M'), (e: unknown) => e instanceof DataFileError && e.line === 2);
  assert.throws(() => parseManifest(`${head}../x.txt\ttrain\tbbc\t3\t${sha}\n`, 'M'), DataFileError);
  assert.throws(() => parseManifest(`${head}x\ttrain\tbbc\t3\t${sha}\nx\ttrain\tbbc\t3\t${sha}\n`, 'M'), (e: unknown) => e instanceof DataFileError && e.line === 3);

  const dir = mkdtempSync(join(tmpdir(), 'corpus-'));
  mkdirSync(join(dir, 'bbc'));
  writeFileSync(join(dir, 'bbc', 'a.txt'), 'Head\n\nBody one.\n');
  writeFileSync(join(dir, 'MANIFEST.tsv'), `${head}bbc/a.txt\ttrain\tbbc\t99\t${sha}\n`);
  await assert.rejects(collect(corpusDocuments(dir, 'train')), (e: unknown) => e instanceof DataFileError && /99/.test(e.message) && e.file.endsWith('a.txt'));
  writeFileSync(join(dir, 'MANIFEST.tsv'), `${head}bbc/a.txt\ttrain\tbbc\t16\t${sha}\n`);
  assert.deepEqual((await collect(corpusDocuments(dir, 'train'))).map((d) => d.text), ['Head\nBody one.']);
  await assert.rejects(collect(corpusDocuments(dir, 'train', { verify: 'sha256' })), (e: unknown) => e instanceof DataFileError && /sha256/.test(e.message));
});
