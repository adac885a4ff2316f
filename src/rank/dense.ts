/**
 * Bi-encoder dense retrieval with exact top-k. Queries are embedded first; passages are then streamed
 * in batches (an async iterable such as `streamCollection`), so memory holds the query vectors, one
 * passage batch and k results per query, never the collection or its embeddings.
 */
import { GemmaLabError } from '../errors.js';
import { compareDocids, type RunEntry } from '../eval/ranking.js';
import { throwIfAborted, type RunControl } from '../progress/index.js';
import type { EmbedRole, TextEmbedder } from './scorer.js';

export type Similarity = 'dot' | 'cosine';

export interface DenseOptions extends RunControl {
  /** Results per query (default 1000). */
  readonly k?: number;
  /** Texts per embedder call (default 64). */
  readonly batchSize?: number;
  readonly similarity?: Similarity;
  /** Number of passages, when known, for progress totals. */
  readonly totalPassages?: number;
}

export interface DenseQuery {
  readonly qid: string;
  readonly text: string;
}

export interface DensePassage {
  readonly pid: string;
  readonly text: string;
}

interface Hit {
  readonly docid: string;
  readonly score: number;
}

/** `a` ranks after `b` in trec_eval order (lower score; on a tie, the smaller docid). */
function worse(a: Hit, b: Hit): boolean {
  return a.score < b.score || (a.score === b.score && compareDocids(a.docid, b.docid) < 0);
}

/** The k best hits seen so far: a binary heap with the worst kept hit at the root. */
export class TopK {
  private readonly heap: Hit[] = [];

  constructor(readonly k: number) {
    if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`TopK: k must be a positive integer, got ${k}`);
  }

  push(hit: Hit): void {
    const h = this.heap;
    if (h.length < this.k) {
      h.push(hit);
      for (let i = h.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (!worse(h[i] as Hit, h[parent] as Hit)) break;
        [h[i], h[parent]] = [h[parent] as Hit, h[i] as Hit];
        i = parent;
      }
    } else if (worse(h[0] as Hit, hit)) {
      h[0] = hit;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && worse(h[l] as Hit, h[m] as Hit)) m = l;
        if (r < h.length && worse(h[r] as Hit, h[m] as Hit)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Hit, h[i] as Hit];
        i = m;
      }
    }
  }

  /** Best first, ranks 1..n. */
  ranked(): RunEntry[] {
    return [...this.heap].sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0)).map((e, i) => ({ ...e, rank: i + 1 }));
  }
}

async function embedChecked(embedder: TextEmbedder, texts: readonly string[], role: EmbedRole, dim: number | undefined, similarity: Similarity): Promise<Float32Array[]> {
  const vecs = await embedder.embed(texts, role);
  if (vecs.length !== texts.length) throw new GemmaLabError(`denseRetrieve: embedder returned ${vecs.length} vectors for ${texts.length} ${role} texts`);
  const d = dim ?? (vecs[0] as Float32Array).length;
  return vecs.map((v, i) => {
    if (v.length !== d) throw new GemmaLabError(`denseRetrieve: ${role} vector ${i} has dimension ${v.length}, expected ${d}`);
    if (similarity === 'dot') return v;
    let n = 0;
    for (let j = 0; j < d; j++) n += (v[j] as number) * (v[j] as number);
    if (!(n > 0 && Number.isFinite(n))) throw new GemmaLabError(`denseRetrieve: ${role} vector ${i} has norm ${Math.sqrt(n)}; cosine needs a finite non-zero norm`);
    const inv = 1 / Math.sqrt(n);
    return Float32Array.from(v, (x) => x * inv);
  });
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** Exact top-k over the streamed passages for every query, by dot product or cosine similarity. */
export async function denseRetrieve(
  queries: readonly DenseQuery[],
  passages: AsyncIterable<DensePassage> | Iterable<DensePassage>,
  embedder: TextEmbedder,
  opts: DenseOptions = {},
): Promise<Map<string, RunEntry[]>> {
  const k = opts.k ?? 1000;
  const batchSize = opts.batchSize ?? 64;
  const similarity = opts.similarity ?? 'dot';
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`denseRetrieve: batchSize must be a positive integer, got ${batchSize}`);
  if (new Set(queries.map((q) => q.qid)).size !== queries.length) throw new GemmaLabError('denseRetrieve: duplicate qid in queries');

  const qvecs: Float32Array[] = [];
  for (let s = 0; s < queries.length; s += batchSize) {
    throwIfAborted(opts.signal, 0);
    const texts = queries.slice(s, s + batchSize).map((q) => q.text);
    qvecs.push(...(await embedChecked(embedder, texts, 'query', qvecs[0]?.length, similarity)));
    opts.onProgress?.({ phase: 'embed-queries', done: qvecs.length, total: queries.length });
  }
  const dim = qvecs[0]?.length;
  const tops = queries.map(() => new TopK(k));

  let done = 0;
  const flush = async (batch: DensePassage[]): Promise<void> => {
    throwIfAborted(opts.signal, done);
    const pvecs = await embedChecked(embedder, batch.map((p) => p.text), 'passage', dim, similarity);
    for (let q = 0; q < qvecs.length; q++) {
      const top = tops[q] as TopK;
      const qv = qvecs[q] as Float32Array;
      for (let p = 0; p < batch.length; p++) top.push({ docid: (batch[p] as DensePassage).pid, score: dot(qv, pvecs[p] as Float32Array) });
    }
    done += batch.length;
    opts.onProgress?.({ phase: 'retrieve', done, ...(opts.totalPassages !== undefined ? { total: opts.totalPassages } : {}) });
  };
  let batch: DensePassage[] = [];
  for await (const p of passages) {
    batch.push(p);
    if (batch.length === batchSize) {
      await flush(batch);
      batch = [];
    }
  }
  if (batch.length) await flush(batch);
  return new Map(queries.map((q, i) => [q.qid, (tops[i] as TopK).ranked()]));
}
