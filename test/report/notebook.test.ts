import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { injectParameters, notebookToHtml, parseParam, readNotebook, type Cell, type Notebook } from '../../src/report/notebook.js';
import { runNotebook } from '../../src/kernel/run-notebook.js';
import { stableNotebook } from '../../src/report/compare.js';

const code = (source: string, tags?: string[]): Cell => ({ cell_type: 'code', source, metadata: tags ? { tags } : {}, outputs: [], execution_count: null });
const nbOf = (cells: Cell[]): Notebook => ({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells });

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gemma-lab-nb-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('-p values: JSON scalars when they parse, strings otherwise; names must be identifiers', () => {
  assert.deepEqual(parseParam('lr=0.01'), ['lr', 0.01]);
  assert.deepEqual(parseParam('task=sst2'), ['task', 'sst2']);
  assert.deepEqual(parseParam('quick=true'), ['quick', true]);
  assert.deepEqual(parseParam('note="a=b"'), ['note', 'a=b']);
  assert.deepEqual(parseParam('list=[1,2]'), ['list', '[1,2]']);
  assert.throws(() => parseParam('lr'), /name=value/);
  assert.throws(() => parseParam('1x=2'), /not a valid identifier/);
});

test('papermill convention: injected cell right after the parameters cell, replacing an earlier one', () => {
  const nb = nbOf([code('const a = 1;'), code('const lr = 0.1;', ['parameters']), code('const old = 1;', ['injected-parameters']), code('lr')]);
  const out = injectParameters(nb, { lr: 0.5, task: 'rte' });
  assert.deepEqual(
    out.cells.map((c) => [c.source, c.metadata.tags ?? []]),
    [
      ['const a = 1;', []],
      ['const lr = 0.1;', ['parameters']],
      ['// Parameters injected by `gemma-lab run -p`\nconst lr = 0.5;\nconst task = "rte";', ['injected-parameters']],
      ['lr', []],
    ],
  );
  const top = injectParameters(nbOf([code('x')]), { x: 1 });
  assert.deepEqual(top.cells[0]!.metadata.tags, ['injected-parameters'], 'no parameters cell: injected at the top');
});

test('runNotebook executes with parameters, records run metadata and writes .ipynb + HTML atomically', async () => {
  const input = join(dir, 'params.ipynb');
  await writeFile(
    input,
    JSON.stringify(
      nbOf([
        code('const steps = 2;\nconst label = "default";', ['parameters']),
        code('%seed 5\nconsole.log(`steps=${steps} label=${label}`);\nsteps * 10'),
        { cell_type: 'markdown', source: '## <b>chart</b>', metadata: {} },
        code('await $nb.chart(plots.barChart([{ k: "a", n: steps }], "k", "n"));\naq.table({ k: ["a"], n: [steps] })'),
      ]),
    ),
  );
  const out = join(dir, 'out.ipynb');
  const html = join(dir, 'out.html');
  const res = await runNotebook(input, { params: { steps: 7, label: 'given' }, output: out, html });
  assert.ok(res.ok);
  const nb = JSON.parse(await readFile(out, 'utf8')) as Notebook;
  const cells = nb.cells.filter((c) => c.cell_type === 'code');
  assert.deepEqual(cells.map((c) => c.execution_count), [1, 2, 3, 4]);
  assert.deepEqual(cells[2]!.outputs, [
    { output_type: 'stream', name: 'stdout', text: 'steps=7 label=given\n' },
    { output_type: 'execute_result', data: { 'text/plain': '70' }, metadata: {}, execution_count: 3 },
  ]);
  const [chart, table] = cells[3]!.outputs!;
  assert.equal(chart?.output_type, 'display_data');
  assert.deepEqual(Object.keys(chart!.output_type === 'display_data' ? chart.data : {}).sort(), ['application/vnd.vegalite.v5+json', 'image/png', 'text/plain']);
  assert.equal(table?.output_type, 'execute_result');
  const run = (nb.metadata.gemma_lab as { run: Record<string, unknown> }).run;
  assert.deepEqual(run.params, { steps: 7, label: 'given' });
  assert.equal(run.seed, 5);
  assert.equal(run.status, 'ok');
  assert.equal(typeof run.backend, 'string');
  assert.deepEqual(Object.keys(run.versions as object).sort(), ['@tensorflow/tfjs-core', 'arquero', 'gemma-lab', 'node', 'tslab', 'typescript', 'vega', 'vega-lite']);
  assert.ok(!Object.values(run.versions as object).includes('unknown'));
  assert.match(String((run.git as { commit: unknown }).commit), /^[0-9a-f]{40}$/);
  assert.equal((nb.metadata.kernelspec as { name: string }).name, 'gemma-lab');
  const page = await readFile(html, 'utf8');
  assert.match(page, /<img class="chart" alt="&lt;Vega-Lite bar chart, 1 rows&gt;" width="\d+" height="\d+" src="data:image\/png;base64,iVBOR/);
  assert.match(page, /steps=7 label=given/);
  assert.match(page, /<h2><b>chart<\/b><\/h2>/, 'markdown is rendered (raw HTML in it passes, as in Jupyter)');
  assert.ok(!page.includes('vegalite'), 'the report carries no Vega JSON');
});

test('a failing cell stops the run and the partial notebook is still written', async () => {
  const input = join(dir, 'fail.ipynb');
  await writeFile(
    input,
    JSON.stringify(nbOf([code('const a = 1;'), code('throw new Error("expected", { cause: 1 })', ['raises-exception']), code('a.nope()'), code('const never = 1;')])),
  );
  const out = join(dir, 'fail.out.ipynb');
  const res = await runNotebook(input, { output: out });
  assert.equal(res.ok, false);
  const nb = await readNotebook(out);
  assert.deepEqual(nb.cells.map((c) => c.execution_count), [1, 2, 3, null]);
  assert.equal(nb.cells[1]!.outputs![0]!.output_type, 'error', 'raises-exception cells may fail');
  const err = nb.cells[2]!.outputs![0]!;
  assert.equal(err.output_type === 'error' && err.ename, 'TSError');
  const run = (nb.metadata.gemma_lab as { run: { status: string; exception: unknown } }).run;
  assert.equal(run.status, 'error');
  assert.deepEqual(run.exception, { cell: 2, ename: 'TSError', evalue: "1:3 - Property 'nope' does not exist on type '1'." });
  const all = await runNotebook(input, { allowErrors: true });
  assert.deepEqual(all.notebook.cells.map((c) => c.execution_count), [1, 2, 3, 4], '--allow-errors runs every cell');
});

test('notebookToHtml escapes outputs and shows errors', () => {
  const nb = nbOf([
    { ...code('x'), outputs: [{ output_type: 'stream', name: 'stdout', text: '<script>alert(1)</script>' }, { output_type: 'error', ename: 'E', evalue: 'v', traceback: ['\x1b[31mE: v\x1b[0m'] }] },
  ]);
  const page = notebookToHtml(nb);
  assert.ok(!page.includes('<script>alert'));
  assert.match(page, /<pre class="error">E: v<\/pre>/);
});

test('stableNotebook drops what legitimately changes between runs and keeps the rest', () => {
  const a = nbOf([{ ...code('x'), execution_count: 1, outputs: [{ output_type: 'stream', name: 'stdout', text: 'Wall time: 3.1 ms\n' }, { output_type: 'display_data', data: { 'image/png': 'AAA', 'text/plain': 'p' }, metadata: { t: 1 } }] }]);
  const b = nbOf([{ ...code('x'), execution_count: 1, outputs: [{ output_type: 'stream', name: 'stdout', text: 'Wall time: 9.0 s\n' }, { output_type: 'display_data', data: { 'image/png': 'BBB', 'text/plain': 'p' }, metadata: { t: 2 } }] }]);
  assert.deepEqual(stableNotebook(a), stableNotebook(b));
  const c = structuredClone(b);
  (c.cells[0]!.outputs![1] as { data: Record<string, unknown> }).data['text/plain'] = 'q';
  assert.notDeepEqual(stableNotebook(a), stableNotebook(c));
});

test('markdown cells and text/markdown outputs are rendered in the HTML report, not shown as source', () => {
  const md = '# Title\n\nSome *emphasis*, `code` and a [link](https://example.org).\n\n| task | acc |\n|:-|-:|\n| sst2 | 0.64 |\n\n```sh\nnpm start\n```';
  const nb: Notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: [
      { cell_type: 'markdown', source: md, metadata: {} },
      { cell_type: 'code', source: 'x', metadata: {}, execution_count: 1, outputs: [{ output_type: 'display_data', data: { 'text/markdown': '**bold** < 1', 'text/plain': 'x' }, metadata: {} }] },
    ],
  };
  const page = notebookToHtml(nb);
  assert.match(page, /<section class="md"><h1>Title<\/h1>/);
  assert.match(page, /<em>emphasis<\/em>, <code>code<\/code> and a <a href="https:\/\/example.org">link<\/a>/);
  assert.match(page, /<table>\s*<thead>\s*<tr>\s*<th align="left">task<\/th>\s*<th align="right">acc<\/th>/);
  assert.match(page, /<pre><code class="language-sh">npm start\n<\/code><\/pre>/);
  assert.match(page, /<div class="markdown"><p><strong>bold<\/strong> &lt; 1<\/p>/);
  assert.doesNotMatch(page, /<pre class="markdown">/);
});
