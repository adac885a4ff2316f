/**
 * Pretrain a tiny Gemma 2/3-style decoder with causal LM on ../shared/data/corpus (train split), held-out
 * perplexity on heldout/ (per piece and pooled, with a unigram baseline). Ctrl-C saves a checkpoint and
 * exits; --resume continues it exactly. The final HF-layout model (config.json, model.safetensors,
 * tokenizer.json) is OUT/model, loadable by `loadModel`; metrics are in OUT/metrics.json.
 *
 *   npm run pretrain -- [--out DIR] [--config gemma3-tiny|gemma2-tiny|gemma3-small] [--steps 300]
 *     [--seq-len 128] [--batch 16] [--lr 3e-3] [--warmup 30] [--seed 0] [--top-tokens 8000]
 *     [--eval-every 100] [--eval-seqs 24] [--final-eval-seqs N] [--checkpoint-every 25]
 *     [--tokenizer DIR] [--verify size|sha256] [--export DIR [--export-dtype bf16|f16|f32]] [--resume]
 *
 * --resume on a finished run redoes only the final evaluation (and the export, when asked).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pretrainDecoder as pretrain, sharedDataPath, terminalProgress, TrainingInterrupted, type PretrainSettings } from 'gemma-lab';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

// Settings that determine the weights; on --resume, flags not given come from OUT/run.json.
const SETTING_FLAGS = {
  config: ['preset', 'gemma3-tiny'],
  steps: ['steps', '300'],
  'seq-len': ['seqLen', '128'],
  batch: ['batchSize', '16'],
  lr: ['lr', '3e-3'],
  warmup: ['warmupSteps', '30'],
  'min-lr-ratio': ['minLrRatio', '0.1'],
  'weight-decay': ['weightDecay', '0.1'],
  dropout: ['dropout', '0'],
  seed: ['seed', '0'],
  'top-tokens': ['topTokens', '8000'],
} as const satisfies Record<string, readonly [keyof PretrainSettings, string]>;

const { values: a } = parseArgs({
  options: {
    out: { type: 'string', default: join(REPO_ROOT, '.cache', 'pretrain', 'tiny-gemma') },
    corpus: { type: 'string', default: sharedDataPath('corpus') },
    ...(Object.fromEntries(Object.keys(SETTING_FLAGS).map((k) => [k, { type: 'string' }])) as Record<keyof typeof SETTING_FLAGS, { type: 'string' }>),
    'eval-every': { type: 'string', default: '100' },
    'eval-seqs': { type: 'string', default: '24' },
    'final-eval-seqs': { type: 'string' },
    'checkpoint-every': { type: 'string', default: '25' },
    tokenizer: { type: 'string' },
    verify: { type: 'string', default: 'size' },
    export: { type: 'string' },
    'export-dtype': { type: 'string', default: 'bf16' },
    resume: { type: 'boolean', default: false },
  },
  strict: true,
});

const toNumber = (flag: string, v: string | undefined): number => {
  const x = Number(v);
  if (v === undefined || v === '' || !Number.isFinite(x)) {
    console.error(`--${flag}: expected a number, got '${String(v)}'`);
    process.exit(2);
  }
  return x;
};
const num = (k: keyof typeof a): number => toNumber(k, a[k] as string | undefined);
if (!['none', 'size', 'sha256'].includes(a.verify)) {
  console.error(`--verify: expected none, size or sha256, got '${a.verify}'`);
  process.exit(2);
}
const exportDtype = ({ f32: 'F32', f16: 'F16', bf16: 'BF16' } as const)[a['export-dtype'] as 'f32' | 'f16' | 'bf16'];
if (!exportDtype) {
  console.error(`--export-dtype: expected f32, f16 or bf16, got '${a['export-dtype']}'`);
  process.exit(2);
}
const stored = a.resume
  ? await readFile(join(a.out, 'run.json'), 'utf8')
      .then((x) => (JSON.parse(x) as { settings: PretrainSettings }).settings)
      .catch(() => undefined)
  : undefined;
const settings = Object.fromEntries(
  Object.entries(SETTING_FLAGS).map(([flag, [key, dflt]]) => {
    const given = a[flag as keyof typeof SETTING_FLAGS];
    const value = given ?? (stored ? String(stored[key]) : dflt);
    return [key, key === 'preset' ? value : toNumber(flag, value)];
  }),
) as unknown as PretrainSettings;

// Ctrl-C: abort between steps (the trainer saves a checkpoint first); a second Ctrl-C exits at once.
const ac = new AbortController();
process.on('SIGINT', () => {
  if (ac.signal.aborted) process.exit(130);
  console.error('\ninterrupt: saving a checkpoint after the current step (Ctrl-C again to quit now)');
  ac.abort(new Error('SIGINT'));
});

const bar = terminalProgress();
const t0 = performance.now();
try {
  const m = await pretrain({
    outDir: a.out,
    corpusDir: a.corpus,
    settings,
    resume: a.resume,
    evalEvery: num('eval-every'),
    evalSequences: num('eval-seqs'),
    ...(a['final-eval-seqs'] !== undefined ? { finalEvalSequences: num('final-eval-seqs') } : {}),
    checkpointEvery: num('checkpoint-every'),
    ...(a.tokenizer ? { tokenizerDir: a.tokenizer } : {}),
    verify: a.verify as 'none' | 'size' | 'sha256',
    ...(a.export ? { exportTo: { dir: a.export, dtype: exportDtype } } : {}),
    signal: ac.signal,
    onProgress: (e) => bar(e),
    onLog: (l) => {
      if (l.step % 10 === 0 || l.step === 1) console.error(`step ${l.step}  loss ${l.loss.toFixed(4)}  lr ${l.lr.toExponential(2)}  |g| ${l.gradNorm.toFixed(3)}  ${l.ms.toFixed(0)} ms`);
    },
    log: (line) => console.error(line),
  });
  const fmt = (xs: readonly { piece: string; perplexity: number; tokens: number }[]) => xs.map((x) => `${x.piece} ${x.perplexity.toFixed(2)} (${x.tokens} tok)`).join(', ');
  console.log(`model: ${m.model.config}, ${m.model.parameters} parameters (${m.model.embeddingParameters} in the embedding), vocab ${m.model.vocabSize}; engine ${m.engine.backend}${m.engine.native ? ' + native' : ''}`);
  console.log(`trained ${m.steps} steps, ${m.tokensSeen} tokens, ${m.trainTokensPerSecond.toFixed(0)} tokens/s (step time), wall ${((performance.now() - t0) / 1000).toFixed(0)} s this session`);
  console.log(`held-out perplexity: ${fmt(m.final.pieces)}`);
  console.log(`unigram baseline:    ${fmt(m.unigram)}`);
  if (m.exported) console.log(`${m.exported.dtype} copy: ${m.exported.dir}, held-out perplexity ${fmt(m.exported.pieces)}`);
  console.log(`model dir: ${m.modelDir}; metrics: ${join(a.out, 'metrics.json')}`);
} catch (err) {
  if (err instanceof TrainingInterrupted) {
    console.error(`${err.message}\nresume with: npm run pretrain -- --resume --out ${a.out}`);
    process.exit(130);
  }
  throw err;
}
