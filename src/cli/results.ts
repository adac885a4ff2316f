/**
 * `gemma-lab results merge --out DIR FILE...`: combines result stores (one per shard / machine) into
 * DIR/results.jsonl (a key recorded twice with different numbers is an error), then writes and prints
 * the results table (results.csv: mean, std, 95% t interval over seeds; runs.csv: every run).
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mergeRecords } from '../experiments/store.js';
import { tableBundle } from '../report/tables.js';
import { seedTable } from '../workflow/stats.js';
import type { Command } from './command.js';
import { runsTable } from './workflow.js';

const USAGE = `usage: gemma-lab results merge --out DIR RESULTS.jsonl [RESULTS.jsonl ...]
  Merges result stores (e.g. OUT/results.jsonl of each --shard k/N job) into DIR/results.jsonl and writes
  DIR/results.csv (per task and variant: n, mean, std, 95% t interval over seeds) and DIR/runs.csv.`;

const command: Command = {
  summary: 'merge result stores of sharded jobs and print the results table',
  async run(argv) {
    const [sub, ...rest] = argv;
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    } catch (e) {
      console.error(`gemma-lab results: ${(e as Error).message}\n${USAGE}`);
      return 2;
    }
    if (sub === '--help' || sub === '-h' || parsed.values.help) {
      console.log(USAGE);
      return 0;
    }
    if (sub !== 'merge' || !parsed.values.out || parsed.positionals.length === 0) {
      console.error(USAGE);
      return 2;
    }
    const out = parsed.values.out;
    await mkdir(out, { recursive: true });
    const records = await mergeRecords(parsed.positionals, join(out, 'results.jsonl'));
    const summary = seedTable(records, (r) => Object.entries(r.variant).map(([k, v]) => `${k}=${v}`).join(' '));
    await writeFile(join(out, 'results.csv'), summary.toCSV());
    await writeFile(join(out, 'runs.csv'), runsTable(records).toCSV());
    console.log(tableBundle(summary, { limit: 200 })['text/plain']);
    console.log(`\nmerged ${records.length} run(s) from ${parsed.positionals.length} file(s) into ${join(out, 'results.jsonl')}`);
    return 0;
  },
};
export default command;
