/**
 * Encoder-decoder generation cost per new token at 8 vs 128 generated tokens, KV cache vs whole-prefix
 * reruns, for both recipes built from the shipped data/models/tiny-gemma-pretrained (Gemma 3, D128 L4,
 * V11213). Batch 4, encoder input 32 tokens, greedy with eos disabled so every run produces exactly N
 * tokens. Rounds interleave the lengths and keep each one's best time (the machine is shared).
 */
import { join } from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { REPO_ROOT } from '../src/io/paths.js';
import { loadGemmaModel } from '../src/models/load.js';
import { toEncoderDecoder } from '../src/t5gemma/build.js';
import { greedyDecode } from '../src/t5gemma/decode.js';
import { type EncoderDecoderModel, cachedStepFn, uncachedStepFn } from '../src/t5gemma/generate.js';
import { type BenchSection, fmt, type Table } from './harness.js';

const B = 4;
const S = 32;
const LENGTHS = [8, 32, 128] as const;
const ROUNDS = 3;

async function perToken(model: EncoderDecoderModel, cached: boolean, n: number): Promise<number> {
  const ids = Array.from({ length: B }, (_, b) => [2, ...Array.from({ length: S - 1 }, (_, t) => 3 + ((b * 131 + t * 17) % 5000))]);
  const mask = ids.map((r) => r.map(() => 1));
  const t0 = performance.now();
  const { step, dispose } = cached ? cachedStepFn(model, ids, mask) : uncachedStepFn(model, ids, mask);
  try {
    const out = await greedyDecode(step, B, { start: model.config.bosTokenId, eos: -1, maxNewTokens: n });
    if (out.some((h) => h.tokens.length !== n)) throw new Error('bench: a row stopped early');
  } finally {
    dispose();
  }
  return (performance.now() - t0) / n;
}

const section: BenchSection = {
  name: 'generate',
  description: `encoder-decoder greedy generation ms per new token (B${B}, S${S}) at ${LENGTHS.join('/')} tokens, KV cache vs uncached`,
  async run(ctx) {
    await initEngine();
    const gemma = await loadGemmaModel(join(REPO_ROOT, 'data', 'models', 'tiny-gemma-pretrained'));
    const models: [string, EncoderDecoderModel][] = [
      ['t5gemma2 (merged)', await toEncoderDecoder(gemma, undefined, { recipe: 't5gemma2' })],
      ['t5gemma (cross-attn)', await toEncoderDecoder(gemma)],
    ];
    gemma.dispose();
    const rows: (string | number)[][] = [];
    for (const [name, model] of models) {
      for (const cached of [true, false]) {
        const best = new Map<number, number>();
        for (let r = 0; r < ROUNDS; r++) {
          for (const n of LENGTHS) {
            if (!cached && n === 128 && r > 0) continue; // one uncached 128-token run is enough to show the O(T^2) growth
            const ms = await perToken(model, cached, n);
            best.set(n, Math.min(best.get(n) ?? Infinity, ms));
            ctx.log(`${name} ${cached ? 'cached' : 'uncached'} ${n} tokens: ${fmt(ms, 2)} ms/token`);
          }
        }
        const at = (n: number) => best.get(n) as number;
        rows.push([`${name}, ${cached ? 'KV cache' : 'uncached'}`, ...LENGTHS.map((n) => fmt(at(n), 2)), `${fmt(at(128) / at(8), 2)}`]);
      }
      model.dispose();
    }
    const table: Table = {
      title: 'generation: ms per new token (best of rounds, interleaved)',
      columns: ['model', ...LENGTHS.map((n) => `${n} tokens`), 'ratio 128 / 8'],
      rows,
      notes: ['Per-token time includes the encoder run and cache setup amortised over the generated tokens; target: KV-cache ratio <= 1.5.'],
    };
    return [table];
  },
};

export default section;
