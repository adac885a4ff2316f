/**
 * The committed notebooks are committed executed and not stale: re-executing each with
 * `runNotebook` (what `npm start` / `gemma-lab run` do) gives the same deterministic outputs
 * (code, text, tables, Vega-Lite JSON; not PNGs or timings). Refresh them with
 * `node bin/gemma-lab.js start --in-place`. The HTML report of each run is opened in headless
 * Chromium and its screenshot must show the charts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../src/io/paths.js';
import { stableNotebook } from '../../src/report/compare.js';
import { readNotebook, type Notebook } from '../../src/report/notebook.js';
import { colourfulFraction, decodePng } from './png.js';
import { findChromium, missing } from './tools.js';

/**
 * `gemma-lab run` as users run it: the built kernel, whose cells import the library by package name (dist/).
 * (In this tsx-run test process, a cell's require('gemma-lab') would get a second copy of the library.)
 */
function runBuilt(input: string, out: string, html: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'gemma-lab.js'), 'run', input, '--out', out, '--html', html], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stderr }));
  });
}

const NOTEBOOKS = (await readdir(join(REPO_ROOT, 'notebooks'))).filter((f) => f.endsWith('.ipynb')).sort();
const chromium = findChromium();

function screenshot(html: string, png: string): Uint8Array {
  const profile = spawnSync('mktemp', ['-d'], { encoding: 'utf8' }).stdout.trim();
  const r = spawnSync(
    chromium!,
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--hide-scrollbars', '--window-size=1000,4000', `--screenshot=${png}`, `file://${html}`],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(r.status, 0, `chromium failed: ${r.stderr}`);
  return new Uint8Array(spawnSync('cat', [png], { maxBuffer: 64 << 20 }).stdout);
}

test('there are showcase notebooks and they are committed executed', async () => {
  assert.ok(NOTEBOOKS.includes('showcase.ipynb'));
  for (const name of NOTEBOOKS) {
    const nb = await readNotebook(join(REPO_ROOT, 'notebooks', name));
    const code = nb.cells.filter((c) => c.cell_type === 'code');
    assert.deepEqual(code.map((c) => c.execution_count), code.map((_, i) => i + 1), `${name}: not executed (run \`node bin/gemma-lab.js start --in-place\`)`);
    const run = (nb.metadata.gemma_lab as { run?: { status: string } } | undefined)?.run;
    assert.equal(run?.status, 'ok', `${name}: no successful run recorded`);
  }
});

for (const name of NOTEBOOKS) {
  test(`${name}: re-executing gives the committed outputs, and its HTML report shows the charts in Chromium`, { timeout: 300_000 }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'gemma-lab-stale-'));
    const input = join(REPO_ROOT, 'notebooks', name);
    const out = join(dir, name);
    const html = join(dir, name.replace(/\.ipynb$/, '.html'));
    const res = await runBuilt(input, out, html);
    assert.equal(res.code, 0, `${name} failed: ${res.stderr.slice(-2000)}`);
    const fresh = JSON.parse(await readFile(out, 'utf8')) as Notebook;
    assert.deepEqual(stableNotebook(fresh), stableNotebook(await readNotebook(input)), `${name} is stale: refresh with \`node bin/gemma-lab.js start --in-place\``);

    const charts = (await readFile(html, 'utf8')).match(/<img class="chart"/g)?.length ?? 0;
    if (charts === 0) return;
    if (!chromium) return t.skip(missing('chromium', 'apt-get install chromium'));
    const shot = decodePng(screenshot(html, join(dir, 'report.png')));
    const withCharts = colourfulFraction(shot);
    // Control: the same page without its chart images (so the check can fail; progress bars and
    // prompts bring some colour of their own).
    const bare = join(dir, 'bare.html');
    await writeFile(bare, (await readFile(html, 'utf8')).replace(/<img class="chart"[^>]*>/g, ''));
    const without = colourfulFraction(decodePng(screenshot(bare, join(dir, 'bare.png'))));
    t.diagnostic(`${charts} charts; colourful pixels ${(withCharts * 100).toFixed(2)}% with charts, ${(without * 100).toFixed(3)}% without (${shot.width}x${shot.height})`);
    // Each chart image must add clearly visible coloured marks (a small 4-bar chart adds ~5,000
    // pixels; the showcase's charts ~9,000 each) over the same page without them.
    const added = Math.round((withCharts - without) * shot.width * shot.height);
    assert.ok(added > 4_000 * charts, `${charts} charts add only ${added} coloured pixels`);
  });
}
