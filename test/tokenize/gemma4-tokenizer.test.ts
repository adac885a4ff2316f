/**
 * A Gemma 4 format tokenizer.json (test/fixtures/gemma4-tokenizer, made by
 * test/reference/make_gemma4_tokenizer.py; ids derivable by hand from its 392-piece vocabulary):
 * its special tokens are single ids, Gemma 3's chat markers are ordinary text, and its ids fit the
 * Gemma 4 config's vocabulary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseGemma4Config } from '../../src/config/gemma4.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { batchRows } from '../../src/tokenize/batch.js';
import { encodeBatch, loadTokenizer } from '../../src/tokenize/index.js';

const DIR = join(REPO_ROOT, 'test', 'fixtures', 'gemma4-tokenizer');

test('Gemma 4 tokenizer: pad/bos/eos, <|turn> / <turn|> at 105 / 106, multimodal placeholders, byte fallback', () => {
  const tok = loadTokenizer(DIR);
  assert.deepEqual([tok.padId, tok.eosId, tok.bosId], [0, 1, 2]);
  // user = 386, "\n" falls back to <0x0A> = 113 + 10, "▁hello" = 383, "▁world" = 391 (merge order in the script).
  assert.deepEqual(tok.encode('<|turn>user\n hello world<turn|>'), [2, 105, 386, 123, 383, 391, 106]);
  assert.deepEqual(tok.encode('<|image|><|audio|><|video|>', { addBos: false }), [258880, 258881, 258884]);
  assert.equal(tok.tokenToId('<|tool_call>'), 109);
  // Gemma 3's markers are not in the Gemma 4 vocabulary: plain text, many byte-level ids, none special.
  const g3 = tok.encode('<start_of_turn>', { addBos: false });
  assert.ok(g3.length > 5 && g3.every((id) => id >= 113 && id < 392), JSON.stringify(g3));
  assert.equal(tok.decode(g3), '<start_of_turn>');
  // Decoding skips the specials and restores spaces and bytes.
  assert.equal(tok.decode([2, 105, 386, 123, 383, 391, 106, 1]), 'user\n hello world');
  const b = encodeBatch(tok, ['hello world', '<|turn>user'], { maxLength: 8 });
  assert.deepEqual(batchRows(b).inputIds, [
    [2, 370, 380, 381, 391], // "hello" has no ▁ before it: h + el + lo
    [2, 105, 386, 0, 0],
  ]);
  // Every id fits the published Gemma 4 vocabulary (262144, specials included).
  const e2b = parseGemma4Config(JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'gemma4-configs', 'gemma-4-e2b', 'config.json'), 'utf8')), 'e2b');
  assert.ok(tok.vocabSize <= e2b.vocabSize, `${tok.vocabSize} ids vs vocab ${e2b.vocabSize}`);
});
