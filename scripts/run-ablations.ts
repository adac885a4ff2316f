/**
 * Runs the small-scale paper findings (src/experiments/findings.ts) and appends every finished run to
 * data/results/*.jsonl. Finished runs are skipped, so rerunning continues an interrupted sweep; Ctrl-C
 * stops between training steps (the current run is not recorded). Seeds go outermost across all the
 * findings asked for, so a partial sweep already has paired runs for every variant.
 *
 *   node --import tsx scripts/run-ablations.ts [--findings attention,pooling,dropout,init,seq2seq]
 *        [--model DIR] [--seq2seq-model DIR] [--seeds 0,1,2] [--tasks rte,cb] [--dry-run]
 *
 * Findings v2 (`attention_v2,pooling_v2,dropout_v2,init_v2,seq2seq_v2`) search a learning rate per variant on
 * validation rows first, then run the other seeds at the chosen rate; --model defaults to
 * data/models/small-gemma-pretrained for them.
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
import { initEngine, rankFindingRun, terminalProgress } from 'gemma-lab';
import { FINDINGS, FINDINGS_V2, findingSpecs, glueEncoderRun, modelIdentity, readRecords, recordedRuns, runAblation, superglueArmRun, superglueSeq2SeqRun } from 'gemma-lab/experiments';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

const { values: a } = parseArgs({
  options: {
    findings: { type: 'string', default: 'attention,pooling,dropout,init' },
    model: { type: 'string' },
    'seq2seq-model': { type: 'string', default: join(REPO_ROOT, '.cache', 'experiments', 'gemma2-tiny', 'model') },
    seeds: { type: 'string' },
    tasks: { type: 'string' },
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
const only = a.tasks?.split(',').filter(Boolean);
const unknown = only?.filter((t) => !ids.some((id) => ALL[id]!.tasks.includes(t)));
if (unknown?.length) {
  console.error(`--tasks: ${unknown.join(', ')} is in none of ${ids.join(', ')}`);
  process.exit(2);
}
// --tasks narrows each finding to those tasks (one task at a time finishes its whole protocol sooner).
const findings = ids.map((id) => ALL[id]!).map((f) => (only ? { ...f, tasks: f.tasks.filter((t) => only.includes(t)) } : f)).filter((f) => f.tasks.length > 0);
const seeds = a.seeds ? a.seeds.split(',').map(Number) : [...new Set(findings.flatMap((f) => f.seeds))];
const RUNS = { 'glue-encoder': glueEncoderRun, 'superglue-seq2seq': superglueSeq2SeqRun, 'superglue-arms': superglueArmRun, rank: rankFindingRun } as const;
// v1 findings default to the tiny Gemma 2 of `npm run pretrain` (README above); v2 findings to the committed
// stronger Gemma 3, which every arm of (e) v2 adapts too.
const V1_MODEL = join(REPO_ROOT, '.cache', 'experiments', 'gemma2-tiny', 'model');
const V2_MODEL = join(REPO_ROOT, 'data', 'models', 'small-gemma-pretrained');
const modelDir = (f: (typeof findings)[number]) => (f.kind === 'superglue-seq2seq' ? a['seq2seq-model'] : (a.model ?? (f.protocol ? V2_MODEL : V1_MODEL)));
const models = new Map<string, { model: string; modelSha: string }>();
for (const dir of new Set(findings.map(modelDir))) {
  const id = await modelIdentity(resolve(dir));
  models.set(dir, id);
  console.error(`checkpoint ${id.model} (weights sha256 ${id.modelSha}…) for ${findings.filter((f) => modelDir(f) === dir).map((f) => f.id).join(', ')}`);
}

if (a['dry-run']) {
  for (const f of findings) {
    const file = join(REPO_ROOT, f.file);
    const specs = findingSpecs(f, models.get(modelDir(f))!, existsSync(file) ? readRecords(file) : []);
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
    for (const spec of findingSpecs(f, models.get(modelDir(f))!, existsSync(file) ? readRecords(file) : [])) {
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
