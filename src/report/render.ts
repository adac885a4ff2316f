/**
 * Server-side chart rendering: Vega-Lite → Vega (vega-lite compile) → SVG (vega View, renderer
 * "none", no canvas needed) → PNG (@resvg/resvg-js, prebuilt, no install script). `canvas` is not
 * used: it needs a native build with cairo/pango (docs/reliability.md, "Charts").
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { ChartSpec } from './plots.js';

export interface RenderedChart {
  readonly svg: string;
  readonly png: Uint8Array;
  /** CSS pixel size of the chart (the PNG has `scale` times as many pixels). */
  readonly width: number;
  readonly height: number;
}

/** Compiles a Vega-Lite spec and renders it to SVG and PNG (`scale`× resolution, white background). */
export async function renderChart(spec: ChartSpec, scale = 2): Promise<RenderedChart> {
  // vega tags data rows in place (Symbol(vega_id)); render a copy so the emitted spec stays clean.
  const compiled = compile(structuredClone(spec) as Parameters<typeof compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    view.background('white');
    const svg = await view.toSVG();
    const png = new Resvg(svg, {
      fitTo: { mode: 'zoom', value: scale },
      background: 'white',
      font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
    })
      .render()
      .asPng();
    const { width, height } = svgSize(svg);
    return { svg, png: new Uint8Array(png), width, height };
  } finally {
    view.finalize();
  }
}

function svgSize(svg: string): { width: number; height: number } {
  const m = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
  if (!m) throw new Error('vega produced an SVG without width/height');
  return { width: Math.round(Number(m[1])), height: Math.round(Number(m[2])) };
}
