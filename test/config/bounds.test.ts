/**
 * Config sizes are bounded before anything is sized from them (issue 14 cases 1-2): a crafted config.json
 * with a huge layer count, head count, vocabulary or width is a ConfigError naming the file and field, raised
 * fast and without allocating, instead of an out-of-memory abort or an untyped RangeError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseGemmaConfig } from '../../src/config/gemma.js';
import { parseT5GemmaConfig } from '../../src/config/t5gemma.js';
import { ConfigError } from '../../src/errors.js';
import { REPO_ROOT, sharedDir } from '../../src/io/paths.js';

const read = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
const G2 = join(sharedDir(), 'fixtures', 'gemma2-tiny', 'config.json');
const G3 = join(REPO_ROOT, 'test', 'fixtures', 'gemma3-tiny', 'config.json');
const T5 = join(REPO_ROOT, 'test', 'fixtures', 't5gemma-tiny', 'config.json');

function rejects(fn: () => unknown, field: string, msg: RegExp): void {
  const t0 = performance.now();
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`);
    assert.equal(e.file, 'cfg.json');
    assert.equal(e.field, field);
    assert.match(e.message, msg);
    return true;
  });
  // Refused before anything is sized from the value (1e9 layers took 17 s and 1.6 GB before the fix).
  assert.ok(performance.now() - t0 < 500, `took ${performance.now() - t0} ms`);
}

test('huge or non-integer sizes in a Gemma config are ConfigErrors naming the field, raised without allocating', () => {
  for (const base of [read(G2), read(G3)]) {
    const { layer_types: _drop, ...noLayerTypes } = base;
    for (const layers of [1e9, 2 ** 32, 1e6, 1e300]) {
      rejects(() => parseGemmaConfig({ ...noLayerTypes, num_hidden_layers: layers }, 'cfg.json'), 'num_hidden_layers', /at most 1024/);
    }
    rejects(() => parseGemmaConfig({ ...base, num_attention_heads: 2 ** 40, num_key_value_heads: 1 }, 'cfg.json'), 'num_attention_heads', /at most/);
    rejects(() => parseGemmaConfig({ ...base, vocab_size: 1e12 }, 'cfg.json'), 'vocab_size', /at most/);
    rejects(() => parseGemmaConfig({ ...base, hidden_size: 2 ** 53 + 2 }, 'cfg.json'), 'hidden_size', /at most/);
    rejects(() => parseGemmaConfig({ ...base, intermediate_size: 1e15 }, 'cfg.json'), 'intermediate_size', /at most/);
    rejects(() => parseGemmaConfig({ ...base, head_dim: 1e7 }, 'cfg.json'), 'head_dim', /at most/);
    rejects(() => parseGemmaConfig({ ...base, max_position_embeddings: 1e12 }, 'cfg.json'), 'max_position_embeddings', /at most/);
    rejects(() => parseGemmaConfig({ ...base, num_hidden_layers: 2.5 }, 'cfg.json'), 'num_hidden_layers', /integer/);
    // Each size in range, the embedding table is not: vocab 4M x hidden 65536 = 2.7e11 elements.
    rejects(() => parseGemmaConfig({ ...base, vocab_size: 4_000_000, hidden_size: 65_536 }, 'cfg.json'), 'vocab_size*hidden_size', /elements/);
    rejects(
      () => parseGemmaConfig({ ...base, hidden_size: 65_536, intermediate_size: 262_144 }, 'cfg.json'),
      'hidden_size*intermediate_size',
      /elements/,
    );
  }
  // A list of layer types longer than the bound is refused too (before it is validated entry by entry).
  const g2 = read(G2);
  rejects(() => parseGemmaConfig({ ...g2, num_hidden_layers: 2, layer_types: new Array(5000).fill('full_attention') }, 'cfg.json'), 'layer_types', /at most 1024/);
});

test('T5Gemma: bounds apply inside encoder/decoder sub-configs and to the top-level vocab', () => {
  const t5 = read(T5);
  const enc = t5.encoder as Record<string, unknown>;
  const { layer_types: _drop, ...encNoTypes } = enc;
  rejects(() => parseT5GemmaConfig({ ...t5, encoder: { ...encNoTypes, num_hidden_layers: 1e9 } }, 'cfg.json'), 'encoder.num_hidden_layers', /at most/);
  rejects(() => parseT5GemmaConfig({ ...t5, vocab_size: 2 ** 32 }, 'cfg.json'), 'vocab_size', /at most/);
  // Top-level vocab (which overrides the modules') times a module's width.
  rejects(() => parseT5GemmaConfig({ ...t5, vocab_size: 4_000_000, encoder: { ...enc, hidden_size: 65_536 } }, 'cfg.json'), 'encoder.vocab_size*hidden_size', /elements/);
  assert.equal(parseT5GemmaConfig(t5, 'cfg.json').vocabSize, t5.vocab_size);
});

test('real configs are within bounds; the reusable checks name file and field', async () => {
  const { CONFIG_SIZE_LIMITS, checkConfigSizes, checkSizeProduct } = await import('../../src/config/bounds.js');
  // Sizes of the largest released Gemma 2/3 models pass (27B: hidden 5376, 62 layers, vocab 262208).
  const big: Record<string, unknown> = { ...read(G3), hidden_size: 5376, intermediate_size: 21504, num_hidden_layers: 62, num_attention_heads: 32, num_key_value_heads: 16, head_dim: 128, vocab_size: 262_208, max_position_embeddings: 131_072 };
  delete big.layer_types;
  assert.equal(parseGemmaConfig(big, 'cfg.json').numHiddenLayers, 62);
  assert.ok(CONFIG_SIZE_LIMITS.num_hidden_layers >= 1024 && CONFIG_SIZE_LIMITS.vocab_size >= 262_208);
  // Standalone use by other parsers: nested objects (text_config, vision_config, ...) are walked.
  assert.throws(() => checkConfigSizes({ text_config: { num_hidden_layers: 1e9 } }, 'x.json'), (e: unknown) => e instanceof ConfigError && e.field === 'text_config.num_hidden_layers' && e.file === 'x.json');
  assert.throws(() => checkConfigSizes({ vision_config: { hidden_size: -3 } }, 'x.json'), (e: unknown) => e instanceof ConfigError && e.field === 'vision_config.hidden_size');
  checkConfigSizes({ text_config: { num_hidden_layers: 26, hidden_size: 1152 }, vision_config: { image_size: 896 } }, 'x.json');
  // Parsers built on ConfigReader get the per-field bound even without the pre-pass.
  const { ConfigReader } = await import('../../src/config/gemma.js');
  assert.throws(() => new ConfigReader({ num_hidden_layers: 1e9 }, 'x.json', 'text_config.').int('num_hidden_layers'), (e: unknown) => e instanceof ConfigError && e.field === 'text_config.num_hidden_layers' && /at most 1024/.test(e.message));
  assert.equal(new ConfigReader({ num_hidden_layers: 30 }, 'x.json').int('num_hidden_layers'), 30);
  assert.throws(() => checkSizeProduct('x.json', 'a*b', [2 ** 27, 2 ** 27]), (e: unknown) => e instanceof ConfigError && e.field === 'a*b');
  assert.equal(checkSizeProduct('x.json', 'a*b', [262_208, 5376]), 262_208 * 5376);
});

test('CLI inspect on a config with num_hidden_layers 2**32: typed one-line error, exit 1, no stack trace', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gl-bounds-'));
  try {
    const cfg = read(G2);
    delete cfg.layer_types;
    cfg.num_hidden_layers = 2 ** 32;
    await writeFile(join(dir, 'config.json'), JSON.stringify(cfg));
    await symlink(join(sharedDir(), 'fixtures', 'gemma2-tiny', 'model.safetensors'), join(dir, 'model.safetensors'));
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'inspect', dir], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /ConfigError: .*config\.json: field 'num_hidden_layers': .*at most 1024/);
    assert.doesNotMatch(r.stderr, /RangeError|\n\s+at /);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('openCheckpoint bounds any config.json (any family, nested sub-configs) before a parser sees it', async () => {
  const { openCheckpoint } = await import('../../src/checkpoint/index.js');
  const dir = await mkdtemp(join(tmpdir(), 'gl-bounds-'));
  try {
    await symlink(join(sharedDir(), 'fixtures', 'gemma2-tiny', 'model.safetensors'), join(dir, 'model.safetensors'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'gemma3', text_config: { num_hidden_layers: 1e9 }, vision_config: { hidden_size: 1152 } }));
    await assert.rejects(openCheckpoint(dir), (e: unknown) => e instanceof ConfigError && e.field === 'text_config.num_hidden_layers' && e.file === join(dir, 'config.json'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'gemma3', text_config: { num_hidden_layers: 26, vocab_size: 262_208, hidden_size: 1152 } }));
    assert.equal((await openCheckpoint(dir)).config.model_type, 'gemma3');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Gemma 3 multimodal and Gemma 4 parsers: bounds on text_config sizes and per-layer embeddings; released configs pass', async () => {
  const { parseGemma3MultimodalConfig } = await import('../../src/config/gemma3.js');
  const { parseGemma4Config } = await import('../../src/config/gemma4.js');
  const mm = read(join(REPO_ROOT, 'test', 'fixtures', 'gemma3-mm-tiny', 'config.json'));
  const mmText = mm.text_config as Record<string, unknown>;
  const { layer_types: _a, ...mmTextNoTypes } = mmText;
  rejects(() => parseGemma3MultimodalConfig({ ...mm, text_config: { ...mmTextNoTypes, num_hidden_layers: 2 ** 32 } }, 'cfg.json'), 'text_config.num_hidden_layers', /at most 1024/);
  rejects(() => parseGemma3MultimodalConfig({ ...mm, text_config: { ...mmText, vocab_size: 4_000_000, hidden_size: 65_536 } }, 'cfg.json'), 'text_config.vocab_size*hidden_size', /elements/);

  const g4 = read(join(REPO_ROOT, 'test', 'fixtures', 'gemma4-e2b-tiny', 'config.json'));
  const g4Text = g4.text_config as Record<string, unknown>;
  const { layer_types: _b, ...g4TextNoTypes } = g4Text;
  rejects(() => parseGemma4Config({ ...g4, text_config: { ...g4TextNoTypes, num_hidden_layers: 1e9 } }, 'cfg.json'), 'text_config.num_hidden_layers', /at most 1024/);
  rejects(() => parseGemma4Config({ ...g4, text_config: { ...g4Text, global_head_dim: 1e6 } }, 'cfg.json'), 'text_config.global_head_dim', /at most/);
  // Per-layer input embeddings [vocab_per_layer, layers * per_layer_width]: 4M x 1000 x 4096 elements.
  rejects(
    () => parseGemma4Config({ ...g4, text_config: { ...g4TextNoTypes, num_hidden_layers: 1000, vocab_size_per_layer_input: 4_000_000, hidden_size_per_layer_input: 4096 } }, 'cfg.json'),
    'text_config.vocab_size_per_layer_input*num_hidden_layers*hidden_size_per_layer_input',
    /elements/,
  );
  // Released Gemma 4 configs (text, vision and audio towers) are all within bounds and parse.
  const { checkConfigSizes } = await import('../../src/config/bounds.js');
  for (const name of ['gemma-4-e2b', 'gemma-4-e4b', 'gemma-4-31b', 'gemma-4-26b-a4b']) {
    const json = read(join(REPO_ROOT, 'test', 'fixtures', 'gemma4-configs', name, 'config.json'));
    assert.doesNotThrow(() => checkConfigSizes(json, name), name);
    assert.ok(parseGemma4Config(json, name).numHiddenLayers > 0, name);
  }
});
