/**
 * `gemma-lab rank train|rerank|retrieve`:
 * - train: fine-tune a checkpoint on MS MARCO groups (triples TSV or {query,pos,neg} JSONL) as a
 *   cross-encoder reranker (`--objective rerank`) or a bi-encoder (`--objective embed`: multiple-negatives
 *   ranking loss, in-batch + hard negatives, `--temperature`), seeds/budgets/shards as `gemma-lab glue`;
 *   every model is exported (reranker: HF checkpoint; bi-encoder: sentence-transformers layout) and scored
 *   on TREC DL (`--year`), nDCG@10 beside BM25's.
 * - rerank: re-score TREC DL's BM25 top-100 with an exported reranker.
 * - retrieve: dense retrieval with an exported bi-encoder (ST folder) over the pooled TREC DL candidates.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { parseShard } from '../experiments/runner.js';
import { terminalProgress } from '../progress/index.js';
import type { TrecDlYear } from '../rank/trecdl.js';
import type { RankScores } from '../workflow/ranking.js';
import type { Command } from './command.js';
import { defineCommand, type FlagSpec } from './args.js';
import { budgetGrid, runSweepCli, seedRange, variantGrid } from './workflow.js';

const YEARS: readonly string[] = ['2019', '2020'];
const year = (v: string | undefined): TrecDlYear => {
  const y = v ?? '2019';
  if (!YEARS.includes(y)) throw new ConfigError(`--year must be 2019 or 2020, got '${y}'`, undefined, 'year');
  return Number(y) as TrecDlYear;
};

const train = defineCommand(
  'fine-tune a reranker or bi-encoder on MS MARCO groups and score it on TREC DL',
  {
    name: 'rank train',
    flags: {
      model: { type: 'string', required: true, value: 'DIR', help: 'Gemma checkpoint folder' },
      out: { type: 'string', required: true, value: 'DIR', help: 'results + exported models' },
      objective: { type: 'string', default: 'rerank', value: 'rerank|embed', help: 'cross-encoder reranker or bi-encoder' },
      train: { type: 'string', value: 'FILE', help: 'triples .tsv or {query,pos,neg} .jsonl (default: MS MARCO train head)' },
      negatives: { type: 'string', default: '1', value: 'N', help: 'hard negatives per query' },
      temperature: { type: 'string', default: '0.05', value: 'T', help: 'bi-encoder softmax temperature' },
      year: { type: 'string', default: '2019', value: 'Y', help: 'TREC DL year scored (2019|2020)' },
      tokenizer: { type: 'string', value: 'DIR', help: 'tokenizer folder (default: the model folder)' },
      seeds: { type: 'string', default: '1', value: 'N', help: 'seeds 0..N-1' },
      steps: { type: 'string', value: 'N[,N]', help: 'optimizer steps (or --epochs)' },
      epochs: { type: 'string', value: 'E', help: 'passes over the groups' },
      batch: { type: 'string', value: 'B[,B]', help: 'queries per step (default 16)' },
      lr: { type: 'string', value: 'LR[,LR]', help: 'peak learning rate (default 2e-5)' },
      warmup: { type: 'string', value: 'F', help: 'warmup fraction (default 0.06)' },
      'max-length': { type: 'string', value: 'N', help: 'tokens per text (default 128)' },
      'train-limit': { type: 'string', value: 'N', help: 'use the first N groups' },
      attention: { type: 'string', value: 'A[,A]', help: 'attention mode (default bidirectional_global)' },
      pooling: { type: 'string', value: 'P[,P]', help: 'pooling (default mean)' },
      dropout: { type: 'string', value: 'R', help: 'dropout (default 0.1)' },
      resume: { type: 'boolean', help: 'continue an interrupted run from its checkpoint' },
      shard: { type: 'string', value: 'k/N', help: 'run only job k of every N' },
    } satisfies Record<string, FlagSpec>,
  },
  async (v) => {
    const objective = v.objective as string;
    if (objective !== 'rerank' && objective !== 'embed') throw new ConfigError(`--objective must be rerank or embed, got '${objective}'`, undefined, 'objective');
    if (v.train !== undefined && !existsSync(v.train)) throw new ConfigError('no such training file', v.train, 'train');
    const negatives = Number(v.negatives);
    const temperature = Number(v.temperature);
    if (!(Number.isInteger(negatives) && negatives >= 1)) throw new ConfigError(`--negatives must be a positive integer, got '${v.negatives}'`, undefined, 'negatives');
    if (!(temperature > 0)) throw new ConfigError(`--temperature must be > 0, got '${v.temperature}'`, undefined, 'temperature');
    const seeds = seedRange(v.seeds);
    return runSweepCli({
      spec: {
        name: `rank-${objective}`,
        model: v.model,
        ...(v.tokenizer ? { tokenizerDir: v.tokenizer } : {}),
        tasks: [`msmarco:${objective}`],
        variants: variantGrid(v),
        seeds,
        budgets: budgetGrid(v, 'gemma-lab rank train'),
        ...(v.train ? { files: { train: v.train } } : {}),
      },
      options: {
        out: v.out,
        exportModels: true,
        resume: v.resume,
        ...(v.shard ? { shard: parseShard(v.shard) } : {}),
        setup: { negatives, temperature, year: year(v.year) },
      },
    });
  },
);

const scoreFlags = {
  model: { type: 'string', required: true, value: 'DIR', help: 'an exported model (rank train --out DIR/models/...)' },
  year: { type: 'string', default: '2019', value: 'Y', help: 'TREC DL year (2019|2020)' },
  'max-length': { type: 'string', default: '128', value: 'N', help: 'tokens per text (rerank; retrieve keeps the folder\'s max_seq_length)' },
  run: { type: 'string', value: 'FILE', help: 'also write the run (TREC format)' },
} satisfies Record<string, FlagSpec>;

function printScores(kind: 'rerank' | 'retrieve', s: RankScores): void {
  const f = (x: number) => x.toFixed(4);
  console.log(`TREC DL ${s.year} (${s.model.numQueries} judged queries; ${kind === 'rerank' ? `${s.candidates} BM25 top-100 pairs re-scored` : `${s.candidates} pooled candidate passages searched`})`);
  console.log(`${'run'.padEnd(12)}  nDCG@10  MAP(l2)  R@100(l2)  MRR@10(l2)`);
  console.log(`${'BM25'.padEnd(12)}  ${f(s.bm25.ndcg10)}   ${f(s.bm25.map)}   ${f(s.bm25.recall100)}     ${f(s.bm25.mrr10)}`);
  console.log(`${(kind === 'rerank' ? 'reranker' : 'bi-encoder').padEnd(12)}  ${f(s.model.ndcg10)}   ${f(s.model.map)}   ${f(s.model.recall100)}     ${f(s.model.mrr10)}`);
}

async function score(kind: 'rerank' | 'retrieve', v: { model: string; year: string; 'max-length': string; run?: string | undefined }): Promise<number> {
  const [{ initEngine }, ranking] = await Promise.all([import('../engine/index.js'), import('../workflow/ranking.js')]);
  if (kind === 'retrieve' && !existsSync(join(v.model, 'modules.json'))) throw new ConfigError('not a sentence-transformers folder (no modules.json)', v.model, 'model');
  await initEngine();
  const y = year(v.year);
  const ctl = { onProgress: terminalProgress(), ...(v.run ? { runPath: v.run } : {}) };
  if (kind === 'retrieve') {
    // The bi-encoder is read as any sentence-transformers folder (the reader `embed` uses); texts are
    // cut to its sentence_bert_config max_seq_length, as sentence-transformers does.
    const { loadEmbedder } = await import('../embed/embed.js');
    const embedder = await loadEmbedder(v.model);
    try {
      printScores(kind, await ranking.retrieveWith(ranking.stTextEmbedder(embedder), y, ctl));
    } finally {
      embedder.dispose();
    }
    return 0;
  }
  const [{ loadFinetuned }, { loadTokenizer }] = await Promise.all([import('../workflow/export.js'), import('../tokenize/index.js')]);
  const loaded = await loadFinetuned(v.model);
  try {
    printScores(kind, await ranking.rerankScores(loaded.encoder, y, { tokenizer: loadTokenizer(v.model), maxLength: Number(v['max-length']), ...ctl }));
    return 0;
  } finally {
    loaded.encoder.dispose();
    loaded.model.dispose();
  }
}

const rerank = defineCommand('re-score TREC DL BM25 top-100 with an exported reranker', { name: 'rank rerank', flags: scoreFlags }, (v) => score('rerank', v));
const retrieve = defineCommand('dense retrieval on TREC DL with an exported bi-encoder (ST folder)', { name: 'rank retrieve', flags: scoreFlags }, (v) => score('retrieve', v));

const SUB: Record<string, Command> = { train, rerank, retrieve };

const command: Command = {
  summary: 'MS MARCO / TREC DL: train a reranker or bi-encoder, rerank, retrieve',
  async run(argv) {
    const [sub, ...rest] = argv;
    const cmd = sub === undefined ? undefined : SUB[sub];
    if (!cmd) {
      const lines = Object.entries(SUB).map(([n, c]) => `  ${n.padEnd(9)} ${c.summary}`);
      (sub === '--help' || sub === '-h' ? console.log : console.error)(`usage: gemma-lab rank train|rerank|retrieve [options]\n${lines.join('\n')}`);
      return sub === '--help' || sub === '-h' ? 0 : 2;
    }
    return cmd.run(rest);
  },
};
export default command;
