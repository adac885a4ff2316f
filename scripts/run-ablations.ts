/**
 * Runs the small-scale paper findings (src/experiments/findings.ts) and appends every finished run to
 * data/results/*.jsonl. Finished runs are skipped, so rerunning continues an interrupted sweep; Ctrl-C
 * stops between training steps (the current run is not recorded). Seeds go outermost across all the
 * findings asked for, so a partial sweep already has paired runs for every variant.
 *
 *   node --import tsx scripts/run-ablations.ts [--findings attention,pooling,dropout,init,seq2seq]
 *        [--model DIR] [--seq2seq-model DIR] [--seeds 0,1,2] [--dry-run]
 *
 * --model: the pretrained tiny Gemma of the GLUE encoder findings; --seq2seq-model: a pretrained tiny
 * *Gemma 2* (T5Gemma blocks are Gemma 2 blocks) with its tokens/train.bin beside it. Both default to
 *   npm run pretrain -- --config gemma2-tiny --out .cache/experiments/gemma2-tiny --steps 300 --warmup 30
 * (add --tokenizer DIR to reuse a trimmed tokenizer; copying an earlier run's tokens/ skips re-tokenizing).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initEngine, terminalProgress } from 'gemma-lab';
import { FINDINGS, FINDINGS_V2, findingSpecs, glueEncoderRun, modelIdentity, readRecords, recordedRuns, runAblation, superglueSeq2SeqRun } from 'gemma-lab/experiments';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

const { values: a } = parseArgs({
  options: {
    findings: { type: 'string', default: 'attention,pooling,dropout,init' },
    model: { type: 'string', default: join(REPO_ROOT, '.cache', 'experiments', 'gemma2-tiny', 'model') },
    'seq2seq-model': { type: 'string', default: join(REPO_ROOT, '.cache', 'experiments', 'gemma2-tiny', 'model') },
    seeds: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  },
  strict: true,
});

const ALL = { ...FINDINGS, ...FINDINGS_V2 };
const ids = a.findings.split(',').filter(Boolean);
for (const id of ids) {
  if (!ALL[id]) {
    console.error(`--findings: unknown finding '${id}' (known: ${Object.keys(ALL).join(', ')})`);
    process.exit(2);
  }
}
const findings = ids.map((id) => ALL[id]!);
const seeds = a.seeds ? a.seeds.split(',').map(Number) : [...new Set(findings.flatMap((f) => f.seeds))];
const RUNS = { 'glue-encoder': glueEncoderRun, 'superglue-seq2seq': superglueSeq2SeqRun } as const;
const models = new Map<string, { model: string; modelSha: string }>();
for (const kind of new Set(findings.map((f) => f.kind))) {
  const id = await modelIdentity(resolve(kind === 'glue-encoder' ? a.model : a['seq2seq-model']));
  models.set(kind, id);
  console.error(`${kind}: checkpoint ${id.model} (weights sha256 ${id.modelSha}…)`);
}

if (a['dry-run']) {
  for (const f of findings) {
    const file = join(REPO_ROOT, f.file);
    const specs = findingSpecs(f, models.get(f.kind)!, existsSync(file) ? readRecords(file) : []);
    const runs = specs.map((spec) => recordedRuns(spec, file));
    const recorded = runs.reduce((n, r) => n + r.records.length, 0);
    const missing = runs.reduce((n, r) => n + r.missing.length, 0);
    console.log(`${f.id}: ${recorded} recorded, ${missing} to run${f.protocol ? ` (${specs.length - 1} of ${f.variants.length * f.tasks.length} learning rates chosen so far)` : ''}`);
  }
  process.exit(0);
}

const ac = new AbortController();
process.on('SIGINT', () => {
  if (ac.signal.aborted) process.exit(130);
  console.error('\ninterrupt: stopping after the current training step (Ctrl-C again to quit now)');
  ac.abort(new Error('SIGINT'));
});

await initEngine();
const bar = terminalProgress();
const t0 = performance.now();
let ran = 0;
for (const seed of seeds) {
  for (const f of findings) {
    if (!f.seeds.includes(seed) && !a.seeds) continue;
    const file = join(REPO_ROOT, f.file);
    // v2 findings: the learning-rate search first; a (variant, task) gets its other seeds once its search is complete.
    for (const spec of findingSpecs(f, models.get(f.kind)!, existsSync(file) ? readRecords(file) : [])) {
      if (!spec.seeds.includes(seed)) continue;
      const r = await runAblation({ ...spec, seeds: [seed] }, RUNS[f.kind], {
        file,
        signal: ac.signal,
        onProgress: (e) => e.phase.includes('train') && bar(e),
        log: (line) => console.error(line),
      });
      ran += r.ran;
    }
  }
}
console.log(`ran ${ran} new runs in ${((performance.now() - t0) / 1000).toFixed(0)} s; results in ${[...new Set(findings.map((f) => f.file))].join(', ')}`);
