/**
 * MS MARCO / TREC DL reranking throughput: query-passage pairs/s of a fixed tiny random Gemma 2
 * cross-encoder (D64 L2, mean pooling, ranking head) on real DL19 BM25 candidates, tokenized with the
 * Gemma 3 tokenizer trimmed to these texts, maxLength 128.
 * Baseline (same run): `encoder.logits` alone on the same pre-tokenized batch-32 inputs, so the ratio
 * is the share of the model's speed the whole pipeline (tokenize, pad, forward, read back, sort) keeps.
 * Second table: collection.tsv streaming MB/s against a bare read stream of the same bytes.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toEncoder } from '../src/encoder/encoder.js';
import { initEngine } from '../src/engine/index.js';
import { sharedDataPath } from '../src/io/paths.js';
import { GemmaModel } from '../src/models/gemma.js';
import { EncoderPairScorer, rankingBatch, type RankTextOptions } from '../src/rank/encoder.js';
import { rerank, rerankQueriesFromTrecDl, type RerankQuery } from '../src/rank/rerank.js';
import { loadTrecDlJsonl, streamCollection } from '../src/tasks/msmarco.js';
import type { PaddedBatch } from '../src/tokenize/batch.js';
import { type BenchContext, type BenchSection, fmt, ratio, type Table, timeIt, tinyGemma2 } from './harness.js';

const QUERIES = 2; // x 100 BM25 candidates each
const OPTS: RankTextOptions = { maxLength: 128, addEos: true };

async function rerankTable(ctx: BenchContext): Promise<Table> {
  const engine = await initEngine();
  const queries = rerankQueriesFromTrecDl(await loadTrecDlJsonl(sharedDataPath('msmarco', 'trec-dl-2019', 'bm25_dl19_top100.jsonl'))).slice(0, QUERIES);
  const pairs = queries.flatMap((q) => q.candidates.map((c) => [q.query, c.text] as const));
  ctx.log('rank: trimming the Gemma 3 vocabulary to the DL19 texts');
  const { tok, config } = tinyGemma2(pairs.flat(), 'bench/rank.ts');
  const model = GemmaModel.random(config, 0);
  const enc = toEncoder(model, { attention: 'bidirectional_global', pooling: 'mean', head: { kind: 'ranking', loss: 'pointwise' }, seed: 0 });
  const scorer = new EncoderPairScorer(enc, tok, OPTS);
  try {
    const batches: PaddedBatch[] = [];
    for (let s = 0; s < pairs.length; s += 32) batches.push(rankingBatch(tok, pairs.slice(s, s + 32), OPTS));
    const meanLen = batches.reduce((n, b) => n + b.mask.reduce((a, m) => a + m, 0), 0) / pairs.length;
    // Deterministic side of the length sort: token slots computed (batch x padded length) per order.
    const slots = (ps: readonly (readonly [string, string])[]): number => {
      let n = 0;
      for (let s = 0; s < ps.length; s += 32) {
        const b = rankingBatch(tok, ps.slice(s, s + 32), OPTS);
        n += b.batch * b.length;
      }
      return n;
    };
    const byLength = [...pairs].sort((a, b) => b[0].length + b[1].length - (a[0].length + a[1].length));
    const first32: RerankQuery[] = [{ ...(queries[0] as RerankQuery), candidates: (queries[0] as RerankQuery).candidates.slice(0, 32) }];
    const raw = await timeIt(async () => {
      for (const b of batches) {
        const out = enc.logits(b);
        await out.data();
        out.dispose();
      }
    });
    const pipeline = await timeIt(() => rerank(queries, scorer, { batchSize: 32 }));
    const unsorted = await timeIt(() => rerank(queries, scorer, { batchSize: 32, sortByLength: false }));
    const single = await timeIt(() => rerank(first32, scorer, { batchSize: 1 }));
    const base = pairs.length / raw.median;
    const rows: (string | number)[][] = [
      ['baseline: encoder.logits, batch 32, pre-tokenized', fmt(base), '1.0x'],
      ['rerank (tokenize + forward + sort), batch 32, length-sorted', fmt(pairs.length / pipeline.median), ratio(pairs.length / pipeline.median, base)],
      ['rerank, batch 32, input order', fmt(pairs.length / unsorted.median), ratio(pairs.length / unsorted.median, base)],
      ['rerank, batch 1 (32 pairs)', fmt(32 / single.median), ratio(32 / single.median, base)],
    ];
    return {
      title: `Reranking pairs/s, tiny Gemma 2 cross-encoder (V${tok.vocabSize} D64 L2, ${engine.backend}${engine.native ? ' + native' : ''})`,
      columns: ['', 'pairs/s', 'vs baseline'],
      rows,
      notes: [
        `${pairs.length} DL19 (query, BM25 candidate) pairs, mean ${fmt(meanLen)} tokens (maxLength ${OPTS.maxLength}); median of >= 3 runs after a warm-up.`,
        `Token slots computed at batch 32 (real + padding): length-sorted ${slots(byLength)}, input order ${slots(pairs)}, real ${fmt(meanLen * pairs.length, 0)}.`,
      ],
    };
  } finally {
    enc.dispose();
    model.dispose();
  }
}

async function collectionTable(megabytes = 64): Promise<Table> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-collection-'));
  try {
    const file = join(dir, 'collection.tsv');
    const words = ['the', 'passage', 'ranking', 'don\u00e2\u0080\u0099t', 'caf\u00e9', 'retrieval', 'x'.repeat(12)];
    const lines: string[] = [];
    let bytes = 0;
    for (let pid = 0; bytes < megabytes * 1e6; pid++) {
      const line = `${pid}\t${Array.from({ length: 60 }, (_, i) => words[(pid * 7 + i * 3) % words.length]).join(' ')}\n`;
      lines.push(line);
      bytes += Buffer.byteLength(line);
    }
    await writeFile(file, lines.join(''));
    const raw = await timeIt(async () => {
      for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) void chunk;
    });
    const parsed = await timeIt(async () => {
      for await (const p of streamCollection(file)) void p;
    });
    const mb = bytes / 1e6;
    return {
      title: 'collection.tsv streaming (strict UTF-8, tab split, per-line)',
      columns: ['', 'MB/s', 'vs baseline'],
      rows: [
        ['baseline: bare fs read stream', fmt(mb / raw.median), '1.0x'],
        [`streamCollection (${fmt(mb)} MB, ${lines.length} passages)`, fmt(mb / parsed.median), `${(raw.median / parsed.median).toFixed(3)}x`],
      ],
      notes: [`At this rate the real 2.9 GB collection.tsv streams in ~${fmt(2900 / (mb / parsed.median))} s with memory bounded by the longest line.`],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const section: BenchSection = {
  name: 'rank',
  description: 'MS MARCO reranking pairs/s (tiny cross-encoder, DL19 pairs) and collection streaming MB/s',
  async run(ctx) {
    return [await rerankTable(ctx), await collectionTable()];
  },
};

export default section;
