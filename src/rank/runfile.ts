/**
 * Writing run files. TREC format (`qid Q0 docid rank score tag`) is what trec_eval reads; MS MARCO
 * format (`qid\tpid\trank`) is what ms_marco_eval.py reads. Both are written atomically, queries in
 * the run's order and documents by rank, so the file reads back (`loadRun`) into the same run.
 */
import { ConfigError } from '../errors.js';
import type { Run } from '../eval/ranking.js';
import { writeFileAtomic } from '../io/atomic.js';

/** One line per document. Scores print in shortest round-trip form, so re-read runs sort identically. */
export function formatTrecRun(run: Run, tag: string): string {
  if (!/^\S+$/.test(tag)) throw new ConfigError(`run tag must be one non-empty word, got '${tag}'`, undefined, 'tag');
  const lines: string[] = [];
  for (const [qid, entries] of run) {
    checkId(qid, 'qid');
    for (const e of byRank(entries)) {
      checkId(e.docid, 'docid');
      if (!Number.isFinite(e.score)) throw new ConfigError(`qid ${qid} docid ${e.docid}: score ${e.score} is not finite`, undefined, 'score');
      lines.push(`${qid} Q0 ${e.docid} ${e.rank} ${e.score} ${tag}\n`);
    }
  }
  return lines.join('');
}

/** MS MARCO ids are integers (ms_marco_eval.py calls int() on them). */
export function formatMsmarcoRun(run: Run): string {
  const lines: string[] = [];
  for (const [qid, entries] of run) {
    checkNumeric(qid, 'qid');
    for (const e of byRank(entries)) {
      checkNumeric(e.docid, 'pid');
      lines.push(`${qid}\t${e.docid}\t${e.rank}\n`);
    }
  }
  return lines.join('');
}

export async function writeTrecRun(path: string, run: Run, tag: string): Promise<void> {
  await writeFileAtomic(path, formatTrecRun(run, tag));
}

export async function writeMsmarcoRun(path: string, run: Run): Promise<void> {
  await writeFileAtomic(path, formatMsmarcoRun(run));
}

function byRank<T extends { readonly rank: number }>(entries: readonly T[]): T[] {
  return [...entries].sort((a, b) => a.rank - b.rank);
}

/** An id with whitespace would shift the columns of every reader. */
function checkId(id: string, what: string): void {
  if (!/^\S+$/.test(id)) throw new ConfigError(`${what} '${id}' is empty or contains whitespace`, undefined, what);
}

function checkNumeric(id: string, what: string): void {
  if (!/^\d+$/.test(id)) throw new ConfigError(`${what} '${id}' is not a non-negative integer`, undefined, what);
}
