/**
 * Reranking throughput: query-passage pairs/s of a fixed tiny random Gemma 2 cross-encoder on real
 * TREC DL19 BM25 candidates (byte-level token ids, maxLength 128).
 * - `rerank` = the whole pipeline (tokenize, pad, forward, sort) at batch 32 and at batch 1;
 * - baseline = `encoder.logits` alone on the same pre-built batch-32 inputs; the ratio (< 1) is the
 *   share of the model's speed the pipeline keeps, measured in the same run.
 * Run alone: `node --import tsx bench/rank.ts`.
 */
import { pathToFileURL } from 'node:url';
import { parseGemmaConfig } from '../src/config/gemma.js';
import { toEncoder } from '../src/encoder/encoder.js';
import { initEngine } from '../src/engine/index.js';
import { sharedDataPath } from '../src/io/paths.js';
import { GemmaModel } from '../src/models/gemma.js';
import { EncoderPairScorer, rankingBatch, type RankTextOptions } from '../src/rank/encoder.js';
import { rerank, rerankQueriesFromTrecDl, type RerankQuery } from '../src/rank/rerank.js';
import { loadTrecDlJsonl } from '../src/tasks/msmarco.js';
import type { Tokenizer } from '../src/tokenize/index.js';
import type { PaddedBatch } from '../src/train/batching.js';

export interface BenchRow {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
}

const CONFIG = parseGemmaConfig(
  {
    model_type: 'gemma2', vocab_size: 259, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, query_pre_attn_scalar: 16, sliding_window: 64,
    layer_types: ['sliding_attention', 'full_attention'], attn_logit_softcapping: 50, final_logit_softcapping: 30,
    rms_norm_eps: 1e-6, rope_theta: 10000, pad_token_id: 0, bos_token_id: 2, eos_token_id: 1, initializer_range: 0.02,
    hidden_activation: 'gelu_pytorch_tanh', max_position_embeddings: 512,
  },
  'bench-rank-config',
);

/** UTF-8 bytes as ids 3..258, so real text runs through a 259-token model. */
const BYTES: Tokenizer = {
  encode: (text, opts) => [...(opts?.addBos === false ? [] : [2]), ...[...Buffer.from(text, 'utf8')].map((b) => b + 3), ...(opts?.addEos ? [1] : [])],
  decode: (ids) => Buffer.from(ids.filter((i) => i >= 3).map((i) => i - 3)).toString('utf8'),
  vocabSize: 259,
  padId: 0,
  bosId: 2,
  eosId: 1,
  tokenToId: () => undefined,
  idToToken: () => undefined,
};

/**
 * Best time of each function over `reps` rounds after one warm-up each; the functions alternate within
 * a round so background load on a shared box hits them alike, and the minimum is the least disturbed.
 */
async function bestSeconds(fns: readonly (() => Promise<unknown>)[], reps = 5): Promise<number[]> {
  for (const f of fns) await f();
  const best = fns.map(() => Infinity);
  for (let r = 0; r < reps; r++) {
    for (const [i, f] of fns.entries()) {
      const t0 = performance.now();
      await f();
      best[i] = Math.min(best[i] as number, (performance.now() - t0) / 1000);
    }
  }
  return best;
}

/** `queryCount` DL19 queries x their 100 BM25 candidates. */
export async function rankBench(queryCount = 2): Promise<BenchRow[]> {
  await initEngine();
  const all = rerankQueriesFromTrecDl(await loadTrecDlJsonl(sharedDataPath('msmarco', 'trec-dl-2019', 'bm25_dl19_top100.jsonl')));
  const queries = all.slice(0, queryCount);
  const pairs = queries.flatMap((q) => q.candidates.map((c) => [q.query, c.text] as const));
  const model = GemmaModel.random(CONFIG, 0);
  const enc = toEncoder(model, { attention: 'bidirectional_global', pooling: 'mean', head: { kind: 'ranking', loss: 'pointwise' }, seed: 0 });
  const opts: RankTextOptions = { maxLength: 128, addEos: true };
  const scorer = new EncoderPairScorer(enc, BYTES, opts);
  try {
    const batches: PaddedBatch[] = [];
    for (let s = 0; s < pairs.length; s += 32) batches.push(rankingBatch(BYTES, pairs.slice(s, s + 32), opts));
    const first32 = [{ ...(queries[0] as RerankQuery), candidates: queries[0]?.candidates.slice(0, 32) ?? [] }];
    const [raw, pipeline, single] = (await bestSeconds([
      async () => {
        for (const b of batches) {
          const out = enc.logits(b);
          await out.data();
          out.dispose();
        }
      },
      () => rerank(queries, scorer, { batchSize: 32 }),
      () => rerank(first32, scorer, { batchSize: 1 }),
    ])) as [number, number, number];
    return [
      { name: `rerank pairs/s (tiny gemma2 D64 L2, T<=128, batch 32, ${pairs.length} DL19 pairs)`, value: pairs.length / pipeline, unit: 'pairs/s' },
      { name: 'rerank pairs/s (batch 1)', value: 32 / single, unit: 'pairs/s' },
      { name: 'baseline: encoder.logits alone, batch 32, pre-tokenized', value: pairs.length / raw, unit: 'pairs/s' },
      { name: 'rerank / baseline throughput', value: raw / pipeline, unit: 'x' },
    ];
  } finally {
    enc.dispose();
    model.dispose();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const info = await initEngine();
  console.log(`backend ${info.backend}${info.native ? ' (native kernels)' : ''}`);
  for (const r of await rankBench()) console.log(`${r.name.padEnd(72)} ${r.value.toFixed(r.unit === 'x' ? 3 : 1)} ${r.unit}`);
}
