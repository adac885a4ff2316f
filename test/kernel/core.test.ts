/**
 * The kernel core in-process (no Jupyter needed): tslab's executor through our magics, message
 * kinds and queue. The same core runs behind ZMQ in test/kernel/jupyter.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NotebookKernel, type ExecuteReply } from '../../src/kernel/core.js';
import type { IopubMessage, OutputSink } from '../../src/kernel/output.js';
import { sharedDir } from '../../src/io/paths.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

interface Captured {
  reply: ExecuteReply;
  messages: IopubMessage[];
  stdout: string;
  stderr: string;
}

function sink(): OutputSink & { messages: IopubMessage[]; out: { stdout: string; stderr: string } } {
  const messages: IopubMessage[] = [];
  const out = { stdout: '', stderr: '' };
  return { messages, out, stream: (name, text) => (out[name] += text), send: (m) => messages.push(m) };
}

let kernel: NotebookKernel;

async function run(code: string, opts: { stop_on_error?: boolean } = {}): Promise<Captured> {
  const s = sink();
  const reply = await kernel.submit({ code, ...opts }, s);
  return { reply, messages: s.messages, ...s.out };
}

const results = (c: Captured) =>
  c.messages.filter((m) => m.type === 'execute_result').map((m) => (m.content as { data: Record<string, unknown> }).data);

before(async () => {
  kernel = new NotebookKernel();
  await kernel.init();
});

after(() => {
  kernel.close();
});

test('execute_input then execute_result with the same count; declarations persist across cells', async () => {
  const a = await run('const base = 40;\nbase + 2');
  assert.equal(a.reply.status, 'ok');
  const [input] = a.messages;
  assert.equal(input?.type, 'execute_input');
  assert.deepEqual(input?.content, { code: 'const base = 40;\nbase + 2', execution_count: a.reply.execution_count });
  assert.deepEqual(results(a), [{ 'text/plain': '42' }]);
  const b = await run('console.log("x", base); base * 2');
  assert.equal(b.reply.execution_count, (a.reply.execution_count ?? 0) + 1);
  assert.equal(b.stdout, 'x 40\n');
  assert.deepEqual(results(b), [{ 'text/plain': '80' }]);
});

test('runtime errors, rejections and type errors become error messages with ename/evalue/traceback', async () => {
  const e = await run('throw new RangeError("bad " + 1)');
  assert.equal(e.reply.status, 'error');
  if (e.reply.status !== 'error') return;
  assert.equal(e.reply.ename, 'RangeError');
  assert.equal(e.reply.evalue, 'bad 1');
  const err = e.messages.find((m) => m.type === 'error');
  assert.deepEqual(err?.content, { ename: e.reply.ename, evalue: e.reply.evalue, traceback: e.reply.traceback });
  assert.ok(e.reply.traceback.some((l) => l.includes('RangeError: bad 1')));
  assert.ok(!e.reply.traceback.some((l) => l.includes('node_modules/tslab')), 'tslab plumbing frames are dropped');
  const r = await run('await Promise.reject(new TypeError("nope"))');
  assert.equal(r.reply.status === 'error' && `${r.reply.ename}: ${r.reply.evalue}`, 'TypeError: nope');
  const t = await run('const n: number = "s";\nconst m: string = 1;');
  assert.equal(t.reply.status, 'error');
  if (t.reply.status !== 'error') return;
  assert.equal(t.reply.ename, 'TSError');
  assert.match(t.reply.evalue, /^1:7 - Type 'string' is not assignable to type 'number'\.\n2:7 - Type 'number' is not assignable to type 'string'\.$/);
});

test('stop_on_error aborts only the requests queued behind the failure', async () => {
  const [a, b, c] = await Promise.all([run('throw new Error("first")'), run('2'), run('3')]);
  assert.deepEqual([a.reply.status, b.reply.status, c.reply.status], ['error', 'aborted', 'aborted']);
  assert.deepEqual(b.messages, [], 'an aborted request runs nothing');
  const later = await run('4');
  assert.equal(later.reply.status, 'ok', 'a request sent after the failure runs');
  const [x, y] = await Promise.all([run('throw new Error("again")', { stop_on_error: false }), run('5')]);
  assert.deepEqual([x.reply.status, y.reply.status], ['error', 'ok']);
  assert.deepEqual(results(y), [{ 'text/plain': '5' }]);
});

test('magics: %%time keeps declarations, %seed reseeds Rng and Math.random, usage errors', async () => {
  const t = await run('%%time\nconst timed = 6 * 7;');
  assert.equal(t.reply.status, 'ok');
  assert.match(t.stdout, /^Wall time: [\d.]+ (ms|s)\n$/);
  assert.deepEqual(results(await run('timed')), [{ 'text/plain': '42' }]);
  const draw = async (seed: number) => {
    const r = await run(`%seed ${seed}\n[$nb.rng.int(1000000), Math.floor(Math.random() * 1e6), tf.randomUniform([3], 0, 1000, 'int32').arraySync()]`);
    assert.equal(r.reply.status, 'ok', JSON.stringify(r.reply));
    return results(r)[0]?.['text/plain'];
  };
  const first = await draw(7);
  assert.deepEqual(await draw(7), first);
  assert.notDeepEqual(await draw(8), first);
  const u = await run('%%nosuch\nx');
  assert.equal(u.reply.status === 'error' && u.reply.ename, 'UsageError');
  const ls = await run('%lsmagic');
  assert.match(ls.stdout, /%load_model NAME SOURCE/);
});

test('rich results: tables, charts and Symbol.for("Jupyter.display")', async () => {
  const [table] = results(await run('aq.table({ task: ["sst2", "rte"], n: [872, 277] })'));
  assert.match(String(table?.['text/html']), /<td[^>]*>sst2<\/td>/);
  assert.equal(table?.['text/plain'], '|task|n|\n|:-|-:|\n|sst2|872|\n|rte|277|');
  const [custom] = results(await run('({ [Symbol.for("Jupyter.display")]() { return { "text/markdown": "**hi**" }; } })'));
  assert.equal(custom?.['text/markdown'], '**hi**');
  const c = await run('await $nb.chart(plots.barChart([{ k: "a", n: 1 }, { k: "b", n: 3 }], "k", "n"))');
  const display = c.messages.find((m) => m.type === 'display_data');
  assert.ok(display && display.type === 'display_data');
  const data = display.content.data;
  assert.deepEqual(Object.keys(data).sort(), ['application/vnd.vegalite.v5+json', 'image/png', 'text/plain']);
  assert.deepEqual((data['application/vnd.vegalite.v5+json'] as { data: unknown }).data, { values: [{ k: 'a', n: 1 }, { k: 'b', n: 3 }] });
  assert.ok(Buffer.from(String(data['image/png']), 'base64').subarray(1, 4).equals(Buffer.from('PNG')));
});

test('progress displays are one display_id, updated in place and throttled', async () => {
  const p = await run('const bar = $nb.progress({ everyMs: 60000 });\nfor (let i = 1; i <= 50; i++) bar({ phase: "train", done: i, total: 50, metrics: { loss: 1 / i } });');
  const shown = p.messages.filter((m) => m.type === 'display_data' || m.type === 'update_display_data');
  assert.deepEqual(shown.map((m) => m.type), ['display_data', 'update_display_data'], 'first event + final event only');
  const ids = new Set(shown.map((m) => (m.content as { transient?: { display_id: string } }).transient?.display_id));
  assert.equal(ids.size, 1);
  const last = shown.at(-1)!.content as { data: Record<string, string> };
  assert.equal(last.data['text/plain'], 'train  [########################]  50/50  100%  loss=0.0200');
  assert.match(last.data['text/html']!, /<progress value="50" max="50"/);
});

test('an interrupt aborts $nb.signal for work a cell started; later cells get a fresh signal', async () => {
  await run('const st = { steps: 0, stopped: "" };');
  const running = run(
    'const loop = (async () => { try { for (;;) { $nb.throwIfAborted(st.steps); await new Promise((r) => setTimeout(r, 5)); st.steps++; } } catch (e) { st.stopped = (e as Error).name; throw e; } })();\nawait loop;',
  );
  await new Promise((r) => setTimeout(r, 300));
  kernel.interrupt();
  const r = await running;
  assert.equal(r.reply.status, 'error');
  const snap = async () => results(await run('await new Promise((r) => setTimeout(r, 50)); [st.steps, st.stopped]'))[0]?.['text/plain'];
  const a = await snap();
  const b = await snap();
  assert.equal(a, b, 'no step ran after the interrupt');
  assert.match(String(a), /'AbortedError'/);
  assert.deepEqual(results(await run('$nb.signal.aborted')), [{ 'text/plain': 'false' }]);
});

test('%load_model loads a checkpoint with its typed API, or names the bad path', { skip: !existsSync(join(sharedDir(), 'fixtures', 'gemma2-tiny')) && 'no ../shared fixtures' }, async () => {
  const fixture = join(sharedDir(), 'fixtures', 'gemma2-tiny');
  const ok = await run(`%load_model tiny ${fixture}\ntiny.config.modelType`);
  assert.equal(ok.reply.status, 'ok', JSON.stringify(ok.reply));
  assert.deepEqual(results(ok), [{ 'text/plain': "'gemma2'" }]);
  const bad = await run('%load_model nothing /nonexistent/ckpt');
  assert.equal(bad.reply.status === 'error' && bad.reply.ename, 'CheckpointError');
  assert.match(bad.reply.status === 'error' ? bad.reply.evalue : '', /\/nonexistent\/ckpt/);
});

test('%%glue and %%ablate fine-tune fresh encoders per task/variant and show results', { skip: !existsSync(join(sharedDir(), 'fixtures', 'gemma2-tiny')) && 'no ../shared fixtures' }, async () => {
  const fixture = join(sharedDir(), 'fixtures', 'gemma2-tiny');
  const setup = await run(
    [
      'const gl = await $nb.lib();',
      'const utf8 = new TextEncoder();',
      'const tok: lib.ExampleTokenizer = { padId: 0, encode: (texts) => [2, ...texts.flatMap((t) => Array.from(utf8.encode(t), (b) => 3 + (b % 253)))] };',
      `const fresh = async (pooling: 'mean' | 'first', spec: lib.GlueTaskSpec) => gl.toEncoder(await gl.loadGemmaModel(${JSON.stringify(fixture)}), { attention: 'bidirectional_global', pooling: pooling, head: spec.kind === 'regression' ? { kind: 'regression' } : { kind: 'classification', numClasses: spec.labelNames!.length }, seed: 1 });`,
    ].join('\n'),
  );
  assert.equal(setup.reply.status, 'ok', JSON.stringify(setup.reply));
  const g = await run('%%glue res sst2,stsb steps=2 trainLimit=16 devLimit=8 maxLength=12 batch=8 lr=0.001\n{ encoder: (_task, spec) => fresh("mean", spec), tokenizer: tok }');
  assert.equal(g.reply.status, 'ok', JSON.stringify(g.reply));
  const shown = g.messages.filter((m) => m.type === 'display_data').map((m) => (m.content as { data: Record<string, string> }).data);
  const table = shown.find((d) => d['text/plain']?.startsWith('|task|'));
  assert.ok(table, 'a results table is displayed');
  assert.match(table['text/plain']!, /\|sst2\|0\.\d{4}\|0\.\d{4}\|2\|8\|/, 'sst2: accuracy, score, steps, dev examples');
  assert.match(table['text/plain']!, /\|stsb\|/);
  assert.ok(shown.some((d) => d['text/plain']?.includes('train')), 'progress displays');
  const [n] = results(await run('[res.runs.length, res.runs[0]!.result.steps, res.runs[1]!.task]'));
  assert.equal(n?.['text/plain'], "[ 2, 2, 'stsb' ]");

  const a = await run('%%ablate abl sst2 steps=2 trainLimit=16 devLimit=8 maxLength=12 batch=8\n{\n  variants: { mean: (_t, spec) => fresh("mean", spec), first: (_t, spec) => fresh("first", spec) },\n  tokenizer: tok,\n}');
  assert.equal(a.reply.status, 'ok', JSON.stringify(a.reply));
  const chart = a.messages.find((m) => m.type === 'display_data' && 'application/vnd.vegalite.v5+json' in (m.content as { data: object }).data);
  assert.ok(chart, 'an ablation chart is displayed');
  const values = ((chart!.content as { data: Record<string, { data: { values: { variant: string }[] } }> }).data['application/vnd.vegalite.v5+json']!).data.values;
  assert.deepEqual(values.map((v) => v.variant), ['mean', 'first']);
  const bad = await run('%%glue r2 sst2 epoch=3\n{}');
  assert.equal(bad.reply.status === 'error' && bad.reply.ename, 'UsageError');
  assert.match(bad.reply.status === 'error' ? bad.reply.evalue : '', /'epoch=3' is not one of steps=N, epochs=N/);
  const both = await run('%%glue r2 sst2 steps=2 epochs=3\n{}');
  assert.match(both.reply.status === 'error' ? both.reply.evalue : '', /give steps or epochs, not both/);
  const lr = await run('%%glue r2 sst2 lr=0\n{}');
  assert.match(lr.reply.status === 'error' ? lr.reply.evalue : '', /lr must be > 0/);
});

test('silent requests show nothing and keep the count; late async output reaches the cell that started it', async () => {
  const before = kernel.executionCount;
  const s = sink();
  const reply = await kernel.submit({ code: 'const quiet = 1;\nquiet + 1', silent: true }, s);
  assert.deepEqual([reply.status, s.messages], ['ok', []]);
  assert.equal(kernel.executionCount, before);
  const a = sink();
  await kernel.submit({ code: 'setTimeout(() => console.log("late from A"), 150);' }, a);
  const b = await run('await new Promise((r) => setTimeout(r, 400));\n"b"');
  assert.equal(a.out.stdout, 'late from A\n');
  assert.equal(b.stdout, '');
});

test('tracebacks name the cell and its own line; shorthand properties see earlier cells; %time keeps Out', async () => {
  await run('function thrower() {\n  const k = 2;\n\n  throw new RangeError(`k=${k}`);\n}');
  const e = await run('const pad = 0;\nthrower()');
  assert.equal(e.reply.status, 'error');
  if (e.reply.status !== 'error') return;
  const n = e.reply.execution_count;
  assert.equal(e.reply.traceback[0], 'RangeError: k=2');
  assert.ok(e.reply.traceback.includes(`    at thrower (In [${n - 1}]:4:9)`), e.reply.traceback.join('\n'));
  assert.ok(e.reply.traceback.includes(`    at In [${n}]:2:1`), e.reply.traceback.join('\n'));
  assert.ok(!e.reply.traceback.some((l) => /evalmachine|AsyncLocalStorage|node:|src\/kernel/.test(l)), e.reply.traceback.join('\n'));
  await run('const shorty = 5;');
  assert.deepEqual(results(await run('({ shorty })')), [{ 'text/plain': '{ shorty: 5 }' }]);
  const t = await run('%time 20 + 22');
  assert.match(t.stdout, /^Wall time: [\d.]+ (ms|s)\n$/);
  assert.deepEqual(results(t), [{ 'text/plain': '42' }]);
  assert.deepEqual(results(await run('%time const timed = 1')), []);
});

test('is_complete: an unterminated template literal or block comment is incomplete', () => {
  assert.equal(kernel.isComplete('const s = `abc').status, 'incomplete');
  assert.equal(kernel.isComplete('const s = `a ${x} b').status, 'incomplete');
  assert.equal(kernel.isComplete('/* note').status, 'incomplete');
  assert.equal(kernel.isComplete('const s = `a ${x} b`;').status, 'complete');
});
