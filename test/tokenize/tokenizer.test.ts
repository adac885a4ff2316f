import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/io/paths.js';
import { ConfigError } from '../../src/errors.js';
import { batchRows, encodeBatch, loadTokenizer } from '../../src/tokenize/index.js';

// Expected ids come from test/tokenize/reference_bpe.py, an independent Python reading of the same tokenizer.json.
const EXPECTED = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'tokenize', 'expected_ids.json'), 'utf8')) as { text: string; ids: number[] }[];

test('Gemma 3 default tokenizer: exact ids vs the independent Python BPE, specials, round trip', () => {
  const tok = loadTokenizer();
  assert.equal(tok.vocabSize, 262145); // 262144 BPE ids + <image_soft_token> (max id, checked in Python)
  assert.deepEqual([tok.padId, tok.eosId, tok.bosId], [0, 1, 2]);
  assert.equal(tok.tokenToId('<mask>'), 4);
  assert.equal(tok.tokenToId('no-such-token-xyz'), undefined);
  assert.ok(EXPECTED.length >= 10);
  for (const { text, ids } of EXPECTED) {
    assert.deepEqual(tok.encode(text, { addBos: false }), ids, JSON.stringify(text));
    assert.deepEqual(tok.encode(text), [2, ...ids], JSON.stringify(text));
    assert.deepEqual(tok.encode(text, { addBos: false, addEos: true }), [...ids, 1]);
    // Special-token text inside the input decodes away (skipped); everything else round-trips.
    if (!text.includes('<')) assert.equal(tok.decode(tok.encode(text, { addEos: true })), text, JSON.stringify(text));
  }
});

test('encodeBatch: right padding with pad 0, mask, truncation, pairs', () => {
  const tok = loadTokenizer();
  const hello = EXPECTED[0]!.ids; // 6 ids
  const fox = EXPECTED[3]!.ids; // 10 ids
  const b = batchRows(encodeBatch(tok, ['Hello, my dog is cute', 'The quick brown fox jumps over the lazy dog.'], { maxLength: 64 }));
  assert.deepEqual(b.inputIds, [
    [2, ...hello, 0, 0, 0, 0],
    [2, ...fox],
  ]);
  assert.deepEqual(b.attentionMask, [
    [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
  ]);
  const t = batchRows(encodeBatch(tok, ['The quick brown fox jumps over the lazy dog.'], { maxLength: 5, addEos: true }));
  assert.deepEqual(t.inputIds, [[2, ...fox.slice(0, 3), 1]]);
  assert.throws(() => encodeBatch(tok, ['The quick brown fox jumps over the lazy dog.'], { maxLength: 5, truncation: false }), ConfigError);
  const p = batchRows(encodeBatch(tok, [['Hello, my dog is cute', 'The quick brown fox jumps over the lazy dog.']], { maxLength: 12, padToMax: true }));
  // 12 = bos + a + eos + b: longest-first leaves 5 + 5.
  assert.deepEqual(p.inputIds, [[2, ...hello.slice(0, 5), 1, ...fox.slice(0, 5)]]);
  const q = batchRows(encodeBatch(tok, [['Hello, my dog is cute', 'x']], { maxLength: 16, padToMax: true, addBos: false }));
  assert.equal(q.inputIds[0]!.length, 16);
  assert.deepEqual(q.attentionMask[0]!.slice(6, 10), [1, 1, 0, 0]);
});

test('loadTokenizer(dir): missing tokenizer.json is a ConfigError naming the folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tok-'));
  try {
    assert.throws(() => loadTokenizer(dir), (e: unknown) => e instanceof ConfigError && e.message.includes(dir));
    await writeFile(join(dir, 'tokenizer.json'), '{not json');
    assert.throws(() => loadTokenizer(dir), (e: unknown) => e instanceof ConfigError && e.message.includes('tokenizer.json'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
