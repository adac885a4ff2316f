/**
 * The tslab surface the gemma-lab kernel relies on (deep imports of tslab 1.0.22 dist/, which has
 * no `exports` map and no public API for this). If a tslab upgrade changes any of it, this fails
 * first, pointing at src/kernel/core.ts and server.ts.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { createConverter, isCompleteCode } from 'tslab/dist/converter.js';
import { createExecutor } from 'tslab/dist/executor.js';
import { printQuickInfo } from 'tslab/dist/inspect.js';
import { ZmqServer } from 'tslab/dist/jupyter.js';

const require = createRequire(import.meta.url);

test('pinned versions: tslab 1.0.22 with its TypeScript 5.0.4 fork', () => {
  const pkg = require('../../package.json') as { dependencies: Record<string, string> };
  assert.equal(pkg.dependencies.tslab, '1.0.22', 'tslab must stay pinned exactly');
  assert.equal((require('tslab/package.json') as { version: string }).version, '1.0.22');
  assert.equal((require('@tslab/typescript-for-tslab/package.json') as { version: string }).version, '5.0.4');
});

test('ZmqServer has the methods GemmaLabServer overrides or calls', () => {
  for (const m of ['handleShellMessage', 'handleExecute', 'handleCommInfoRequest', 'publishStatus', 'init', 'close']) {
    assert.equal(typeof (ZmqServer.prototype as unknown as Record<string, unknown>)[m], 'function', m);
  }
  assert.equal(typeof printQuickInfo, 'function');
  assert.deepEqual(isCompleteCode('function f() {'), { completed: false, indent: '  ' });
  assert.equal(isCompleteCode('const a = 1;').completed, true);
});

test('executor: console.log gets last values, console.error gets runtime errors and "%s%d:%d - %s" diagnostics', async () => {
  const conv = createConverter({ isJS: false, isBrowser: false });
  const logs: unknown[] = [];
  const errors: unknown[][] = [];
  const ex = createExecutor(process.cwd(), { node: conv, browser: conv, close: () => conv.close() }, {
    log: (v: unknown) => logs.push(v),
    error: (...a: unknown[]) => errors.push(a),
  });
  try {
    assert.equal(await ex.execute('const x: number = 41;'), true);
    assert.equal(await ex.execute('x + 1'), true);
    assert.deepEqual(logs, [42], 'the last expression value goes to log');
    assert.equal(await ex.execute('const y: string = x;'), false);
    assert.deepEqual(errors.at(-1), ['%s%d:%d - %s', '', 1, 7, "Type 'number' is not assignable to type 'string'."]);
    assert.equal(await ex.execute('throw new SyntaxError("s")'), false);
    assert.ok(errors.at(-1)![0] instanceof SyntaxError);
    assert.equal(await ex.execute('await new Promise((r) => setTimeout(r, 1)); x'), true, 'top-level await');
    assert.deepEqual(logs.at(-1), 41);
    assert.equal(typeof ex.interrupt, 'function');
  } finally {
    ex.close();
  }
});

test("tslab's TypeScript fork has the functions src/kernel/compiler.ts wraps, and tslab's vm wrapper is as assumed", () => {
  const ts = require('@tslab/typescript-for-tslab') as Record<string, unknown>;
  for (const f of ['createWatchCompilerHost', 'createWatchProgram', 'transpileModule', 'createSourceFile', 'createScanner']) assert.equal(typeof ts[f], 'function', f);
  const src = require('node:fs').readFileSync(require.resolve('tslab/dist/converter.js'), 'utf8') as string;
  assert.match(src, /fileName: "custom\.js"/, 'the CommonJS step names its input custom.js');
  assert.match(src, /"__tslab__\.js"/, 'the cell compiles to outDir/__tslab__.js');
  const ex = require('node:fs').readFileSync(require.resolve('tslab/dist/executor.js'), 'utf8') as string;
  assert.match(ex, /"\(async function\(exports, require\) \{ "/);
  assert.match(ex, /"\(function\(exports, require\) \{ "/);
  assert.match(ex, /__tslab__\.require\)/, 'cells take require from globalThis.__tslab__ at run time');
});
