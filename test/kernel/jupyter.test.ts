/**
 * Real Jupyter clients against the gemma-lab kernel over ZMQ: Debian's jupyter_kernel_test suite
 * plus our protocol/interrupt/security checks (test_gemma_lab_kernel.py), and nbconvert executing
 * every notebook in notebooks/. Skips only when Jupyter is absent locally (see tools.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { REPO_ROOT, sharedDir } from '../../src/io/paths.js';
import { stableNotebook } from '../../src/report/compare.js';
import { readNotebook, type Notebook } from '../../src/report/notebook.js';
import { findPython, kernelEnv, missing } from './tools.js';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const python = findPython();
const skip = python ? false : missing('python3 with jupyter_client/nbconvert/jupyter_kernel_test', 'apt-get install jupyter-nbconvert python3-nbclient jupyter-client python3-ipython python3-jupyter-kernel-test');

async function py(args: string[], env: NodeJS.ProcessEnv, timeout: number, cwd = REPO_ROOT): Promise<string> {
  try {
    const { stdout, stderr } = await run(python!, args, { env, cwd, timeout, maxBuffer: 64 << 20 });
    return stdout + stderr;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${python} ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

test('jupyter_kernel_test suite and our protocol, interrupt and security checks pass', { skip, timeout: 400_000 }, async () => {
  const env = { ...(await kernelEnv()), GEMMA_LAB_SHARED_DIR: sharedDir() };
  const out = await py(['-m', 'unittest', '-v', 'test_gemma_lab_kernel'], env, 380_000, HERE);
  assert.match(out, /\nOK( \(skipped=\d+\))?\n/, out);
  // (kernel log lines may sit between a test's name and its "ok"; OK above means none failed)
  for (const name of ['test_kernel_info', 'test_execute_result', 'test_display_data', 'test_error', 'test_completion', 'test_is_complete', 'test_inspect', 'test_interrupt_stops_async_training_loop', 'test_bad_messages_are_dropped']) {
    assert.match(out, new RegExp(`${name} \\(`), `${name} must run:\n${out}`);
    assert.doesNotMatch(out, new RegExp(`${name} \\(.*\\) \\.\\.\\. skipped`), `${name} must not be skipped`);
  }
});

const NOTEBOOKS = (await readdir(join(REPO_ROOT, 'notebooks'))).filter((f) => f.endsWith('.ipynb')).sort();

for (const name of NOTEBOOKS) {
  test(`jupyter nbconvert --execute runs ${name} with the same results as committed`, { skip, timeout: 400_000 }, async () => {
    const env = await kernelEnv();
    const outDir = await mkdtemp(join(tmpdir(), 'gemma-lab-nbconvert-'));
    const input = join(REPO_ROOT, 'notebooks', name);
    await py(['-m', 'nbconvert', '--to', 'notebook', '--execute', input, '--output-dir', outDir, '--ExecutePreprocessor.kernel_name=gemma-lab', '--ExecutePreprocessor.timeout=300'], env, 380_000);
    const executed = JSON.parse(await readFile(join(outDir, name), 'utf8')) as Notebook;
    const code = executed.cells.filter((c) => c.cell_type === 'code');
    assert.deepEqual(code.map((c) => c.execution_count), code.map((_, i) => i + 1), 'execute_input gives nbconvert the counts');
    assert.ok(!code.some((c) => c.outputs?.some((o) => o.output_type === 'error')));
    // Through ZMQ and nbclient the deterministic outputs equal the committed (in-process) ones.
    assert.deepEqual(stableNotebook(executed), stableNotebook(await readNotebook(input)), `${name} differs when run by nbconvert`);
  });
}

test('nbconvert --allow-errors keeps executing after a failing cell (stop_on_error honoured)', { skip, timeout: 120_000 }, async () => {
  const env = await kernelEnv();
  const dir = await mkdtemp(join(tmpdir(), 'gemma-lab-allow-'));
  const cell = (source: string) => ({ cell_type: 'code', source, metadata: {}, outputs: [], execution_count: null });
  const nb = { nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'gemma-lab', display_name: 'gemma-lab', language: 'typescript' } }, cells: [cell('const a = 1;'), cell('throw new RangeError("planned")'), cell('a + 1'), cell('console.log("last")')] };
  await writeFile(join(dir, 'errors.ipynb'), JSON.stringify(nb));
  await py(['-m', 'nbconvert', '--to', 'notebook', '--execute', '--allow-errors', join(dir, 'errors.ipynb'), '--output', 'out.ipynb', '--ExecutePreprocessor.timeout=120'], env, 110_000);
  const out = JSON.parse(await readFile(join(dir, 'out.ipynb'), 'utf8')) as Notebook;
  assert.deepEqual(out.cells.map((c) => c.execution_count), [1, 2, 3, 4]);
  const err = out.cells[1]!.outputs![0]!;
  assert.deepEqual(err.output_type === 'error' && [err.ename, err.evalue], ['RangeError', 'planned']);
  assert.deepEqual(out.cells[2]!.outputs!.map((o) => o.output_type === 'execute_result' && [o.data['text/plain']].flat().join('')), ['2']);
  const last = out.cells[3]!.outputs![0]!;
  assert.equal(last.output_type === 'stream' && [last.text].flat().join(''), 'last\n');
});
