import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Resvg } from '@resvg/resvg-js';
import { compile } from 'vega-lite';
import * as plots from '../../src/report/plots.js';
import { renderChart } from '../../src/report/render.js';

/** Fraction of pixels that differ from the white background, from resvg's raw RGBA. */
function inkFraction(svg: string): number {
  const img = new Resvg(svg, { background: 'white', font: { loadSystemFonts: true } }).render();
  const px = img.pixels;
  let ink = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i]! < 240 || px[i + 1]! < 240 || px[i + 2]! < 240) ink++;
  return ink / (px.length / 4);
}

/** Pixels whose colour is clearly not grey: bars, cells and lines, not text or axes. */
function colourFraction(svg: string): number {
  const px = new Resvg(svg, { background: 'white' }).render().pixels;
  let n = 0;
  for (let i = 0; i < px.length; i += 4) if (Math.max(px[i]!, px[i + 1]!, px[i + 2]!) - Math.min(px[i]!, px[i + 1]!, px[i + 2]!) > 60) n++;
  return n / (px.length / 4);
}

const SPECS: Record<string, plots.ChartSpec> = {
  trainingCurve: plots.trainingCurve(
    [1, 2, 3, 4].flatMap((s) => [
      { step: s, value: 1 / s, series: 'train' },
      { step: s, value: 1.2 / s, series: 'dev' },
    ]),
  ),
  confusionMatrix: plots.confusionMatrix([[50, 3], [7, 40]], ['negative', 'positive']),
  ablationBars: plots.ablationBars([
    { variant: 'mean pooling', value: 0.91, group: 'sst2' },
    { variant: 'first token', value: 0.87, group: 'sst2' },
    { variant: 'mean pooling', value: 0.71, group: 'rte' },
  ]),
  barChart: plots.barChart([{ task: 'cola', n: 1043 }, { task: 'rte', n: 277 }], 'task', 'n'),
};

for (const [name, spec] of Object.entries(SPECS)) {
  test(`${name}: Vega-Lite v5 source spec with inlined data that compiles and renders non-blank`, async () => {
    assert.equal(spec.$schema, 'https://vega.github.io/schema/vega-lite/v5.json');
    const json = JSON.stringify(spec);
    assert.doesNotMatch(json, /"url"\s*:/, 'data must be inlined');
    const before = structuredClone(spec);
    compile(spec); // throws on an invalid spec
    const r = await renderChart(spec);
    assert.deepEqual(spec, before, 'rendering must not mutate the emitted spec');
    assert.ok(Buffer.from(r.png.subarray(1, 4)).equals(Buffer.from('PNG')));
    assert.ok(r.width > 50 && r.height > 50, `${r.width}x${r.height}`);
    const ink = inkFraction(r.svg);
    const colour = colourFraction(r.svg);
    assert.ok(ink > 0.02 && ink < 0.9, `ink ${ink}`);
    assert.ok(colour > 0.005, `coloured marks ${colour}`);
  });
}

test('an empty chart has axes but no coloured marks (the pixel checks can fail)', async () => {
  const r = await renderChart(plots.barChart([], 'task', 'n'));
  assert.ok(colourFraction(r.svg) < 0.001);
});

test('confusion matrix rows are gold labels, columns predictions, one datum per cell', () => {
  const spec = plots.confusionMatrix([[5, 1], [2, 7]], ['neg', 'pos']) as unknown as { data: { values: unknown[] } };
  assert.deepEqual(spec.data.values, [
    { gold: 'neg', predicted: 'neg', count: 5 },
    { gold: 'neg', predicted: 'pos', count: 1 },
    { gold: 'pos', predicted: 'neg', count: 2 },
    { gold: 'pos', predicted: 'pos', count: 7 },
  ]);
  assert.throws(() => plots.confusionMatrix([[1, 2]], ['a', 'b']), /must be 2x2/);
});

test('training curve keeps step/value per series and describeChart summarises it', () => {
  const spec = plots.trainingCurve([{ step: 1, value: 0.5 }, { step: 2, value: 0.25 }], { metric: 'loss', title: 'run' });
  assert.deepEqual((spec as unknown as { data: { values: unknown[] } }).data.values, [
    { step: 1, loss: 0.5, series: 'loss' },
    { step: 2, loss: 0.25, series: 'loss' },
  ]);
  assert.equal(plots.describeChart(spec), '<Vega-Lite line chart "run", 2 rows>');
  assert.equal(plots.describeChart(SPECS.confusionMatrix!), '<Vega-Lite rect+text chart, 4 rows>');
});
