import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AbortedError } from '../../src/errors.js';
import type { ProgressEvent } from '../../src/progress/index.js';
import { denseRetrieve, TopK, type DensePassage } from '../../src/rank/dense.js';
import type { EmbedRole, TextEmbedder } from '../../src/rank/scorer.js';
import { Rng } from '../../src/rng/index.js';

/** Looks vectors up by text; records each call. */
class TableEmbedder implements TextEmbedder {
  readonly calls: [EmbedRole, number][] = [];
  constructor(private readonly table: ReadonlyMap<string, readonly number[]>) {}
  async embed(texts: readonly string[], role: EmbedRole): Promise<Float32Array[]> {
    this.calls.push([role, texts.length]);
    return texts.map((t) => Float32Array.from(this.table.get(t) ?? assert.fail(`no vector for ${t}`)));
  }
}

const TABLE = new Map<string, number[]>([
  ['q', [1, 0]],
  ['p1', [2, 0]], // dot 2, cos 1
  ['p2', [1, 1]], // dot 1, cos 0.7071
  ['p3', [0, 3]], // dot 0, cos 0
  ['p4', [10, 10]], // dot 10, cos 0.7071
  ['p5', [1, 1]], // exact tie with p2
]);
const PASSAGES: DensePassage[] = ['p1', 'p2', 'p3', 'p4', 'p5'].map((t) => ({ pid: t, text: t }));

describe('denseRetrieve (exact top-k)', () => {
  it('dot product: scores and order by hand; ties by docid descending', async () => {
    const run = await denseRetrieve([{ qid: '1', text: 'q' }], PASSAGES, new TableEmbedder(TABLE), { k: 10 });
    assert.deepEqual(run.get('1'), [
      { docid: 'p4', score: 10, rank: 1 },
      { docid: 'p1', score: 2, rank: 2 },
      { docid: 'p5', score: 1, rank: 3 },
      { docid: 'p2', score: 1, rank: 4 },
      { docid: 'p3', score: 0, rank: 5 },
    ]);
  });

  it('cosine: p1 first, p3 last, k truncates', async () => {
    const run = await denseRetrieve([{ qid: '1', text: 'q' }], PASSAGES, new TableEmbedder(TABLE), { k: 4, similarity: 'cosine' });
    const got = run.get('1') ?? [];
    assert.deepEqual(got.map((e) => e.docid).slice(0, 1), ['p1']);
    assert.equal(got.length, 4);
    assert.ok(Math.abs((got[1]?.score as number) - Math.SQRT1_2) < 1e-7);
    assert.ok(!got.some((e) => e.docid === 'p3'));
    await assert.rejects(
      denseRetrieve([{ qid: '1', text: 'q' }], [{ pid: 'z', text: 'z' }], new TableEmbedder(new Map([...TABLE, ['z', [0, 0]]])), { similarity: 'cosine' }),
      /passage vector 0 has norm 0/,
    );
  });

  it('streams passages in batches from an async iterable, equal to a brute-force sort on random vectors', async () => {
    const rng = new Rng(7);
    const table = new Map<string, number[]>();
    const vec = (): number[] => Array.from({ length: 8 }, () => rng.normal());
    const queries = Array.from({ length: 4 }, (_, i) => ({ qid: `q${i}`, text: `q${i}` }));
    for (const q of queries) table.set(q.text, vec());
    const pids = Array.from({ length: 50 }, (_, i) => `${100 + i}`);
    for (const p of pids) table.set(p, vec());
    async function* stream(): AsyncGenerator<DensePassage> {
      for (const p of pids) yield { pid: p, text: p };
    }
    const emb = new TableEmbedder(table);
    const events: ProgressEvent[] = [];
    const run = await denseRetrieve(queries, stream(), emb, { k: 5, batchSize: 7, totalPassages: 50, onProgress: (e) => events.push(e) });
    assert.deepEqual(emb.calls, [['query', 4], ...Array.from({ length: 7 }, () => ['passage', 7]), ['passage', 1]]);
    assert.deepEqual(events.at(-1), { phase: 'retrieve', done: 50, total: 50 });
    for (const q of queries) {
      const qv = Float32Array.from(table.get(q.text) as number[]);
      const brute = pids
        .map((p) => {
          const pv = Float32Array.from(table.get(p) as number[]);
          return { p, s: qv.reduce((acc, x, i) => acc + x * (pv[i] as number), 0) };
        })
        .sort((a, b) => b.s - a.s)
        .slice(0, 5);
      assert.deepEqual(run.get(q.qid)?.map((e) => e.docid), brute.map((b) => b.p));
    }
  });

  it('aborts between passage batches', async () => {
    const ac = new AbortController();
    const emb = new TableEmbedder(TABLE);
    await assert.rejects(
      denseRetrieve([{ qid: '1', text: 'q' }], PASSAGES, emb, {
        batchSize: 2,
        signal: ac.signal,
        onProgress: (e) => {
          if (e.phase === 'retrieve') ac.abort();
        },
      }),
      (e: unknown) => e instanceof AbortedError && e.completed === 2,
    );
    assert.deepEqual(emb.calls, [['query', 1], ['passage', 2]]);
  });

  it('rejects vectors of inconsistent dimension', async () => {
    await assert.rejects(
      denseRetrieve([{ qid: '1', text: 'q' }], [{ pid: 'x', text: 'x' }], new TableEmbedder(new Map([...TABLE, ['x', [1, 2, 3]]]))),
      /passage vector 0 has dimension 3, expected 2/,
    );
  });
});

describe('TopK', () => {
  it('keeps the k best of a shuffled stream, in trec_eval order', () => {
    const rng = new Rng(3);
    const hits = Array.from({ length: 200 }, (_, i) => ({ docid: `d${i}`, score: Math.floor(rng.normal() * 3) }));
    const top = new TopK(10);
    for (const h of hits) top.push(h);
    const want = [...hits].sort((a, b) => b.score - a.score || (a.docid < b.docid ? 1 : a.docid > b.docid ? -1 : 0)).slice(0, 10);
    assert.deepEqual(top.ranked().map((e) => [e.docid, e.score]), want.map((e) => [e.docid, e.score]));
    assert.throws(() => new TopK(0), RangeError);
  });
});
