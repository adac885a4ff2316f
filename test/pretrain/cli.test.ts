import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../src/io/paths.js';
import { buildCorpusTokenizer } from '../../src/pretrain/tokens.js';
import { readTokenizerFiles, saveTrimmedTokenizer } from '../../src/tokenize/trim.js';
import { makeCorpus, SENTENCES } from './synthetic.js';

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs scripts/pretrain.ts; `onStderr` may send signals. */
function run(args: string[], onStderr?: (text: string, kill: (sig: NodeJS.Signals) => void) => void): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'pretrain.ts'), ...args], { cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr, (sig) => p.kill(sig));
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('npm run pretrain: Ctrl-C saves a checkpoint and exits 130; --resume finishes the run', async () => {
  const corpus = makeCorpus();
  const out = join(mkdtempSync(join(tmpdir(), 'pretrain-cli-')), 'run');
  // A small tokenizer (top 40 tokens of the synthetic texts) keeps the model and each step tiny.
  const tokenizer = join(out, '..', 'tokenizer');
  const texts = ['Headline', ...SENTENCES];
  await saveTrimmedTokenizer(tokenizer, (await buildCorpusTokenizer(readTokenizerFiles(), texts, { topTokens: 40 })).trim);
  const common = ['--corpus', corpus, '--out', out, '--tokenizer', tokenizer];
  let sent = false;
  const first = await run([...common, '--steps', '200', '--seq-len', '16', '--batch', '2', '--warmup', '2', '--eval-every', '1000', '--checkpoint-every', '1000'], (text, kill) => {
    if (!sent && /^step 1 /m.test(text)) {
      sent = true;
      kill('SIGINT');
    }
  });
  assert.equal(first.code, 130, first.stderr);
  assert.match(first.stderr, /training interrupted after step \d+; saved .*ckpt-/);
  const ckpts = readdirSync(join(out, 'checkpoints')).filter((n) => n.startsWith('ckpt-'));
  assert.equal(ckpts.length, 1);
  const stoppedAt = Number((ckpts[0] as string).slice(5));
  assert.ok(stoppedAt >= 1 && stoppedAt < 200);
  assert.ok(!existsSync(join(out, 'model')));

  // Settings come back from run.json; only the output folder is needed.
  const second = await run(['--corpus', corpus, '--out', out, '--resume', '--tokenizer', tokenizer, '--final-eval-seqs', '2']);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /trained 200 steps/);
  assert.match(second.stdout, /held-out perplexity: wikipedia [\d.]+ .*pooled/);
  assert.ok(existsSync(join(out, 'model', 'model.safetensors')) && existsSync(join(out, 'model', 'tokenizer.json')));
});
