import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataFileError } from '../../src/errors.js';
import { sharedDataPath } from '../../src/io/paths.js';
import {
  loadBgeJsonl,
  loadCollection,
  loadQrels,
  loadQueries,
  loadRun,
  loadTrecDlJsonl,
  MSMARCO_SIZES,
  readLines,
  repairMojibake,
  streamCollection,
  streamTop1000,
  streamTriples,
} from '../../src/tasks/msmarco.js';

const M = (...p: string[]): string => sharedDataPath('msmarco', ...p);

function gradeCounts(qrels: Map<string, Map<string, number>>): number[] {
  const c = [0, 0, 0, 0];
  for (const j of qrels.values()) for (const g of j.values()) c[g] = (c[g] as number) + 1;
  return c;
}

const judgments = (q: Map<string, Map<string, number>>): number => [...q.values()].reduce((s, j) => s + j.size, 0);
const entries = (r: Map<string, unknown[]>): number => [...r.values()].reduce((s, l) => s + l.length, 0);

/** A TREC DL year's qrels and topics (`NAME.txt` in `dir`), each row count checked against MSMARCO_SIZES[NAME]. */
async function loadDl(dir: string, qrels: keyof typeof MSMARCO_SIZES, topics: keyof typeof MSMARCO_SIZES) {
  return {
    q: await loadQrels(M(dir, `${qrels}.txt`), { expectedRows: MSMARCO_SIZES[qrels] }),
    topics: await loadQueries(M(dir, `${topics}.txt`), { expectedRows: MSMARCO_SIZES[topics] }),
  };
}

describe('MS MARCO / TREC DL loaders on the real files (row counts from SOURCES.md)', () => {
  it('dev-small qrels (Anserini, space-separated): 7,437 lines, 6,980 queries, 6,590/331/51/8 with 1/2/3/4 relevant', async () => {
    const q = await loadQrels(M('dev-small', 'qrels.msmarco-passage.dev-subset.txt'), { expectedRows: MSMARCO_SIZES['qrels.dev.small'] });
    assert.equal(judgments(q), 7437);
    assert.equal(q.size, 6980);
    const perQuery = [0, 0, 0, 0, 0];
    for (const j of q.values()) perQuery[j.size] = (perQuery[j.size] as number) + 1;
    assert.deepEqual(perQuery.slice(1), [6590, 331, 51, 8]);
  });

  it('dev-small topics: 6,980 queries, qid 2 keeps its leading space', async () => {
    const q = await loadQueries(M('dev-small', 'topics.msmarco-passage.dev-subset.txt'), { expectedRows: MSMARCO_SIZES['queries.dev.small'] });
    assert.equal(q.size, 6980);
    assert.equal(q.get('2'), ' Androgen receptor define');
    assert.equal(q.get('1048585'), "what is paula deen's brother");
  });

  it('ans-small: 105 queries, 114 tab-separated qrels lines equal to the dev-subset qrels, 105,000 run lines', async () => {
    const queries = await loadQueries(M('ans-small', 'queries.dev.small.tsv'));
    assert.equal(queries.size, 105);
    const qrels = await loadQrels(M('ans-small', 'qrels.dev.small.tsv'));
    assert.equal(judgments(qrels), 114);
    assert.deepEqual([...qrels.keys()].sort(), [...queries.keys()].sort());
    const dev = await loadQrels(M('dev-small', 'qrels.msmarco-passage.dev-subset.txt'));
    for (const [qid, j] of qrels) for (const pid of j.keys()) assert.equal(dev.get(qid)?.get(pid), 1);
    const run = await loadRun(M('ans-small', 'run.dev.small.tsv'));
    assert.equal(run.size, 105);
    assert.equal(entries(run), 105000);
    const first = run.get('188714')?.[0];
    assert.deepEqual(first, { docid: '2133570', rank: 1, score: -1 });
  });

  it('DL19: 9,260 graded qrels (Q0) over 43 queries, 5,158/1,601/1,804/697; 43 topics; 4,300-line TREC run', async () => {
    const { q, topics } = await loadDl('trec-dl-2019', 'qrels.dl19-passage', 'topics.dl19-passage');
    assert.deepEqual([judgments(q), q.size, gradeCounts(q)], [9260, 43, [5158, 1601, 1804, 697]], 'judgments, queries, grade counts 0..3');
    assert.equal(topics.size, 43);
    assert.deepEqual([...topics.keys()].sort(), [...q.keys()].sort());
    const run = await loadRun(M('trec-dl-2019', 'trec_results_dl19_top100.txt'));
    assert.equal(run.size, 43);
    assert.equal(entries(run), 4300);
    assert.deepEqual(run.get('264014')?.[0], { docid: '5611210', rank: 1, score: 15.780599594116211 });
  });

  it('DL20: 11,386 qrels (column 2 is 0) over 54 queries, 7,780/1,940/1,020/646; 200 CRLF topics; 5,400-line run', async () => {
    const { q, topics } = await loadDl('trec-dl-2020', 'qrels.dl20-passage', 'topics.dl20');
    assert.deepEqual([judgments(q), q.size, gradeCounts(q)], [11386, 54, [7780, 1940, 1020, 646]], 'judgments, queries, grade counts 0..3');
    assert.equal(topics.size, 200);
    assert.equal(topics.get('1030303'), 'who is aziz hashim');
    for (const qid of q.keys()) assert.ok(topics.has(qid), qid);
    const run = await loadRun(M('trec-dl-2020', 'trec_results_dl20_top100.txt'));
    assert.equal(entries(run), 5400);
  });

  it('TREC DL jsonl: 43 and 54 records x 100 hits with text (DL19 has no final newline), same run as the TREC files', async () => {
    for (const [dir, file, runFile, n] of [
      ['trec-dl-2019', 'bm25_dl19_top100.jsonl', 'trec_results_dl19_top100.txt', 43],
      ['trec-dl-2020', 'bm25_dl20_top100.jsonl', 'trec_results_dl20_top100.txt', 54],
    ] as const) {
      const recs = await loadTrecDlJsonl(M(dir, file));
      assert.equal(recs.length, n);
      assert.ok(recs.every((r) => r.hits.length === 100 && r.hits.every((h) => h.content.length > 0)));
      const run = await loadRun(M(dir, runFile));
      for (const r of recs) {
        assert.deepEqual(r.hits.map((h) => [h.docid, h.rank]), run.get(r.qid)?.map((e) => [e.docid, e.rank]));
      }
    }
    const dl19 = await loadTrecDlJsonl(M('trec-dl-2019', 'bm25_dl19_top100.jsonl'));
    assert.equal(dl19[0]?.qid, '264014');
    assert.equal(dl19[0]?.query, 'how long is life cycle of flea');
  });

  it('train triples: 100 rows, mojibake kept raw by default and repaired on request', async () => {
    const raw = [];
    for await (const t of streamTriples(M('train', 'triples.train.small.head100.tsv'))) raw.push(t);
    assert.equal(raw.length, 100);
    assert.equal(raw[0]?.query, 'is a little caffeine ok during pregnancy');
    assert.ok(raw[0]?.positive.startsWith('We don\u00e2\u0080\u0099t know'));
    const fixed = [];
    for await (const t of streamTriples(M('train', 'triples.train.small.head100.tsv'), { repair: true })) fixed.push(t);
    assert.ok(fixed[0]?.positive.startsWith('We don\u2019t know'));
    assert.ok(fixed[0]?.positive.includes('1\u00bd 8-ounce'));
    assert.ok(!fixed.some((t) => /[\u0080-\u009f]/.test(t.positive + t.negative)));
  });

  it('BGE jsonl: 10 queries with 1 positive and 25 negatives and matching scores', async () => {
    const ex = await loadBgeJsonl(M('train', 'bge_example_msmarco.jsonl'));
    assert.equal(ex.length, 10);
    assert.ok(ex.every((e) => e.pos.length === 1 && e.neg.length === 25 && e.negScores?.length === 25 && e.posScores?.length === 1));
    assert.equal(ex[0]?.query, ')what was the immediate impact of the success of the manhattan project?');
    assert.equal(typeof ex[0]?.prompt, 'string');
  });
});

describe('repairMojibake', () => {
  it('undoes UTF-8 read as Latin-1 or cp1252; leaves clean text, ASCII and undecodable text alone', () => {
    assert.equal(repairMojibake('don\u00e2\u0080\u0099t'), 'don\u2019t');
    assert.equal(repairMojibake('don\u00e2\u20ac\u2122t'), 'don\u2019t'); // cp1252 view of the same bytes
    assert.equal(repairMojibake('caf\u00e9'), 'caf\u00e9'); // lone 0xE9 is not UTF-8
    assert.equal(repairMojibake('plain ascii'), 'plain ascii');
    assert.equal(repairMojibake('don\u2019t'), 'don\u2019t'); // already fine: U+2019 maps to 0x92, invalid alone
  });
});

describe('loaders on crafted files: bad lines, encodings, streaming', () => {
  let dir = '';
  const file = async (name: string, content: string | Uint8Array): Promise<string> => {
    const p = join(dir, name);
    await writeFile(p, content);
    return p;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'msmarco-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const rejects = async (p: Promise<unknown>, file: string, line: number, re: RegExp): Promise<void> => {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof DataFileError, String(err));
      assert.equal(err.file, file);
      assert.equal(err.line, line);
      assert.match(err.message, re);
      assert.ok(err.message.startsWith(`${file}:${line}: `));
      return true;
    });
  };

  it('queries: BOM stripped, CRLF accepted, no final newline, trailing spaces kept', async () => {
    const p = await file('q.tsv', '\ufeff1\t hello \r\n2\tworld');
    assert.deepEqual([...(await loadQueries(p))], [['1', ' hello '], ['2', 'world']]);
  });

  it('wrong field count, non-numeric qid and duplicate qid name file:line', async () => {
    const p1 = await file('q1.tsv', '1\ta\n2\n');
    await rejects(loadQueries(p1), p1, 2, /expected 2 tab-separated fields/);
    const p2 = await file('q2.tsv', '1\ta\nx7\tb\n');
    await rejects(loadQueries(p2), p2, 2, /qid 'x7' is not a non-negative integer/);
    const p3 = await file('q3.tsv', '1\ta\n1\tb\n');
    await rejects(loadQueries(p3), p3, 2, /duplicate qid 1/);
    const p4 = await file('q4.tsv', '1\ta\n\n2\tb\n');
    await rejects(loadQueries(p4), p4, 2, /got 1/);
  });

  it('a file one line short of its official size is an error naming both counts', async () => {
    const p = await file('short.tsv', '1\ta\n2\tb\n');
    await assert.rejects(loadQueries(p, { expectedRows: 3 }), (e: unknown) => e instanceof DataFileError && e.file === p && /expected 3 rows, got 2/.test(e.message));
    assert.equal((await loadQueries(p, { expectedRows: 2 })).size, 2);
  });

  it('onBadLine switches to report-and-skip', async () => {
    const p = await file('q5.tsv', '1\ta\n2\n3\tc\tx\n4\td\n');
    const bad: DataFileError[] = [];
    const q = await loadQueries(p, { onBadLine: (e) => bad.push(e) });
    assert.deepEqual([...q.keys()], ['1', '4']);
    assert.deepEqual(bad.map((e) => e.line), [2, 3]);
  });

  it('invalid UTF-8 is an error naming the line and the byte offset (a genuine U+FFFD before it is not blamed)', async () => {
    const p = await file('bad.tsv', Buffer.concat([Buffer.from('1\tok\n2\tab\uFFFDc'), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]));
    await rejects(loadQueries(p), p, 2, /invalid UTF-8 at byte 8 of the line/);
  });

  it('a missing file is a DataFileError', async () => {
    await assert.rejects(loadQueries(join(dir, 'nope.tsv')), (e: unknown) => e instanceof DataFileError && /file not found/.test(e.message));
  });

  it('qrels: tabs or spaces, Q0 or 0, graded; 3 fields, a non-integer grade and a duplicate judgment are errors', async () => {
    const p = await file('qrels.txt', '1 Q0 a 2\n1\t0\tb\t0\n2 0 c 1\n');
    assert.deepEqual([...(await loadQrels(p))].map(([q, j]) => [q, [...j]]), [['1', [['a', 2], ['b', 0]]], ['2', [['c', 1]]]]);
    const p1 = await file('qrels1.txt', '1 0 a\n');
    await rejects(loadQrels(p1), p1, 1, /expected 4 fields/);
    const p2 = await file('qrels2.txt', '1 0 a 1\n1 0 b x\n');
    await rejects(loadQrels(p2), p2, 2, /relevance 'x' is not an integer/);
    const p3 = await file('qrels3.txt', '1 0 a 1\n1 0 a 1\n');
    await rejects(loadQrels(p3), p3, 2, /judges docid a twice/);
  });

  it('runs: both formats detected; a pid ranked twice for a qid names qid and pid (ms_marco_eval quality check)', async () => {
    const ms = await file('run.tsv', '1\t10\t1\n1\t11\t2\n');
    assert.deepEqual(await loadRun(ms), new Map([['1', [{ docid: '10', rank: 1, score: -1 }, { docid: '11', rank: 2, score: -2 }]]]));
    const trec = await file('run.trec', '1 Q0 D-7 1 2.5 tag\n1 Q0 D-8 2 -1e-3 tag\n');
    assert.deepEqual(await loadRun(trec), new Map([['1', [{ docid: 'D-7', rank: 1, score: 2.5 }, { docid: 'D-8', rank: 2, score: -0.001 }]]]));
    const dup = await file('dup.tsv', '1\t10\t1\n1\t11\t2\n1\t10\t3\n');
    await rejects(loadRun(dup), dup, 3, /qid 1 ranks docid 10 more than once/);
    const badScore = await file('bad.trec', '1 Q0 a 1 NaN tag\n');
    await rejects(loadRun(badScore), badScore, 1, /score 'NaN' is not a finite number/);
    const mixed = await file('mixed.tsv', '1\t10\t1\n1 Q0 11 2 3.0 tag\n');
    await rejects(loadRun(mixed), mixed, 2, /expected 3 tab-separated fields/);
  });

  it('jsonl: bad JSON, wrong types and inconsistent qids name the line', async () => {
    const hit = (qid: number, docid: string): string => JSON.stringify({ content: 't', qid, docid, rank: 1, score: 1 });
    const p1 = await file('a.jsonl', `{"query":"q","hits":[${hit(1, 'a')}]}\n{"query":"q","hits":[\n`);
    await rejects(loadTrecDlJsonl(p1), p1, 2, /invalid JSON/);
    const p2 = await file('b.jsonl', `{"query":"q","hits":[${hit(1, 'a')},${hit(2, 'b')}]}`);
    await rejects(loadTrecDlJsonl(p2), p2, 1, /hits\[1\]\.qid 2 differs from 1/);
    const p3 = await file('c.jsonl', `{"query":"q","pos":["p"],"neg":["n"],"neg_scores":[1,2]}\n`);
    await rejects(loadBgeJsonl(p3), p3, 1, /neg_scores must be an array of 1 numbers/);
    const p4 = await file('d.jsonl', `{"query":7,"pos":["p"]}\n`);
    await rejects(loadBgeJsonl(p4), p4, 1, /query must be a string/);
  });

  it('streams lines longer than a read chunk and stops early without reading the rest', async () => {
    const long = 'x'.repeat(1.5 * 1024 * 1024);
    const p = await file('collection.tsv', `0\t${long}\n1\tshort\n2\t${long}é`);
    const got: [string, number][] = [];
    for await (const r of streamCollection(p)) got.push([r.pid, r.text.length]);
    assert.deepEqual(got, [['0', long.length], ['1', 5], ['2', long.length + 1]]);
    const keep = await loadCollection(p, { keep: new Set(['1']) });
    assert.deepEqual([...keep], [['1', 'short']]);
    let n = 0;
    for await (const l of readLines(p)) {
      n = l.line;
      break;
    }
    assert.equal(n, 1);
  });

  it('a multi-byte character straddling the 1 MiB read boundary decodes intact; empty file has no rows', async () => {
    const first = `0\t${'a'.repeat(1024 * 1024 - 3)}\n`; // 1 MiB - 1 bytes
    const p = await file('straddle.tsv', `${first}1\t\u00e9\u00e9 caf\u00e9\n2\tz`);
    const got: [string, string][] = [];
    for await (const r of streamCollection(p)) got.push([r.pid, r.text.slice(0, 8)]);
    assert.deepEqual(got, [['0', 'aaaaaaaa'], ['1', '\u00e9\u00e9 caf\u00e9'], ['2', 'z']]);
    const empty = await file('empty.tsv', '');
    assert.equal((await loadQueries(empty)).size, 0);
  });

  it('an aborted signal stops a stream', async () => {
    const p = await file('c2.tsv', '0\ta\n1\tb\n');
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(loadCollection(p, { signal: ac.signal }), /aborted/);
  });

  it('top1000: qid, pid, query, passage', async () => {
    const p = await file('top1000.dev', '5\t9\tq text\tpassage text\n');
    const rows = [];
    for await (const r of streamTop1000(p)) rows.push(r);
    assert.deepEqual(rows, [{ qid: '5', pid: '9', query: 'q text', passage: 'passage text' }]);
  });
});
