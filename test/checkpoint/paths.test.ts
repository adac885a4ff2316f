import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { safeJoin, unsafeFilenameReason } from '../../src/checkpoint/paths.js';

// POSIX and Windows readings of the unsafe names huggingface_hub refuses (docs/reliability.md), plus ours.
const UNSAFE = [
  '..', '../x.json', 'a/../b.json', 'a/..', // parent segments
  '/etc/passwd', '//server/share/x', // absolute, POSIX UNC
  '\\x.json', '\\\\server\\share\\x', 'a\\..\\b', // root-relative, UNC, Windows separators
  'C:\\x.json', 'C:/x.json', 'C:x.json', 'c:', // drive, drive-relative
  '', '.', './x.json', 'a//b.json', 'a/', // empty and dot segments
  'a\u0000b', 'a\nb', 'x:y.json', '\ud800.json', // control characters, ADS-like colon, lone surrogate
];
const SAFE = ['config.json', 'model-00001-of-00002.safetensors', 'sub/dir/tokenizer.json', '.gitattributes', 'a..b.json', '日本.json'];

test('unsafe relative file names are refused, ordinary ones accepted', () => {
  for (const n of UNSAFE) assert.notEqual(unsafeFilenameReason(n), undefined, JSON.stringify(n));
  for (const n of SAFE) assert.equal(unsafeFilenameReason(n), undefined, n);
});

test('safeJoin stays inside its root', () => {
  assert.equal(safeJoin('/r', 'sub/x.json'), join('/r', 'sub', 'x.json'));
  for (const n of UNSAFE) assert.equal(typeof safeJoin('/r', n), 'object', JSON.stringify(n));
});
